// Changes to how a user signs in, announced once they are committed, so that whatever must
// follow them (a notice mailed to the user) is wired in one place per change, whichever
// way in made it: the account page, a mailed reset link, the admin API or the CLI.
import type { AuditActor } from '../stores/audit.js';

export type SecurityChangeKind =
  | 'password_changed'
  | 'password_reset'
  | 'password_set'
  | 'totp_enabled'
  | 'totp_disabled'
  | 'totp_reset'
  | 'recovery_codes_regenerated'
  | 'passkey_added'
  | 'passkey_removed'
  | 'email_changed';

export interface SecurityChange {
  userId: string;
  kind: SecurityChangeKind;
  /** Who made it (the audit trail's actor): the user, or an administrator. */
  actor: AuditActor;
  at: Date;
  /**
   * The address to tell instead of the account's current one: the previous address when
   * the address itself changed, since whoever changed it now reads the new one.
   */
  notify?: string;
}

export type SecurityChangeListener = (change: SecurityChange) => void;

export type SecurityChanges = ReturnType<typeof createSecurityChanges>;

export function createSecurityChanges() {
  const listeners = new Set<SecurityChangeListener>();
  return {
    /** Listens until the returned function is called. */
    subscribe(listener: SecurityChangeListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    /**
     * Tells every listener. Called after the change committed; a listener that throws
     * must not turn a change that happened into an error, so its failure stays here.
     */
    announce(userId: string, kind: SecurityChangeKind, actor: AuditActor, options: { notify?: string } = {}): void {
      const change: SecurityChange = { userId, kind, actor, at: new Date(), ...(options.notify ? { notify: options.notify } : {}) };
      for (const listener of listeners) {
        try {
          listener(change);
        } catch {
          // Listeners do their own work in the background and log their own failures.
        }
      }
    },
  };
}
