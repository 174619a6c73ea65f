// Wires stores and services over one database: shared by the server and the CLI so both
// apply exactly the same rules.
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Secrets } from '../crypto/secrets.js';
import { createKeyStore } from '../stores/keys.js';
import { createAccountService } from './accounts.js';
import { createApiService } from './apis.js';
import { createAuditService } from './audit.js';
import { createClientService, type MetadataValidator } from './clients.js';
import { createConsentService } from './consents.js';
import { createKeyService } from './keys.js';
import { createMfaService } from './mfa.js';
import { createResealService } from './reseal.js';
import { PasswordHasher } from './passwords.js';
import { createRoleService } from './roles.js';
import { createSecurityChanges } from './security-changes.js';
import { createEndedSessions } from './ended-sessions.js';
import { createStores, createTransaction, type Stores } from './transaction.js';
import { createUserTokenService } from './user-tokens.js';
import { postgresCounters, redisCounters } from '../security/counters.js';
import { LoginThrottle } from '../security/login-throttle.js';
import { RateLimits } from '../security/rate-limits.js';
import { createLockoutService } from './lockouts.js';

/** NOTIFY channels on which instances tell each other that a client or an API changed. */
export const CLIENT_CHANGES_CHANNEL = 'gatehouse_client_changed';
export const API_CHANGES_CHANNEL = 'gatehouse_api_changed';
export const KEY_CHANGES_CHANNEL = 'gatehouse_keys_changed';

export function createServices(deps: { config: Config; db: Database; secrets: Secrets; validateClientMetadata: MetadataValidator }) {
  const { config, db } = deps;
  const secretBox = SecretBox.fromEncoded(deps.secrets.secretKey, deps.secrets.previousSecretKeys);
  const stores = { ...createStores(db.prisma, { batched: true }), keys: createKeyStore(db.prisma) };
  const transaction = createTransaction(db.prisma);
  const passwords = new PasswordHasher({ concurrency: config.passwordHashing.concurrency, maxQueue: config.passwordHashing.queueLimit });
  // Shared by every instance: PostgreSQL unless Redis is configured (checklist I8).
  const counters = config.redisUrl ? redisCounters(config.redisUrl) : postgresCounters(db.prisma);
  const loginThrottle = new LoginThrottle(counters, config.lockout);
  // A retired key stays published while any token it signed can still be presented, and
  // until every verifier's cached copy of the JWKS has been fetched again.
  const retiredKeyRetentionSeconds = async () => {
    const apiLifetimes = (await stores.apis.list()).map((api) => api.accessTokenTtl);
    // An instance that missed the change notice signs with the old key for up to one
    // refresh interval more.
    return Math.max(config.ttl.accessToken, config.ttl.idToken, config.ttl.clientCredentials, ...apiLifetimes)
      + config.keys.refreshInterval + config.keys.jwksMaxAge;
  };

  // Sent inside the changing transaction, so other instances hear of it only once it is
  // committed; this instance forgets at once as well.
  const announceClientChange = async (within: Stores, clientId: string) => {
    clients.forget(clientId);
    await within.db.$executeRaw`SELECT pg_notify(${CLIENT_CHANGES_CHANNEL}, ${clientId})`;
  };

  const clients = createClientService({
    stores,
    transaction,
    secretBox,
    production: config.env === 'production',
    validateMetadata: deps.validateClientMetadata,
    cacheSeconds: config.clientCacheSeconds,
    announceChange: announceClientChange,
  });

  // Told of every committed change to how a user signs in (the app mails a notice).
  const securityChanges = createSecurityChanges();
  // Sessions ended outside oidc-provider's logout (the admin API): the app tells their clients.
  const endedSessions = createEndedSessions();
  const accounts = createAccountService({ stores, transaction, passwords, securityChanges, endedSessions });

  const apis = createApiService({
    stores,
    transaction,
    defaultTtl: config.ttl.accessToken,
    reserved: [config.admin.audience],
    announceChange: async (within, identifier) => {
      apis.forget(identifier);
      await within.db.$executeRaw`SELECT pg_notify(${API_CHANGES_CHANNEL}, ${identifier})`;
    },
  });

  return {
    secretBox,
    counters,
    rateLimits: new RateLimits(counters),
    loginThrottle,
    apis,
    stores,
    transaction,
    passwords,
    accounts,
    securityChanges,
    endedSessions,
    lockouts: createLockoutService({ throttle: loginThrottle, findUser: (reference) => accounts.find(reference), audit: stores.audit }),
    userTokens: createUserTokenService({ stores, transaction, passwords, securityChanges }),
    mfa: createMfaService({ stores, transaction, secretBox, counters, securityChanges, issuerLabel: config.brand.name }),
    clients,
    roles: createRoleService({ stores, transaction, onClientChanged: announceClientChange }),
    audit: createAuditService({ stores }),
    consents: createConsentService({ consents: stores.consents }),
    reseal: createResealService({ db: db.prisma, transaction, secretBox }),
    keys: createKeyService({
      keys: stores.keys,
      secretBox,
      retiredKeyRetentionSeconds,
      announceChange: async (tx) => {
        await tx.$executeRaw`SELECT pg_notify(${KEY_CHANGES_CHANNEL}, 'keys')`;
      },
    }),
    /** Keeps this instance's client and API caches in step with changes made by any instance. */
    async followChanges(): Promise<void> {
      await db.listen(CLIENT_CHANGES_CHANNEL, (clientId) => clients.forget(clientId), () => clients.forgetAll());
      await db.listen(API_CHANGES_CHANNEL, (identifier) => apis.forget(identifier), () => apis.forgetAll());
    },
  };
}

export type Services = ReturnType<typeof createServices>;
