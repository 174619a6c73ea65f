// The benchmark's baseline: a stock oidc-provider (the version in node_modules) with its
// in-memory adapter, configured as closely as possible to Gatehouse (src/oidc/provider.ts)
// except for storage, password hashing and pages:
// - the same clients (passed in BENCH_FIXTURES as Gatehouse's CLI printed them), as
//   static `clients`;
// - devInteractions for the login and consent pages (any login, no hashing);
// - RS256 + ES256 signing keys, introspection, revocation, client credentials, userinfo,
//   refresh token rotation, the same TTLs, scopes, claims, PKCE rule and
//   loadExistingGrant for first-party clients.
// The stock memory adapter keeps at most 1,000 entries (an LRU), which a benchmark that
// issues tens of thousands of tokens would evict mid-run (introspection and userinfo
// would then measure "not found"); it gets the stock LRU store with room for 5 million.
//
// Served with provider.callback() on a plain node:http server, as oidc-provider's own
// examples do. Usage: PORT=… BENCH_FIXTURES='{"clients":[…],"user":{…}}' node bench/baseline-server.mjs
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const port = Number(process.env.PORT);
const host = '127.0.0.1';
const fixtures = JSON.parse(process.env.BENCH_FIXTURES ?? '{}');
const issuer = `http://${host}:${port}`;

const SUPPORTED_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'address', 'phone', 'roles'];
const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: [
    'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile',
    'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
  roles: ['roles'],
};

/** Gatehouse's client view (CLI output) → the metadata Gatehouse hands oidc-provider. */
function providerMetadata(view) {
  const { roles, created_at: _created, updated_at: _updated, ...rest } = view;
  return { ...rest, gatehouse_roles: roles ?? [] };
}

async function signingKeys() {
  const keys = [];
  for (const [alg, options] of [['RS256', { modulusLength: 2048, extractable: true }], ['ES256', { extractable: true }]]) {
    const { privateKey } = await generateKeyPair(alg, options);
    keys.push({ ...(await exportJWK(privateKey)), kid: `baseline-${alg.toLowerCase()}`, alg, use: 'sig' });
  }
  return { keys };
}

const user = fixtures.user ?? {};
const store = new LRU({ maxSize: 5_000_000 });

const configuration = {
  adapter: (model) => new MemoryAdapter(model, store, 0),
  clients: (fixtures.clients ?? []).map(providerMetadata),
  jwks: await signingKeys(),
  async findAccount(_ctx, sub) {
    // devInteractions signs in whoever is named; every account has the bench user's claims.
    return {
      accountId: sub,
      claims: async () => ({
        sub,
        email: user.email,
        email_verified: user.email_verified ?? false,
        ...(user.claims ?? {}),
        roles: user.roles ?? [],
        updated_at: Math.floor(Date.parse(user.updated_at ?? new Date().toISOString()) / 1000),
      }),
    };
  },
  claims: Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]])),
  scopes: [...SUPPORTED_SCOPES],
  conformIdTokenClaims: false,
  cookies: {
    keys: [process.env.COOKIE_KEYS ?? 'baseline-cookie-key-baseline-cookie-key'],
    long: { httpOnly: true, sameSite: 'lax', secure: false },
    short: { httpOnly: true, sameSite: 'lax', secure: false },
  },
  features: {
    devInteractions: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
    },
    revocation: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo() {
        throw new errors.InvalidTarget('no API is registered under this resource indicator');
      },
    },
    userinfo: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  extraParams: {
    state(ctx, value) {
      if (typeof value === 'string' && value.length > 2048) {
        delete ctx.oidc.params.state;
        throw new errors.InvalidRequest('state must be at most 2048 characters');
      }
    },
    nonce(_ctx, value) {
      if (typeof value === 'string' && value.length > 2048) throw new errors.InvalidRequest('nonce must be at most 2048 characters');
    },
    code_challenge(_ctx, value) {
      if (value !== undefined && !(typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value))) {
        throw new errors.InvalidRequest('code_challenge must be a base64url-encoded SHA-256 hash (43 characters)');
      }
    },
  },
  responseTypes: ['code'],
  allowOmittingSingleRegisteredRedirectUri: false,
  pkce: {
    required: (_ctx, client) => client.clientAuthMethod === 'none' || client.require_pkce !== false,
  },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 900,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 3600,
    Interaction: 1800,
    Session: 1209600,
    Grant: 1209600,
    RefreshToken(ctx) {
      const rotated = ctx?.oidc.entities.RotatedRefreshToken;
      return rotated ? Math.max(rotated.remainingTTL, 1) : 1209600;
    },
  },
  extraClientMetadata: {
    properties: ['first_party', 'require_pkce', 'gatehouse_roles'],
  },
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'RS256',
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256'],
    userinfoSigningAlgValues: ['RS256', 'PS256', 'ES256'],
  },
  // Same rule as Gatehouse for first-party clients (there is no consent store here).
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const client = oidc.client;
    const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(client.clientId);
    if (grantId) {
      const grant = await oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    const accountId = oidc.session?.accountId;
    if (!accountId || client.first_party !== true) return undefined;
    const scopes = String(oidc.params?.scope ?? '').split(' ').filter(Boolean);
    if (!scopes.includes('openid')) return undefined;
    const grant = new oidc.provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope(scopes.join(' '));
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, error) => process.stderr.write(`baseline: server_error ${error?.stack ?? error}\n`));

const server = createServer(provider.callback());
server.keepAliveTimeout = 5_000;
server.listen(port, host, () => process.stdout.write(`baseline listening on ${issuer}\n`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
