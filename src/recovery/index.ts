// Password reset, email verification and security notices, assembled: the mailer chosen
// by configuration, the notifier that issues and mails links, the notices mailed when
// how a user signs in changes, and the pages.
import type Router from '@koa/router';
import type { Config } from '../config.js';
import type { Renderer } from '../http/views.js';
import type { Logger } from '../logger.js';
import type { RateLimits } from '../security/rate-limits.js';
import { createMailer } from '../mail/mailer.js';
import type { SecurityChanges } from '../services/security-changes.js';
import type { UserTokenService } from '../services/user-tokens.js';
import type { UserRecord } from '../stores/users.js';
import { createBackground } from '../util/background.js';
import { createFormCsrf } from './csrf.js';
import { createRecoveryNotifier, type RecoveryNotifier } from './notifier.js';
import { createRecoveryRouter } from './router.js';
import { startSecurityNotices } from './security-notices.js';

export interface Recovery {
  router: Router;
  notifier: RecoveryNotifier;
  /** Waits for mail still being sent, then closes the mail transport. */
  close(): Promise<void>;
}

export function createRecovery(deps: {
  config: Config;
  logger: Logger;
  render: Renderer;
  userTokens: UserTokenService;
  cookieKey: string;
  rateLimits: RateLimits;
  securityChanges: SecurityChanges;
  findUser(id: string): Promise<UserRecord | undefined>;
}): Recovery {
  const { config, logger } = deps;
  const mailer = createMailer({ config, logger });
  const background = createBackground(logger);
  const notifier = createRecoveryNotifier({ userTokens: deps.userTokens, mailer, issuer: config.issuer, logger, brandName: config.brand.name });
  const stopNotices = startSecurityNotices({ changes: deps.securityChanges, mailer, findUser: deps.findUser, background, issuer: config.issuer, logger, brandName: config.brand.name });
  const router = createRecoveryRouter({
    userTokens: deps.userTokens,
    notifier,
    render: deps.render,
    csrf: createFormCsrf({ key: deps.cookieKey, secure: config.issuer.startsWith('https://') }),
    logger,
    background,
    resetRequestsPerHour: config.mail.resetRequestsPerHour,
    rateLimits: deps.rateLimits,
  });
  return {
    router,
    notifier,
    async close() {
      stopNotices();
      await background.idle();
      mailer?.close();
    },
  };
}
