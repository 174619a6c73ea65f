// OAuth 2.0 Token Exchange (RFC 8693) for service-to-service delegation. A service that
// received a user's access token calls a downstream API on that user's behalf: it
// exchanges the token at /token for a new JWT access token (RFC 9068) for the downstream
// API, with the same user (`sub`), narrower scopes, and `act` naming the service
// (RFC 8693 §4.1), nested when the presented token already carried an `act`.
//
// oidc-provider has no token exchange of its own; this registers the grant type with it.
// What a client may do is an administrator's decision, in its `token_exchange` metadata:
//
//   token_exchange: {
//     audiences: [api identifiers]            downstream APIs it may get tokens for
//     scopes: [scope names]                   scopes it may get there (of those the API defines)
//     subject_token_audiences?: [api ids]     APIs whose tokens it may present (the API(s) it serves)
//   }
//
// A subject token is accepted when it is a live access token of Gatehouse's for a user,
// and was issued to the exchanging client itself or for one of its
// subject_token_audiences. Opaque tokens are looked up (a revoked one, or one whose grant
// was revoked, is refused); JWT access tokens are verified against Gatehouse's keys and
// cannot be revoked before they expire.
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.js';
import type { SecurityEvents } from '../services/security-events.js';
import type { ApiRecord } from '../stores/apis.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** oidc-provider's name for the grant a token came from (`gty`). */
const GTY = 'token_exchange';
const PARAMETERS = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
  'resource', 'audience', 'scope', 'requested_token_type',
];
const MAX_TOKEN_LENGTH = 16_384;
/** How deep `act` may nest: a longer delegation chain is refused rather than grown without bound. */
const MAX_ACT_DEPTH = 5;

export interface TokenExchangePolicy {
  audiences: string[];
  scopes: string[];
  subject_token_audiences?: string[] | undefined;
}

/** What a presented subject token proved. */
interface Subject {
  sub: string;
  clientId: string;
  audience: string | undefined;
  exp: number;
  act: Record<string, unknown> | undefined;
  roles: string[] | undefined;
}

export interface TokenExchangeDeps {
  findApi(indicator: string): Promise<ApiRecord | undefined>;
  /** Public keys Gatehouse publishes (current, next and retired): JWT subject tokens are checked against them. */
  publicKeys(): Promise<JWK[]>;
  /** Whether the user exists and may still use tokens (not disabled or deleted). */
  activeUser(sub: string): Promise<boolean>;
}

/** The claims of exchanged tokens, kept until oidc-provider asks for them (extraTokenClaims). */
const exchangeClaims = new WeakMap<object, Record<string, unknown>>();

/**
 * For the provider's extraTokenClaims: the claims of a token this grant issues (`act`,
 * the user's roles when the subject token carried them), or undefined for any other token.
 */
export function tokenExchangeClaims(token: object): Record<string, unknown> | undefined {
  return exchangeClaims.get(token);
}

const invalidGrant = (description: string) => Object.assign(new errors.InvalidGrant(), { error_description: description });

const stringParam = (ctx: KoaContextWithOIDC, name: string): string | undefined => {
  const value = ctx.oidc.params?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

function policyOf(client: Record<string, unknown>): TokenExchangePolicy | undefined {
  const policy = client['token_exchange'];
  if (!policy || typeof policy !== 'object') return undefined;
  return policy as TokenExchangePolicy;
}

/** Depth of an `act` chain (RFC 8693 §4.1): 0 for none. */
function actDepth(act: unknown): number {
  let depth = 0;
  let current = act;
  while (current && typeof current === 'object') {
    depth += 1;
    current = (current as { act?: unknown }).act;
  }
  return depth;
}

export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  async function opaqueSubject(token: string): Promise<Subject> {
    const found = await provider.AccessToken.find(token);
    if (!found || found.isExpired) throw invalidGrant('the subject token is not active');
    // Revoking a grant (sign-out, a reused refresh token, an admin) ends its tokens here too.
    const grant = found.grantId ? await provider.Grant.find(found.grantId) : undefined;
    if (!grant || grant.clientId !== found.clientId || grant.accountId !== found.accountId) {
      throw invalidGrant('the subject token is not active');
    }
    if (!found.accountId) throw invalidGrant('the subject token does not represent a user');
    const extra = (found.extra ?? {}) as Record<string, unknown>;
    return {
      sub: found.accountId,
      clientId: found.clientId!,
      audience: typeof found.aud === 'string' ? found.aud : undefined,
      exp: found.exp!,
      act: typeof extra.act === 'object' && extra.act !== null ? extra.act as Record<string, unknown> : undefined,
      roles: Array.isArray(extra.roles) ? extra.roles.map(String) : undefined,
    };
  }

  async function jwtSubject(token: string): Promise<Subject> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys: await deps.publicKeys() }), {
        issuer: provider.issuer,
        typ: 'at+jwt',
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['sub', 'aud', 'exp', 'iat', 'client_id'],
      }));
    } catch {
      throw invalidGrant('the subject token is not a valid access token of this issuer');
    }
    const { sub, aud, exp, client_id: clientId, act, roles } = payload as JWTPayload & { client_id?: unknown; act?: unknown; roles?: unknown };
    if (typeof sub !== 'string' || typeof clientId !== 'string' || typeof exp !== 'number') {
      throw invalidGrant('the subject token is not a valid access token of this issuer');
    }
    return {
      sub,
      clientId,
      audience: typeof aud === 'string' ? aud : Array.isArray(aud) && aud.length === 1 ? String(aud[0]) : undefined,
      exp,
      act: typeof act === 'object' && act !== null ? act as Record<string, unknown> : undefined,
      roles: Array.isArray(roles) ? roles.map(String) : undefined,
    };
  }

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!;
    // Delegation is for services that can keep a secret (RFC 8693 §2.1 relies on client
    // authentication to know who the actor is).
    if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('public clients cannot exchange tokens');
    const policy = policyOf(client as unknown as Record<string, unknown>);
    if (!policy) throw new errors.UnauthorizedClient('this client has no token exchange policy');

    const subjectToken = stringParam(ctx, 'subject_token');
    const subjectTokenType = stringParam(ctx, 'subject_token_type');
    if (!subjectToken || !subjectTokenType) throw new errors.InvalidRequest('subject_token and subject_token_type are required');
    if (subjectTokenType !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    const requested = stringParam(ctx, 'requested_token_type');
    if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE && requested !== JWT_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    // The actor is the authenticated client. An actor token naming someone else is not
    // something Gatehouse can vouch for, so it is refused rather than ignored.
    if (stringParam(ctx, 'actor_token') !== undefined || stringParam(ctx, 'actor_token_type') !== undefined) {
      throw new errors.InvalidRequest('actor_token is not supported; the authenticated client is the actor');
    }

    // The downstream API, named by `resource` (RFC 8707) or `audience` (RFC 8693 §2.1).
    const resource = stringParam(ctx, 'resource');
    const audience = stringParam(ctx, 'audience');
    if (resource && audience && resource !== audience) throw new errors.InvalidTarget('resource and audience must name the same API');
    const target = resource ?? audience;
    if (!target) throw new errors.InvalidTarget('name the downstream API with resource or audience');
    if (!policy.audiences.includes(target)) throw new errors.InvalidTarget('this client may not exchange tokens for this API');
    const api = await deps.findApi(target);
    if (!api) throw new errors.InvalidTarget('no API is registered under this identifier');

    const defined = new Set(api.scopes.map((scope) => scope.name));
    const permitted = policy.scopes.filter((scope) => defined.has(scope));
    const asked = (stringParam(ctx, 'scope') ?? '').split(' ').filter(Boolean);
    const refused = asked.filter((scope) => !permitted.includes(scope));
    if (refused.length) throw new errors.InvalidScope('requested scope is not allowed', refused.join(' '));
    const scopes = asked.length ? [...new Set(asked)] : permitted;
    if (!scopes.length) throw new errors.InvalidScope('no scope of this API may be exchanged for', '');

    if (subjectToken.length > MAX_TOKEN_LENGTH) throw invalidGrant('the subject token is not active');
    const subject = subjectToken.split('.').length === 3 ? await jwtSubject(subjectToken) : await opaqueSubject(subjectToken);
    const acceptable = subject.clientId === client.clientId
      || (subject.audience !== undefined && (policy.subject_token_audiences ?? []).includes(subject.audience));
    if (!acceptable) throw invalidGrant('the subject token was neither issued to this client nor for an API it serves');
    if (!(await deps.activeUser(subject.sub))) throw invalidGrant('the subject token does not represent an active user');
    if (actDepth(subject.act) >= MAX_ACT_DEPTH) throw invalidGrant('the delegation chain is too long');

    // Never outlives the token it came from, nor the API's own lifetime.
    const remaining = subject.exp - Math.floor(Date.now() / 1000);
    if (remaining <= 0) throw invalidGrant('the subject token has expired');
    const ttl = Math.min(remaining, api.accessTokenTtl);

    const token = new provider.AccessToken({
      accountId: subject.sub,
      client,
      gty: GTY,
      scope: scopes.join(' '),
      expiresIn: ttl,
    } as never);
    token.resourceServer = {
      audience: api.identifier,
      scope: scopes.join(' '),
      accessTokenTTL: ttl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: api.signingAlg } },
      identifier: () => api.identifier,
      scopes: new Set(scopes),
    } as never;
    const act = { sub: client.clientId, ...(subject.act ? { act: subject.act } : {}) };
    exchangeClaims.set(token, { act, ...(subject.roles ? { roles: subject.roles } : {}) });
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();

    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: ttl,
      scope: scopes.join(' '),
    };
    (provider as unknown as NodeJS.EventEmitter).emit('token_exchange.success', ctx, {
      userId: subject.sub,
      clientId: client.clientId,
      audience: api.identifier,
      scope: scopes.join(' '),
      subjectClientId: subject.clientId,
      delegationDepth: actDepth(act),
    } satisfies TokenExchangeRecord);
  }

  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, handler as never, PARAMETERS);
}

interface TokenExchangeRecord {
  userId: string;
  clientId: string;
  audience: string;
  scope: string;
  subjectClientId: string;
  delegationDepth: number;
}

/** Every exchange in the audit trail (a security event: a service acted for a user). */
export function auditTokenExchanges(provider: Provider, events: SecurityEvents, logger: Logger): void {
  (provider as unknown as NodeJS.EventEmitter).on('token_exchange.success', (ctx: KoaContextWithOIDC, record: TokenExchangeRecord) => {
    events.record({
      action: 'token_exchange.success',
      userId: record.userId,
      clientId: record.clientId,
      actor: { type: 'client', id: record.clientId },
      origin: { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state?.requestId as string | undefined },
      target: { type: 'user', id: record.userId },
      details: {
        audience: record.audience,
        scope: record.scope,
        subject_client_id: record.subjectClientId,
        delegation_depth: record.delegationDepth,
      },
    }).catch((error: unknown) => logger.warn({ err: error, event: 'token_exchange.success' }, 'could not record a security event'));
  });
}
