// Sign-in lockouts as administrators see them: whether a user's names are locked, and
// lifting a lock early (the counters themselves are in security/login-throttle.ts).
import { throttleSubject, type LoginThrottle } from '../security/login-throttle.js';
import type { AuditActor, AuditStore } from '../stores/audit.js';
import type { UserRecord } from '../stores/users.js';

export interface LockoutView {
  locked: boolean;
  /** Seconds until the lock ends by itself; null when not locked. */
  retry_after: number | null;
}

export type LockoutService = ReturnType<typeof createLockoutService>;

export function createLockoutService(deps: { throttle: LoginThrottle; findUser(reference: string): Promise<UserRecord>; audit: AuditStore }) {
  // The account's own counter, and those of its names from before it had them.
  const names = (user: UserRecord) => [throttleSubject(user.email, user), ...[user.email, ...(user.username ? [user.username] : [])].map((name) => throttleSubject(name))];
  return {
    async status(reference: string): Promise<LockoutView> {
      const seconds = await deps.throttle.lockedFor(names(await deps.findUser(reference)));
      return { locked: seconds !== undefined, retry_after: seconds ?? null };
    },

    /** Clears the failure counts and any lock of every name the user signs in with. */
    async unlock(reference: string, actor: AuditActor): Promise<LockoutView> {
      const user = await deps.findUser(reference);
      const before = await deps.throttle.lockedFor(names(user));
      await deps.throttle.unlock(names(user));
      await deps.audit.append(actor, { action: 'user.unlock', targetType: 'user', targetId: user.id, before: { locked: before !== undefined } });
      return { locked: false, retry_after: null };
    },
  };
}
