// Password reset and email verification, assembled: the mailer chosen by configuration,
// the notifier that issues and mails links, and the pages.
import type Router from '@koa/router';
import type { Config } from '../config.js';
import type { Renderer } from '../http/views.js';
import type { Logger } from '../logger.js';
import type { RateLimits } from '../security/rate-limits.js';
import { createMailer } from '../mail/mailer.js';
import type { UserTokenService } from '../services/user-tokens.js';
import { createBackground } from '../util/background.js';
import { createFormCsrf } from './csrf.js';
import { createRecoveryNotifier, type RecoveryNotifier } from './notifier.js';
import { createRecoveryRouter } from './router.js';

export interface Recovery {
  router: Router;
  notifier: RecoveryNotifier;
  /** Waits for mail still being sent, then closes the mail transport. */
  close(): Promise<void>;
}

export function createRecovery(deps: { config: Config; logger: Logger; render: Renderer; userTokens: UserTokenService; cookieKey: string; rateLimits: RateLimits }): Recovery {
  const { config, logger } = deps;
  const mailer = createMailer({ config, logger });
  const background = createBackground(logger);
  const notifier = createRecoveryNotifier({ userTokens: deps.userTokens, mailer, issuer: config.issuer, logger });
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
      await background.idle();
      mailer?.close();
    },
  };
}
