// Issues a token and mails its link. Self-service requests run after the page has
// answered, so neither the answer nor its timing depends on whether the address has an
// account; an administrator's request waits for the mail server and reports failure.
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Mailer } from '../mail/mailer.js';
import type { AuditActor } from '../stores/audit.js';
import { TOKEN_LIFETIME_SECONDS, type UserTokenService } from '../services/user-tokens.js';
import { passwordResetMessage, verificationMessage } from './messages.js';

export interface VerificationSent {
  sent_to: string;
  expires_at: string;
}

export type RecoveryNotifier = ReturnType<typeof createRecoveryNotifier>;

export function createRecoveryNotifier(deps: { userTokens: UserTokenService; mailer: Mailer | undefined; issuer: string; logger: Logger; brandName?: string }) {
  const { userTokens, mailer, issuer, logger } = deps;
  const link = (path: string, token: string) => `${issuer}${path}?token=${token}`;

  return {
    /** False in production without SMTP_URL: nothing can be mailed. */
    enabled: mailer !== undefined,

    /** Mails a reset link if the address is an enabled account's; does nothing otherwise. */
    async passwordReset(email: string, actor: AuditActor): Promise<void> {
      if (!mailer) return;
      const issued = await userTokens.requestPasswordReset(email, actor);
      if (!issued) {
        logger.info({ event: 'password_reset.unknown_address', requestId: actor.requestId }, 'password reset asked for an address with no enabled account');
        return;
      }
      await mailer.send(passwordResetMessage(issued.email, link('/password/reset', issued.token), TOKEN_LIFETIME_SECONDS.password_reset / 60, deps.brandName));
      logger.info({ event: 'password_reset.sent', userId: issued.userId, requestId: actor.requestId }, 'password reset link sent');
    },

    /** Mails a verification link to the user's current address (for administrators). */
    async emailVerification(userId: string, actor: AuditActor): Promise<VerificationSent> {
      if (!mailer) throw new AppError('unavailable', 'Mail is not configured on this server (SMTP_URL).');
      const issued = await userTokens.requestEmailVerification(userId, actor);
      try {
        await mailer.send(verificationMessage(issued.email, link('/email/verify', issued.token), TOKEN_LIFETIME_SECONDS.email_verification / 3600, deps.brandName));
      } catch (error) {
        logger.warn({ err: error, userId, requestId: actor.requestId }, 'verification mail failed');
        throw new AppError('unavailable', 'The verification email could not be sent; try again later.');
      }
      logger.info({ event: 'email_verification.sent', userId, requestId: actor.requestId }, 'verification link sent');
      return { sent_to: issued.email, expires_at: issued.expiresAt.toISOString() };
    },
  };
}
