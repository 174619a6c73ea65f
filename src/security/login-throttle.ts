// Brute-force protection for sign-in (checklist F5, F6). Attempts are counted per account
// and per client network on the shared counters, so every instance sees the same totals.
//
// - Per account: the subject is the account (`user:<id>`) when the name given belongs to
//   one, so its email and its username share one count; otherwise the name as typed,
//   folded (`name:<name>`), so names without an account lock just the same and a lock says
//   nothing about which accounts exist. After `threshold` failures within
//   `failureWindowSeconds` the subject is locked for `lockSeconds`; each failure once a lock
//   has passed locks it again for twice as long, up to `maxLockSeconds`. Never permanent
//   (that would let anyone lock a user out for good). A success clears the count; admins
//   can unlock.
// - Per network (an IPv4 address, or an IPv6 /64): more than `ipFailuresPerHour` failures,
//   over any names (credential stuffing), and it is refused until its hour is over.
//
// Every attempt is counted before the password is hashed, not after it failed, and past
// the threshold an attempt is checked only while it holds the (next) lock: parallel
// attempts cannot all pass the check, so at most one guess is made per lock period.
import { isIPv6 } from 'node:net';
import type { Counters } from './counters.js';
import { counterKey } from './rate-limits.js';

export interface LoginThrottleOptions {
  threshold: number;
  lockSeconds: number;
  maxLockSeconds: number;
  failureWindowSeconds: number;
  ipFailuresPerHour: number;
}

export type ThrottleVerdict =
  | { refused: false; attempt: number }
  | { refused: true; reason: 'account_locked' | 'ip_blocked'; retryAfterSeconds: number };

/** The counter subject of a sign-in: the account when there is one, else the folded name. */
export function throttleSubject(login: string, account?: { id: string }): string {
  return account ? `user:${account.id}` : `name:${login.trim().normalize('NFKC').toLowerCase()}`;
}

/** The client's network for counting: an IPv6 client controls its whole /64. */
export function networkOf(ip: string): string {
  const address = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => group.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

const keys = (subject: string) => ({ failures: counterKey('login:failures', subject), lock: counterKey('login:lock', subject) });
const ipKey = (ip: string) => counterKey('login:ip-failures', networkOf(ip));

export class LoginThrottle {
  constructor(
    private readonly counters: Counters,
    private readonly options: LoginThrottleOptions,
  ) {}

  /**
   * Before the password is checked: refuses a locked subject or a blocked network, and
   * otherwise counts this attempt. Up to the threshold attempts go ahead; past it (a lock
   * has just run out) an attempt goes ahead only if it is the one that takes the next,
   * longer lock, which a success lifts again.
   */
  async begin(subject: string, ip: string): Promise<ThrottleVerdict> {
    const { failures, lock } = keys(subject);
    const current = await this.counters.peek(lock);
    if (current) return { refused: true, reason: 'account_locked', retryAfterSeconds: seconds(current.resetMs) };
    const [attempts, network] = await this.counters.hit([
      { key: failures, windowSeconds: this.options.failureWindowSeconds },
      { key: ipKey(ip), windowSeconds: 3600 },
    ]);
    if (network!.hits > this.options.ipFailuresPerHour) {
      return { refused: true, reason: 'ip_blocked', retryAfterSeconds: seconds(network!.resetMs) };
    }
    if (attempts!.hits > this.options.threshold) {
      const [held] = await this.counters.hit([{ key: lock, windowSeconds: this.#duration(attempts!.hits) }]);
      if (held!.hits > 1) return { refused: true, reason: 'account_locked', retryAfterSeconds: seconds(held!.resetMs) };
    }
    return { refused: false, attempt: attempts!.hits };
  }

  /** The attempt counted by begin() failed; returns the lock it caused, if any. */
  async failed(subject: string, attempt: number): Promise<{ lockedForSeconds?: number }> {
    if (attempt < this.options.threshold) return {};
    return { lockedForSeconds: await this.#lock(subject, attempt) };
  }

  /** A successful sign-in: the subject's failures are forgiven, and the network gets its attempt back. */
  async succeeded(subject: string, ip: string): Promise<void> {
    const { failures, lock } = keys(subject);
    await Promise.all([this.counters.clear([failures, lock]), this.counters.hit([{ key: ipKey(ip), windowSeconds: 3600, amount: -1 }])]);
  }

  /** Admin unlock: clears failures and any lock of each subject. */
  async unlock(subjects: readonly string[]): Promise<void> {
    await this.counters.clear(subjects.flatMap((subject) => Object.values(keys(subject))));
  }

  /** Seconds the longest lock of these subjects still runs, if any is locked. */
  async lockedFor(subjects: readonly string[]): Promise<number | undefined> {
    const locks = await Promise.all(subjects.map((subject) => this.counters.peek(keys(subject).lock)));
    const longest = Math.max(0, ...locks.map((lock) => lock?.resetMs ?? 0));
    return longest > 0 ? seconds(longest) : undefined;
  }

  /** The base lock time, doubled for each failure past the threshold, up to the maximum. */
  #duration(attempt: number): number {
    const beyond = Math.max(0, attempt - this.options.threshold);
    return Math.min(this.options.maxLockSeconds, this.options.lockSeconds * 2 ** Math.min(beyond, 20));
  }

  /**
   * Sets the lock, or leaves one that is already there as it is: a lock taken by an
   * attempt past the threshold (begin) must not be cleared and re-created, or another
   * attempt could take it in between and be checked too.
   */
  async #lock(subject: string, attempt: number): Promise<number> {
    const [lock] = await this.counters.hit([{ key: keys(subject).lock, windowSeconds: this.#duration(attempt) }]);
    return seconds(lock!.resetMs);
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
