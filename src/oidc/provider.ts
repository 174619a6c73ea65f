// The one place Gatehouse constructs oidc-provider. Each non-default setting carries the
// reason it is set. Defaults referenced below are oidc-provider 9's (lib/helpers/defaults.js).
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { accountClientMetadata } from '../account/client.js';
import { ACR_MFA, ACR_PASSWORD } from '../services/mfa.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Renderer } from '../http/views.js';
import { accountClaims, type AccountService } from '../services/accounts.js';
import { ADMIN_SCOPES, SUPPORTED_SCOPES } from '../services/clients.js';
import { REGISTRATION_POLICY } from '../services/registration-tokens.js';
import { adminScopesFor } from '../services/roles.js';
import type { ApiRecord } from '../stores/apis.js';
import type { AuditActor } from '../stores/audit.js';
import { randomToken } from '../crypto/random.js';
import { createRegistrationPolicy } from './registration-policy.js';
import type { ConsentService } from '../services/consents.js';
import type { PayloadStore } from '../stores/oidc-payloads.js';
import { createAdapterClass } from './adapter.js';
import { logProviderEvents } from './events.js';
import { assertShortLivedClientAssertion, enforceRegisteredSecretMethod, hardenBackChannel, isBackChannel } from './endpoint-hardening.js';
import { describeProtocolError } from '../http/error-pages.js';
import { createOutboundFetch, FETCH_BODY_LIMITS } from './outbound-fetch.js';
import { outboundFetchOptions } from './outbound-options.js';
import { advertiseFrontchannelLogout, createFrontchannelLogout, FRONTCHANNEL_PROPERTIES, validateFrontchannelMetadata, type FrontchannelLogout } from './frontchannel-logout.js';
import { createPairwiseIdentifier, SUBJECT_TYPES } from './pairwise.js';
import { dpopFeature } from './dpop.js';
import { tokenExchangeClaims } from './token-exchange.js';
import { deviceFlowPages, USER_CODE_CHARSET, USER_CODE_MASK } from './device-flow.js';
import { assertRequestObjectClaims, REQUEST_OBJECT_SIGNING_ALGS } from './request-objects.js';

export interface ProviderDeps {
  config: Config;
  logger: Logger;
  cookieKeys: string[];
  jwks: { keys: Array<Record<string, unknown>> };
  secretBox: SecretBox;
  payloads: PayloadStore;
  consents: ConsentService;
  accounts: AccountService;
  findClient(id: string): Promise<Record<string, unknown> | undefined>;
  /** Storage for clients that register themselves (RFC 7591/7592). */
  registeredClients: {
    save(id: string, metadata: Record<string, unknown>, actor: AuditActor): Promise<void>;
    remove(id: string, actor: AuditActor): Promise<void>;
  };
  /** The registered API a resource indicator names, if any. */
  findApi(indicator: string): Promise<ApiRecord | undefined>;
  /** During a secret rotation's grace period: whether `actual` is the client's previous secret. */
  matchesPreviousSecret(clientId: string, actual: string): Promise<boolean>;
  render: Renderer;
  /** SECRET_KEY: pairwise subject identifiers are keyed with a value derived from it (oidc/pairwise.ts). */
  subjectSecret: string;
}

const MAX_STATE_LENGTH = 2048;

/** Claims released per scope (OpenID Connect Core 5.4), plus Gatehouse's `roles`. */
export const SCOPE_CLAIMS = {
  openid: ['sub'],
  profile: [
    'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile',
    'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
  roles: ['roles'],
} as const;

const isAdminScope = (scope: string) => (ADMIN_SCOPES as readonly string[]).includes(scope);

/**
 * Admin scopes a client may receive: those its roles allow (admin → admin and
 * admin:read; admin:read → admin:read). For a user's login the user's roles are applied
 * as well, when the grant is made (interactions/router.ts) and again on every admin API
 * call. Asking for more is invalid_scope, not a quietly smaller token.
 */
function permittedAdminScopes(ctx: KoaContextWithOIDC, client: Record<string, unknown>): string[] {
  const permitted = adminScopesFor((client['gatehouse_roles'] as string[] | undefined) ?? []);
  const refused = String(ctx.oidc.params?.['scope'] ?? '').split(' ').filter((scope) => isAdminScope(scope) && !permitted.includes(scope));
  if (refused.length) throw new errors.InvalidScope('requested scope is not allowed', refused.join(' '));
  return permitted;
}

/**
 * Scopes of a registered API a client may receive: those its `api_scopes` lists for that
 * API (checklist C3: a per-client allow-list). A client with no entry for the API gets
 * invalid_target; asking for a scope beyond the list is invalid_scope.
 */
function permittedApiScopes(ctx: KoaContextWithOIDC, client: Record<string, unknown>, api: ApiRecord): string[] {
  const access = (client['api_scopes'] as Record<string, string[]> | undefined)?.[api.identifier];
  if (!access) throw new errors.InvalidTarget('this client may not request tokens for this API');
  const defined = new Set(api.scopes.map((scope) => scope.name));
  const permitted = access.filter((scope) => defined.has(scope));
  const refused = String(ctx.oidc.params?.['scope'] ?? '').split(' ')
    .filter((scope) => defined.has(scope) && !permitted.includes(scope));
  if (refused.length) throw new errors.InvalidScope('requested scope is not allowed', refused.join(' '));
  return permitted;
}

/**
 * oidc-provider's prompts, plus one login check: a request whose acr_values ask for the
 * second factor, or any request of a client registered with require_mfa, is not
 * satisfied by a session that signed in with the password alone (acr_values are only
 * voluntary for oidc-provider; here they are enforced).
 */
function loginPolicy() {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.push(new interactionPolicy.Check(
    'mfa_required',
    'multi-factor authentication is required',
    'unmet_authentication_requirements',
    (ctx) => {
      const asked = String(ctx.oidc.params?.['acr_values'] ?? '').split(' ').includes(ACR_MFA) || ctx.oidc.client?.['require_mfa'] === true;
      return asked && ctx.oidc.session?.acr !== ACR_MFA ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    },
  ));
  return policy;
}

export function createProvider(deps: ProviderDeps): Provider {
  const { config, accounts, consents, render } = deps;
  const https = config.issuer.startsWith('https://');
  const adminAudience = config.admin.audience;

  // Needs the provider; set once it exists (below), before any request is served.
  let frontchannel: FrontchannelLogout | undefined;

  const configuration: Configuration = {
    adapter: createAdapterClass({
      payloads: deps.payloads,
      secretBox: deps.secretBox,
      findClient: deps.findClient,
      registeredClients: deps.registeredClients,
    }),
    // Clients live in Gatehouse's own table, read through the adapter; the one exception is
    // the built-in client of the account pages.
    clients: [accountClientMetadata(config.issuer) as never],
    // What a sign-in proved: the password alone, or the password and a second factor. The
    // ID token's acr says which; a client that needs the second factor asks with
    // acr_values=urn:gatehouse:acr:mfa and gets it or an error (loginPolicy below).
    acrValues: [ACR_PASSWORD, ACR_MFA],
    // A client registered with subject_type=pairwise gets a sub of its own sector (OIDC
    // Core 8.1); the others get the account id.
    subjectTypes: [...SUBJECT_TYPES],
    pairwiseIdentifier: createPairwiseIdentifier(deps.subjectSecret),
    jwks: deps.jwks as Configuration['jwks'],
    async findAccount(_ctx, sub) {
      const user = await accounts.findById(sub);
      // A disabled or deleted user's tokens stop working at userinfo and refresh.
      if (!user || user.disabled) return undefined;
      return { accountId: user.id, roles: user.roles, claims: async () => ({ ...accountClaims(user), sub: user.id }) };
    },
    // acr and amr (what the sign-in proved: RFC 8176 methods, password alone or a second
    // factor) go with every ID token, so services can require MFA offline; they are not
    // user claims and never appear at userinfo.
    claims: { ...Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]])), openid: [...SCOPE_CLAIMS.openid, 'acr', 'amr'] },
    scopes: [...SUPPORTED_SCOPES],
    // Put the claims of the granted scopes (profile, email, roles…) in the ID token too,
    // not only at userinfo, so services can read them without another call. Still only
    // what the scopes grant (ASVS 14.2.6).
    conformIdTokenClaims: false,
    cookies: {
      // Signed with a key ring from configuration: the first key signs, all verify.
      keys: deps.cookieKeys,
      // __Host- pins the session cookie to this origin (no Domain, Path=/, Secure); it
      // needs https, so plain-http development keeps the default name.
      names: https ? { session: '__Host-session' } : {},
      long: { httpOnly: true, sameSite: 'lax', secure: https },
      short: { httpOnly: true, sameSite: 'lax', secure: https },
    },
    features: {
      // The built-in development login accepts any credentials: never on.
      devInteractions: { enabled: false },
      introspection: {
        enabled: true,
        // A confidential client learns only about its own tokens; anything else, and any
        // public client, gets exactly {"active":false} (RFC 7662 §2.2, §4).
        allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        // A client may revoke only its own tokens; another client's token is left alone
        // and the answer is the same 200 an unknown token gets (RFC 7009 §2.2).
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      clientCredentials: { enabled: true },
      // Sender-constrained tokens (RFC 9449); why nonces are off: oidc/dpop.ts.
      dPoP: dpopFeature,
      // APIs are named by resource indicators (RFC 8707). The admin API is built in: a
      // token for it is opaque (looked up, so revocable at once), with the audience
      // <issuer>/admin and the scopes admin / admin:read. Registered APIs get JWT access
      // tokens (RFC 9068) they verify offline. Any other indicator: invalid_target.
      resourceIndicators: {
        enabled: true,
        // Asking for an admin scope without naming the resource means the admin API;
        // otherwise the client's default resource, if it has one.
        async defaultResource(ctx, client, oneOf) {
          if (oneOf) return oneOf;
          const requested = String(ctx.oidc.params?.['scope'] ?? '').split(' ');
          if (requested.some((scope) => isAdminScope(scope))) return adminAudience;
          const fallback = client['default_resource'];
          return typeof fallback === 'string' ? fallback : undefined;
        },
        // A code or refresh token granted for an API yields tokens for that API.
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(ctx, indicator, client) {
          if (indicator === adminAudience) {
            const scope = permittedAdminScopes(ctx, client);
            if (!scope.length) throw new errors.InvalidTarget('this client may not request tokens for the admin API');
            return { scope: scope.join(' '), audience: adminAudience, accessTokenFormat: 'opaque' };
          }
          const api = await deps.findApi(indicator);
          if (!api) throw new errors.InvalidTarget('no API is registered under this resource indicator');
          const scope = permittedApiScopes(ctx, client, api);
          return {
            scope: scope.join(' '),
            audience: api.identifier,
            accessTokenTTL: api.accessTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: api.signingAlg as 'RS256' } },
          };
        },
      },
      // Clients may register themselves (RFC 7591) only with an initial access token an
      // administrator issued, under Gatehouse's registration policy (checklist C7), and
      // then read, update or delete their own registration (RFC 7592).
      registration: {
        enabled: true,
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        policies: { [REGISTRATION_POLICY]: createRegistrationPolicy({ production: config.env === 'production' }) },
        idFactory: () => randomToken(16),
        secretFactory: async () => randomToken(32),
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      userinfo: { enabled: true },
      // Relying parties that register a backchannel_logout_uri are told when a user signs
      // out at Gatehouse (OpenID Connect Back-Channel Logout 1.0).
      backchannelLogout: { enabled: true },
      // Device authorization grant (RFC 8628) for TVs and command-line tools: the person
      // enters the user code at /device on another screen, then signs in and consents on
      // the usual pages. Pages rendered by Gatehouse (oidc/device-flow.ts).
      deviceFlow: {
        enabled: true,
        charset: USER_CODE_CHARSET,
        mask: USER_CODE_MASK,
        ...deviceFlowPages(render),
      },
      // Pushed authorization requests (RFC 9126): on for every client (a request pushed
      // over the back channel cannot be altered in the browser); clients registered with
      // require_pushed_authorization_requests must use it.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // Request objects (RFC 9101) by value in `request`, signed with the client's own keys
      // (jwks or jwks_uri, fetched through the SSRF-safe fetch below); their values replace
      // the query's. `request_uri` by reference is not supported (request_uri_not_supported),
      // except the URNs of pushed requests. Unsigned objects are refused (not advertised).
      requestObjects: {
        enabled: true,
        requireSignedRequestObject: false,
        assertJwtClaimsAndHeader: assertRequestObjectClaims,
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          render(ctx as never, 'logout', { title: render.translator(ctx as never)('logout.title'), form, clientName: ctx.oidc.client?.clientName });
        },
        async postLogoutSuccessSource(ctx) {
          // Front-channel logout: the logout URIs of the clients just signed out, in iframes.
          const frames = (await frontchannel?.takeFrames(ctx as never)) ?? [];
          render(ctx as never, 'logged-out', { title: render.translator(ctx as never)('loggedOut.title'), clientName: ctx.oidc.client?.clientName, frames });
          frontchannel?.allowFrames(ctx as never, frames);
        },
      },
    },
    // Bounds on what the authorization endpoint echoes or stores (checklist I2), checked
    // after the redirect URI is validated so the client gets a proper error response.
    extraParams: {
      state(ctx, value) {
        if (typeof value === 'string' && value.length > MAX_STATE_LENGTH) {
          // Do not echo the oversized value back in the error redirect.
          delete ctx.oidc.params!.state;
          throw new errors.InvalidRequest(`state must be at most ${MAX_STATE_LENGTH} characters`);
        }
      },
      nonce(_ctx, value) {
        if (typeof value === 'string' && value.length > MAX_STATE_LENGTH) {
          throw new errors.InvalidRequest(`nonce must be at most ${MAX_STATE_LENGTH} characters`);
        }
      },
      // An S256 challenge is the base64url SHA-256 of the verifier: exactly 43 characters
      // (RFC 7636 §4.2); oidc-provider accepts any 43-128 characters.
      code_challenge(_ctx, value) {
        if (value !== undefined && !(typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value))) {
          throw new errors.InvalidRequest('code_challenge must be a base64url-encoded SHA-256 hash (43 characters)');
        }
      },
    },
    // Only the authorization code flow: no implicit or hybrid tokens in front channels
    // (RFC 9700 §2.1.2).
    responseTypes: ['code'],
    // OIDC Core 3.1.2.1 makes redirect_uri REQUIRED; do not guess it.
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: {
      // Public clients always; confidential clients unless registered with
      // require_pkce=false for a legacy relying party (ASVS 10.4.6). Only S256 exists in v9.
      required: (_ctx, client) => client.clientAuthMethod === 'none' || client['require_pkce'] !== false,
    },
    // Every refresh rotates the token, so a stolen and replayed one is detected and the
    // grant revoked (RFC 9700 §4.14.2).
    rotateRefreshToken: true,
    ttl: {
      // A registered API sets the lifetime of its own tokens.
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      AuthorizationCode: config.ttl.authorizationCode,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.clientCredentials,
      IdToken: config.ttl.idToken,
      Interaction: config.ttl.interaction,
      DeviceCode: config.ttl.deviceCode,
      // Saved again on every use, so this is an idle timeout, capped by an absolute
      // lifetime counted from the last sign-in (ASVS 7.3.1, 7.3.2).
      Session(_ctx, session) {
        const now = Math.floor(Date.now() / 1000);
        const absoluteEnd = (session.loginTs ?? now) + config.ttl.session;
        return Math.max(1, Math.min(config.ttl.sessionIdle, absoluteEnd - now));
      },
      Grant: config.ttl.grant,
      // Rotation never extends a refresh token's life past the first one's expiry: an
      // absolute lifetime (ASVS 10.4.8).
      RefreshToken(ctx) {
        const rotated = ctx?.oidc.entities.RotatedRefreshToken;
        return rotated ? Math.max(rotated.remainingTTL, 1) : config.ttl.refreshToken;
      },
    },
    extraClientMetadata: {
      properties: ['first_party', 'require_pkce', 'gatehouse_roles', 'gatehouse_dynamic', 'api_scopes', 'default_resource', 'require_mfa', 'token_exchange', ...FRONTCHANNEL_PROPERTIES],
      validator(_ctx, key, value) {
        validateFrontchannelMetadata(key, value, config.env === 'production');
        if ((key === 'first_party' || key === 'require_pkce' || key === 'gatehouse_dynamic' || key === 'require_mfa') && value !== undefined && typeof value !== 'boolean') {
          throw new Error(`${key} must be a boolean`);
        }
        if (key === 'gatehouse_roles' && value !== undefined && !(Array.isArray(value) && value.every((role) => typeof role === 'string'))) {
          throw new Error('roles must be a list of role names');
        }
        if (key === 'default_resource' && value !== undefined && typeof value !== 'string') throw new Error('default_resource must be a string');
        if (key === 'token_exchange' && value !== undefined && (typeof value !== 'object' || value === null || !Array.isArray((value as { audiences?: unknown }).audiences) || !Array.isArray((value as { scopes?: unknown }).scopes))) {
          throw new Error('token_exchange must hold audiences and scopes lists');
        }
        if (key === 'api_scopes' && value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
          throw new Error('api_scopes must map API identifiers to scope lists');
        }
      },
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      // RS256 is mandatory for ID tokens (OIDC Core 15.1); ES256 for clients that ask.
      // These match the keys Gatehouse holds (services/keys.ts).
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      // Asymmetric only: a request object is verified with the client's public keys, never
      // with a shared secret (so no HS256 forged with a public key, no secret to leak).
      requestObjectSigningAlgValues: [...REQUEST_OBJECT_SIGNING_ALGS],
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: loginPolicy(),
    },
    // A grant the user already gave (their consent record), or a first-party client,
    // satisfies the consent prompt without showing the page again.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const client = oidc.client!;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(client.clientId);
      if (grantId) {
        const grant = await oidc.provider.Grant.find(grantId);
        if (grant) return grant;
      }
      const accountId = oidc.session?.accountId;
      if (!accountId) return undefined;
      const requested = String(oidc.params?.scope ?? '').split(' ').filter(Boolean);
      const scopes = await consents.preApprovedScopes(accountId, { clientId: client.clientId, firstParty: client['first_party'] === true }, requested);
      if (!scopes) return undefined;
      const grant = new oidc.provider.Grant({ accountId, clientId: client.clientId });
      grant.addOIDCScope(scopes.join(' '));
      await grant.save();
      return grant;
    },
    // Roles travel with access tokens (seen at introspection): a service account's roles
    // for client credentials, the user's roles when the `roles` scope was granted.
    async extraTokenClaims(ctx, token) {
      // A token exchange (oidc/token-exchange.ts) decided its token's claims itself.
      const exchanged = tokenExchangeClaims(token);
      if (exchanged) return exchanged;
      if (token.kind === 'ClientCredentials') {
        const roles = ctx.oidc.client?.['gatehouse_roles'];
        return Array.isArray(roles) && roles.length ? { roles } : undefined;
      }
      // A token for an API carries only the API's scopes; whether the user let the client
      // see their roles is in the scopes of the code or refresh token it came from.
      const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
      const forApi = Boolean((token as { resourceServer?: unknown }).resourceServer);
      const scopes = String((forApi && source ? source.scope : (token as { scope?: string }).scope) ?? '').split(' ');
      const roles = (ctx.oidc.account as { roles?: string[] } | undefined)?.roles;
      return scopes.includes('roles') && roles ? { roles } : undefined;
    },
    assertJwtClientAuthClaimsAndHeader: assertShortLivedClientAssertion as Configuration['assertJwtClientAuthClaimsAndHeader'],
    // Requests to client-chosen URLs (jwks_uri, sector_identifier_uri, backchannel_logout_uri):
    // https only, public addresses only (checked after DNS; the socket goes to the checked
    // address), no redirects followed, 5 s and 64 KiB at most (checklist C5).
    fetch: createOutboundFetch(outboundFetchOptions(config)),
    fetchResponseBodyLimits: FETCH_BODY_LIMITS,
    async renderError(ctx, out) {
      if (isBackChannel(ctx.path)) {
        // A browser's Accept header must not turn a token endpoint error into a page.
        ctx.type = 'application/json; charset=utf-8';
        ctx.body = out;
        return;
      }
      const page = describeProtocolError(out.error, render.translator(ctx as never));
      render(ctx as never, 'error', { title: page.heading, ...page }, ctx.status >= 400 ? ctx.status : 400);
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.use(hardenBackChannel);
  frontchannel = createFrontchannelLogout({ provider, payloads: deps.payloads, issuer: config.issuer, secureCookies: https, render });
  provider.use(frontchannel.middleware);
  provider.use(advertiseFrontchannelLogout);
  enforceRegisteredSecretMethod(provider, deps.matchesPreviousSecret);
  // Only trust X-Forwarded-* when configured to sit behind a proxy (RFC 9700 §4.13).
  provider.proxy = config.trustProxy;
  logProviderEvents(provider, deps.logger);
  return provider;
}
