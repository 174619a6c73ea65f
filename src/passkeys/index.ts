// Passkeys in the Koa app: the browser bundle and the JSON endpoints, mounted ahead of
// the interaction pages. The account area and the second-factor step plug in through
// their gates (router.ts) when they exist.
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Csrf } from '../interactions/csrf.js';
import type { Translate } from '../i18n/translator.js';
import type { Logger } from '../logger.js';
import type { SecurityEvents } from '../services/security-events.js';
import { ACR_MFA } from '../services/mfa.js';
import { createPasskeyService, type PasskeyService } from '../services/passkeys.js';
import type { SecurityChanges } from '../services/security-changes.js';
import type { Stores, Transaction } from '../services/transaction.js';
import { createAccountCsrf } from '../account/csrf.js';
import { accountSessionGate } from './account-gate.js';
import { createAssetRouter } from './assets.js';
import { createPasskeyRouter, type AccountGate, type SecondFactorGate } from './router.js';

export function mountPasskeys(koa: Koa, deps: {
  provider: Provider;
  services: { stores: Stores; transaction: Transaction; securityChanges?: SecurityChanges };
  issuer: string;
  /** The interaction pages' CSRF tokens. */
  csrf: Csrf;
  /** The key of the account pages' CSRF tokens (account/csrf.ts). */
  accountCsrfKey: string;
  logger: Logger;
  recordLogin(result: 'success' | 'failure'): void;
  securityEvents: SecurityEvents;
  account?: AccountGate | undefined;
  secondFactor?: SecondFactorGate | undefined;
  translator?: ((ctx: Koa.Context) => Translate) | undefined;
}): PasskeyService {
  const passkeys = createPasskeyService({ stores: deps.services.stores, transaction: deps.services.transaction, issuer: deps.issuer, securityChanges: deps.services.securityChanges });
  const assets = createAssetRouter();
  const router = createPasskeyRouter({
    ...deps,
    passkeys,
    account: deps.account ?? accountSessionGate({ provider: deps.provider, findUser: (id) => deps.services.stores.users.findById(id), csrf: createAccountCsrf(deps.accountCsrfKey) }),
    secondFactor: deps.secondFactor ?? secondFactorAfterPassword(deps.provider),
  });
  koa.use(assets.routes());
  koa.use(router.routes());
  koa.use(router.allowedMethods());
  return passkeys;
}

/**
 * The second-factor step of interactions/second-factor.ts: once the password is right it
 * parks `{ accountId }` in the interaction's stored result under this key (server-side,
 * bound to the browser by the interaction cookie); a passkey of that user finishes the
 * sign-in just as a TOTP code does.
 */
const PENDING_SECOND_FACTOR = 'gatehouse_second_factor';

function secondFactorAfterPassword(provider: Provider): SecondFactorGate {
  return {
    async pendingUser(_ctx, details) {
      if (details.prompt.name !== 'login') return undefined;
      const pending = details.result?.[PENDING_SECOND_FACTOR] as { accountId?: unknown } | undefined;
      return typeof pending?.accountId === 'string' ? pending.accountId : undefined;
    },
    async complete(ctx, _details, userId, amr) {
      return provider.interactionResult(ctx.req, ctx.res, {
        login: { accountId: userId, amr, acr: ACR_MFA, ts: Math.floor(Date.now() / 1000) },
      }, { mergeWithLastSubmission: false });
    },
  };
}
