// Assembles the parts every entry point needs (server and CLI): services over the
// database, signing keys, and the configured oidc-provider instance.
import type Provider from 'oidc-provider';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import type { Secrets } from './crypto/secrets.js';
import type { Renderer } from './http/views.js';
import type { Logger } from './logger.js';
import { createProvider } from './oidc/provider.js';
import { registerTokenExchange } from './oidc/token-exchange.js';
import { createServices, type Services } from './services/index.js';
import { createRegistrationTokenService, type RegistrationTokenService } from './services/registration-tokens.js';

export interface Gatehouse {
  services: Services & { registrationTokens: RegistrationTokenService };
  provider: Provider;
  /** The key set the provider was built with. */
  loadedKeys: { fingerprint: string; algorithms: string[] };
}

export async function createGatehouse(deps: {
  config: Config;
  db: Database;
  secrets: Secrets;
  logger: Logger;
  render: Renderer;
  /** Runs before each client lookup oidc-provider makes (set later by the app: rate limits). */
  hooks?: { beforeClientLookup?(clientId: string): Promise<void> };
}): Promise<Gatehouse> {
  let provider: Provider | undefined;
  const services = createServices({
    config: deps.config,
    db: deps.db,
    secrets: deps.secrets,
    // oidc-provider's own client schema is the final word on metadata it will accept.
    validateClientMetadata: async (metadata) => {
      if (!provider) throw new Error('provider not ready');
      await provider.Client.validate(metadata as never);
    },
  });
  await services.keys.ensureKeys();
  const jwks = await services.keys.signingJwks();
  provider = createProvider({
    config: deps.config,
    logger: deps.logger,
    cookieKeys: deps.secrets.cookieKeys,
    jwks: { keys: jwks.keys as Array<Record<string, unknown>> },
    secretBox: services.secretBox,
    payloads: services.stores.payloads,
    consents: services.consents,
    accounts: services.accounts,
    findClient: async (id) => {
      await deps.hooks?.beforeClientLookup?.(id);
      return services.clients.providerMetadata(id);
    },
    registeredClients: {
      save: (id, metadata, actor) => services.clients.saveRegistered(id, metadata, actor),
      remove: (id, actor) => services.clients.removeRegistered(id, actor),
    },
    matchesPreviousSecret: (id, actual) => services.clients.matchesPreviousSecret(id, actual),
    findApi: (indicator) => services.apis.resolve(indicator),
    render: deps.render,
    subjectSecret: deps.secrets.secretKey,
  });
  // Registered here, before any client is validated (the admin API and the CLI check a
  // client's grant_types against the grant types the provider knows).
  registerTokenExchange(provider, {
    findApi: (indicator) => services.apis.resolve(indicator),
    publicKeys: async () => (await services.keys.list()).map((key) => key.publicJwk as never),
    activeUser: async (sub) => {
      const user = await services.accounts.findById(sub);
      return Boolean(user && !user.disabled);
    },
  });
  const registrationTokens = createRegistrationTokenService({ provider, stores: services.stores, transaction: services.transaction });
  return {
    services: { ...services, registrationTokens },
    provider,
    loadedKeys: { fingerprint: jwks.fingerprint, algorithms: [...new Set(jwks.keys.map((key) => String(key.alg)))] },
  };
}
