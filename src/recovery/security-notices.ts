// Security notices (checklist F3): when the password, the second factor, a passkey or the
// email address of an account changes, its address (the old one, for a new address) gets
// a short mail saying so, so that a change the owner did not make does not go unnoticed.
// Sent in the background after the change has committed: a slow or failing mail server
// neither delays nor fails the change. Without a mailer (production without SMTP_URL)
// nothing is sent, as for password reset.
import type { Logger } from '../logger.js';
import type { Mailer } from '../mail/mailer.js';
import type { SecurityChange, SecurityChanges } from '../services/security-changes.js';
import type { UserRecord } from '../stores/users.js';
import type { Background } from '../util/background.js';
import { securityNoticeMessage } from './messages.js';

export function startSecurityNotices(deps: {
  changes: SecurityChanges;
  mailer: Mailer | undefined;
  findUser(id: string): Promise<UserRecord | undefined>;
  background: Background;
  issuer: string;
  logger: Logger;
  brandName?: string;
}): () => void {
  const { mailer, logger } = deps;
  if (!mailer) return () => {};

  async function send(change: SecurityChange): Promise<void> {
    // The address as it is now, read after the change committed (or the previous one
    // when the address itself changed).
    const user = await deps.findUser(change.userId);
    if (!user) return;
    const byAdministrator = change.actor.type !== 'user' || change.actor.id !== change.userId;
    const message = securityNoticeMessage(change.notify ?? user.email, change.kind, change.at, {
      byAdministrator,
      ip: change.actor.ip,
      userAgent: change.actor.userAgent,
    }, `${deps.issuer}/password/forgot`, deps.brandName);
    await mailer!.send(message);
    logger.info({ event: 'security_notice.sent', kind: change.kind, userId: user.id, requestId: change.actor.requestId }, 'security notice sent');
  }

  return deps.changes.subscribe((change) => deps.background.run(`security notice (${change.kind})`, () => send(change)));
}
