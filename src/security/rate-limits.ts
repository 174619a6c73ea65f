// Request rate limits (checklist I1) on shared counters (I8). A limit is a named rule
// (requests per window) applied to a subject: an IP address, a client id, an account.
// Several rules can be checked at once; the most restrictive one decides and is the one
// the RateLimit headers describe.
import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { AppError } from '../errors.js';
import type { Counters } from './counters.js';

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

export class RateLimits {
  constructor(private readonly counters: Counters) {}

  /** Whether one more request would be allowed, without counting it. */
  peek(rule: LimitRule, subject: string): Promise<LimitDecision> {
    return peekLimit(this.counters, rule, subject);
  }

  /** Counts a request that was let through after a peek. */
  async charge(rule: LimitRule, subject: string): Promise<void> {
    await this.counters.hit([{ key: counterKey(rule.name, subject), windowSeconds: rule.windowSeconds }]);
  }

  /** Counts one request against every rule and returns the deciding result. */
  async take(checks: readonly { rule: LimitRule; subject: string }[]): Promise<LimitDecision> {
    const counts = await this.counters.hit(checks.map(({ rule, subject }) => ({ key: counterKey(rule.name, subject), windowSeconds: rule.windowSeconds })));
    let deciding: LimitDecision | undefined;
    checks.forEach(({ rule }, index) => {
      const count = counts[index]!;
      const decision: LimitDecision = {
        allowed: count.hits <= rule.max,
        rule,
        remaining: Math.max(0, rule.max - count.hits),
        resetSeconds: Math.max(1, Math.ceil(count.resetMs / 1000)),
      };
      if (!deciding || moreRestrictive(decision, deciding)) deciding = decision;
    });
    if (!deciding) throw new Error('no rate limit rule given');
    return deciding;
  }
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
