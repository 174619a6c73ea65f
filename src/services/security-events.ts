// Security events (checklist K1, K2): sign-in success and failure, lockouts, token and
// grant revocation. Each is one structured log line and one row in the audit trail
// (queryable at GET /admin/audit-events), with time, actor, IP, user agent and request
// id. Never a password, code or token: only identifiers.
import type { Logger } from '../logger.js';
import type { AuditStore } from '../stores/audit.js';

export interface RequestOrigin {
  ip?: string | undefined;
  userAgent?: string | undefined;
  requestId?: string | undefined;
}

export interface SecurityEvent {
  /** e.g. login.success, login.failure, login.locked, grant.revoked */
  action: string;
  /** The user concerned, when known; an unknown sign-in name is never recorded (it may be a mistyped password). */
  userId?: string | undefined;
  clientId?: string | undefined;
  origin: RequestOrigin;
  target?: { type: string; id: string };
  /** Non-secret details, e.g. the reason or the lock duration. */
  details?: Record<string, unknown>;
  /** Who acted, when it is not the user (e.g. the client that revoked a token). */
  actor?: { type: 'client' | 'system'; id: string };
}

export type SecurityEvents = ReturnType<typeof createSecurityEvents>;

export function createSecurityEvents(deps: { audit: AuditStore; logger: Logger; count?(action: string): void }) {
  return {
    async record(event: SecurityEvent): Promise<void> {
      const { action, userId, clientId, origin, details } = event;
      deps.count?.(action);
      const target = event.target ?? { type: 'user', id: userId ?? 'unknown' };
      const level = action.endsWith('.success') ? 'info' : 'warn';
      deps.logger[level]({ event: action, userId, clientId, ip: origin.ip, userAgent: origin.userAgent, requestId: origin.requestId, ...details }, action);
      await deps.audit.append(
        // Only a success proves who acted; a failed or refused attempt was made by someone
        // claiming the name, and the user is its target.
        {
          ...(event.actor ?? (userId && action.endsWith('.success') ? { type: 'user', id: userId } : { type: 'anonymous', id: 'anonymous' })),
          clientId,
          ip: origin.ip,
          userAgent: origin.userAgent,
          requestId: origin.requestId,
        },
        { action, targetType: target.type, targetId: target.id, ...(details ? { after: details } : {}) },
      );
    },
  };
}
