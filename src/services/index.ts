// Wires stores and services over one database: shared by the server and the CLI so both
// apply exactly the same rules.
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { SecretBox } from '../crypto/secret-box.js';
import type { Secrets } from '../crypto/secrets.js';
import { createClientStore } from '../stores/clients.js';
import { createConsentStore } from '../stores/consents.js';
import { createKeyStore } from '../stores/keys.js';
import { createPayloadStore } from '../stores/oidc-payloads.js';
import { createUserStore } from '../stores/users.js';
import { createAccountService } from './accounts.js';
import { createClientService, type MetadataValidator } from './clients.js';
import { createConsentService } from './consents.js';
import { createKeyService } from './keys.js';
import { PasswordHasher } from './passwords.js';

export function createServices(deps: { config: Config; db: Database; secrets: Secrets; validateClientMetadata: MetadataValidator }) {
  const { config, db } = deps;
  const secretBox = SecretBox.fromEncoded(deps.secrets.secretKey);
  const stores = {
    users: createUserStore(db.prisma),
    clients: createClientStore(db.prisma),
    keys: createKeyStore(db.prisma),
    consents: createConsentStore(db.prisma),
    payloads: createPayloadStore(db.prisma),
  };
  const passwords = new PasswordHasher();
  // A retired key stays published while any token it signed can still be presented.
  const longestTokenLife = Math.max(config.ttl.accessToken, config.ttl.idToken, config.ttl.clientCredentials);
  return {
    secretBox,
    stores,
    passwords,
    accounts: createAccountService({
      users: stores.users,
      passwords,
      revokeEverything: async (userId) => {
        await stores.payloads.destroyByAccountId(userId);
      },
    }),
    clients: createClientService({
      clients: stores.clients,
      secretBox,
      production: config.env === 'production',
      validateMetadata: deps.validateClientMetadata,
      cacheSeconds: config.clientCacheSeconds,
    }),
    consents: createConsentService({ consents: stores.consents }),
    keys: createKeyService({ keys: stores.keys, secretBox, retiredKeyRetentionSeconds: longestTokenLife + 24 * 3600 }),
  };
}

export type Services = ReturnType<typeof createServices>;
