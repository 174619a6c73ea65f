// Request rate limits (checklist I1) on shared counters (I8). A limit is a named rule
// (requests per window) applied to a subject: an IP address, a client id, an account.
// Several rules can be checked at once; the most restrictive one decides and is the one
// the RateLimit headers describe.
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { AppError } from '../errors.js';
import type { Count, Counters } from './counters.js';

export interface LimitRule {
  /** Names the rule in keys and logs, e.g. `token:ip`. */
  readonly name: string;
  readonly max: number;
  readonly windowSeconds: number;
}

export interface LimitDecision {
  allowed: boolean;
  rule: LimitRule;
  remaining: number;
  /** Seconds until the deciding window closes (at least 1). */
  resetSeconds: number;
}

/** Counter key of a rule and subject. Subjects are hashed: keys stay short and hold no email addresses. */
export function counterKey(rule: string, subject: string): string {
  return `${rule}:${createHash('sha256').update(subject).digest('base64url').slice(0, 22)}`;
}

/**
 * Local share of a high limit's window. For a limit of 100 or more per window, an instance
 * takes `size` hits from the shared counter at once and hands them out from memory, so a
 * busy client or address costs one counter statement per `size` requests instead of one
 * per request. Never more than the limit is granted over all instances; a lease that is
 * not used up before its window closes only makes the limit stricter (by less than
 * 1/LEASE_DIVISOR per instance). Limits under 100 are counted exactly, one hit at a time.
 */
interface Lease {
  /** Hits of this lease not yet handed out. */
  left: number;
  /** The shared total right after this lease was taken. */
  total: number;
  /** When the counter's window closes (epoch ms); the lease ends with it. */
  expiresAt: number;
  /** The window's budget is spent: refuse until it closes, without asking the store. */
  exhausted: boolean;
}

const LEASE_DIVISOR = 50;
const MAX_LEASE = 100;
/** Leases kept before closed ones are swept (one entry per busy client or address). */
const LEASE_SWEEP_SIZE = 10_000;

export function leaseSize(rule: LimitRule): number {
  return Math.max(1, Math.min(MAX_LEASE, Math.floor(rule.max / LEASE_DIVISOR)));
}

export class RateLimits {
  readonly #leases = new Map<string, Lease>();
  /** One lease request in flight per key: concurrent requests wait for it instead of each taking a lease. */
  readonly #refills = new Map<string, Promise<unknown>>();

  constructor(private readonly counters: Counters) {}

  /**
   * Whether one more request would be allowed, without counting it. For a leased limit,
   * while this instance's lease for the window lives, the answer comes from it: hits left
   * in the lease, or else the shared total seen when it was taken. (A peek is advisory
   * either way: the charge that follows is what counts, and is never over the limit.)
   */
  peek(rule: LimitRule, subject: string): Promise<LimitDecision> {
    if (leaseSize(rule) > 1) {
      const key = counterKey(rule.name, subject);
      const local = this.#fromLease(rule, key, false);
      if (local) return Promise.resolve(local);
      const lease = this.#leases.get(key);
      if (lease && lease.expiresAt > Date.now() && lease.total < rule.max) {
        return Promise.resolve({ allowed: true, rule, remaining: rule.max - lease.total - 1, resetSeconds: Math.max(1, Math.ceil((lease.expiresAt - Date.now()) / 1000)) });
      }
    }
    return peekLimit(this.counters, rule, subject);
  }

  /** Counts a request that was let through after a peek. */
  async charge(rule: LimitRule, subject: string): Promise<void> {
    if (leaseSize(rule) > 1) {
      await this.#takeLeased(rule, counterKey(rule.name, subject));
      return;
    }
    await this.counters.hit([{ key: counterKey(rule.name, subject), windowSeconds: rule.windowSeconds }]);
  }

  /** Counts one request against every rule and returns the deciding result. */
  async take(checks: readonly { rule: LimitRule; subject: string }[]): Promise<LimitDecision> {
    const exact = checks.filter(({ rule }) => leaseSize(rule) === 1);
    const leased = checks.filter(({ rule }) => leaseSize(rule) > 1);
    const [exactCounts, leasedDecisions] = await Promise.all([
      exact.length ? this.counters.hit(exact.map(({ rule, subject }) => ({ key: counterKey(rule.name, subject), windowSeconds: rule.windowSeconds }))) : [],
      Promise.all(leased.map(({ rule, subject }) => this.#takeLeased(rule, counterKey(rule.name, subject)))),
    ]);
    const decisions = [...exact.map(({ rule }, index) => decide(rule, exactCounts[index]!, 1, Date.now()).decision), ...leasedDecisions];
    const deciding = decisions.reduce<LimitDecision | undefined>((worst, decision) => (!worst || moreRestrictive(decision, worst) ? decision : worst), undefined);
    if (!deciding) throw new Error('no rate limit rule given');
    return deciding;
  }

  /** A decision from this instance's lease, when it can give one (taking a hit if `take`). */
  #fromLease(rule: LimitRule, key: string, take: boolean): LimitDecision | undefined {
    const lease = this.#leases.get(key);
    const now = Date.now();
    if (!lease || lease.expiresAt <= now) return undefined;
    const resetSeconds = Math.max(1, Math.ceil((lease.expiresAt - now) / 1000));
    if (lease.exhausted) return { allowed: false, rule, remaining: 0, resetSeconds };
    if (lease.left <= 0) return undefined;
    if (take) lease.left -= 1;
    return { allowed: true, rule, remaining: Math.max(0, rule.max - lease.total + lease.left), resetSeconds };
  }

  async #takeLeased(rule: LimitRule, key: string): Promise<LimitDecision> {
    for (;;) {
      const local = this.#fromLease(rule, key, true);
      if (local) return local;
      const pending = this.#refills.get(key);
      if (pending) {
        await pending;
        continue;
      }
      const size = leaseSize(rule);
      const refill = this.counters.hit([{ key, windowSeconds: rule.windowSeconds, amount: size }]).then(([count]) => {
        const now = Date.now();
        const { decision, lease } = decide(rule, count!, size, now);
        if (this.#leases.size >= LEASE_SWEEP_SIZE) {
          for (const [other, entry] of this.#leases) if (entry.expiresAt <= now) this.#leases.delete(other);
        }
        this.#leases.set(key, lease);
        return decision;
      });
      this.#refills.set(key, refill);
      try {
        return await refill;
      } finally {
        this.#refills.delete(key);
      }
    }
  }
}

/**
 * The decision for a request that just added `amount` hits (one for itself, the rest a
 * lease) and saw `count`, and the lease that is left of them.
 */
function decide(rule: LimitRule, count: Count, amount: number, now: number): { decision: LimitDecision; lease: Lease } {
  const before = count.hits - amount;
  const usable = Math.max(0, Math.min(amount, rule.max - before));
  const resetSeconds = Math.max(1, Math.ceil(count.resetMs / 1000));
  const left = Math.max(0, usable - 1);
  const lease: Lease = { left, total: count.hits, expiresAt: now + count.resetMs, exhausted: usable <= 1 && count.hits >= rule.max };
  if (usable === 0) return { decision: { allowed: false, rule, remaining: 0, resetSeconds }, lease: { ...lease, exhausted: true } };
  return { decision: { allowed: true, rule, remaining: Math.max(0, rule.max - count.hits + left), resetSeconds }, lease };
}

/** What `take` would decide for one more request, without counting it. */
export async function peekLimit(counters: Counters, rule: LimitRule, subject: string): Promise<LimitDecision> {
  const count = await counters.peek(counterKey(rule.name, subject));
  const hits = (count?.hits ?? 0) + 1;
  return { allowed: hits <= rule.max, rule, remaining: Math.max(0, rule.max - hits), resetSeconds: Math.max(1, Math.ceil((count?.resetMs ?? rule.windowSeconds * 1000) / 1000)) };
}

/** The more restrictive of two decisions: a refusal, else the one with less left. */
export function mostRestrictive(a: LimitDecision, b: LimitDecision): LimitDecision {
  return moreRestrictive(a, b) ? a : b;
}

function moreRestrictive(a: LimitDecision, b: LimitDecision): boolean {
  if (a.allowed !== b.allowed) return !a.allowed;
  if (!a.allowed) return a.resetSeconds > b.resetSeconds;
  return a.remaining < b.remaining;
}

/** RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers) and, when refused, Retry-After. */
export function setRateLimitHeaders(ctx: Context, decision: LimitDecision): void {
  ctx.set('RateLimit-Limit', String(decision.rule.max));
  ctx.set('RateLimit-Remaining', String(decision.remaining));
  ctx.set('RateLimit-Reset', String(decision.resetSeconds));
  ctx.set('RateLimit-Policy', `${decision.rule.max};w=${decision.rule.windowSeconds}`);
  if (!decision.allowed) ctx.set('Retry-After', String(decision.resetSeconds));
}

/** The AppError for surfaces that map errors themselves (admin API, pages). */
export function tooManyRequests(decision: LimitDecision): AppError {
  return new AppError('too_many_requests', `Too many requests; try again in ${decision.resetSeconds} seconds.`, [], {
    'Retry-After': String(decision.resetSeconds),
  });
}
