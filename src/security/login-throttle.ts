// Brute-force protection for sign-in (checklist F5, F6). Failures are counted per
// account name and per client IP on the shared counters, so every instance sees the same
// totals. Counting is by the name as typed (normalised), whether or not an account has
// it: a lockout therefore says nothing about which accounts exist.
//
// - Per account: after `threshold` failures within `failureWindowSeconds`, the name is
//   locked for `lockSeconds`; each further failure once a lock has passed locks it again
//   for twice as long, up to `maxLockSeconds`. Never permanent (that would let anyone
//   lock a user out for good). A successful sign-in clears the count; admins can unlock.
// - Per IP: more than `ipFailuresPerHour` failures from one address (many names: credential
//   stuffing) and that address is refused until its hour is over.
import type { Counters } from './counters.js';
import { counterKey } from './rate-limits.js';

export interface LoginThrottleOptions {
  threshold: number;
  lockSeconds: number;
  maxLockSeconds: number;
  failureWindowSeconds: number;
  ipFailuresPerHour: number;
}

export type ThrottleVerdict = { refused: false } | { refused: true; reason: 'account_locked' | 'ip_blocked'; retryAfterSeconds: number };

/** The counter subject for a sign-in name: case, width and surrounding space never make a new one. */
export function loginSubject(login: string): string {
  return login.trim().normalize('NFKC').toLowerCase();
}

export class LoginThrottle {
  constructor(
    private readonly counters: Counters,
    private readonly options: LoginThrottleOptions,
  ) {}

  /** Called before the password is checked: a refused attempt costs no hashing. */
  async check(login: string, ip: string): Promise<ThrottleVerdict> {
    const [lock, ipFailures] = await Promise.all([
      this.counters.peek(counterKey('login:lock', loginSubject(login))),
      this.counters.peek(counterKey('login:ip-failures', ip)),
    ]);
    if (lock) return { refused: true, reason: 'account_locked', retryAfterSeconds: seconds(lock.resetMs) };
    if (ipFailures && ipFailures.hits >= this.options.ipFailuresPerHour) {
      return { refused: true, reason: 'ip_blocked', retryAfterSeconds: seconds(ipFailures.resetMs) };
    }
    return { refused: false };
  }

  /** Records a failed attempt; returns the lock it caused, if any. */
  async failed(login: string, ip: string): Promise<{ lockedForSeconds?: number }> {
    const subject = loginSubject(login);
    const [failures] = await this.counters.hit([
      { key: counterKey('login:failures', subject), windowSeconds: this.options.failureWindowSeconds },
      { key: counterKey('login:ip-failures', ip), windowSeconds: 3600 },
    ]);
    const beyond = failures!.hits - this.options.threshold;
    if (beyond < 0) return {};
    const lockedForSeconds = Math.min(this.options.maxLockSeconds, this.options.lockSeconds * 2 ** Math.min(beyond, 20));
    const lockKey = counterKey('login:lock', subject);
    await this.counters.clear([lockKey]);
    await this.counters.hit([{ key: lockKey, windowSeconds: lockedForSeconds }]);
    return { lockedForSeconds };
  }

  /** A successful sign-in: the account's failures are forgiven (the IP's are not). */
  async succeeded(login: string): Promise<void> {
    const subject = loginSubject(login);
    await this.counters.clear([counterKey('login:failures', subject), counterKey('login:lock', subject)]);
  }

  /** Admin unlock: clears failures and any lock for each of the user's sign-in names. */
  async unlock(logins: readonly string[]): Promise<void> {
    await this.counters.clear(logins.flatMap((login) => [counterKey('login:failures', loginSubject(login)), counterKey('login:lock', loginSubject(login))]));
  }

  /** Whether any of these names is locked right now. */
  async lockedFor(logins: readonly string[]): Promise<number | undefined> {
    const locks = await Promise.all(logins.map((login) => this.counters.peek(counterKey('login:lock', loginSubject(login)))));
    const longest = Math.max(0, ...locks.map((lock) => lock?.resetMs ?? 0));
    return longest > 0 ? seconds(longest) : undefined;
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
