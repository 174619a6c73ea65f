// Where oidc-provider is more lenient than Gatehouse's checklist, the gap is closed here,
// in one place, with the reason beside each rule.
import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { setPageHeaders } from '../http/views.js';

const BACK_CHANNEL = new Set(['/token', '/token/introspection', '/token/revocation']);
const MAX_ASSERTION_LIFETIME = 300;

/**
 * Token, introspection and revocation endpoints:
 * - every response, errors included, is `Cache-Control: no-store` (RFC 6749 §5.1; the
 *   revocation endpoint does not set it upstream);
 * - methods other than POST get 405 with `Allow: POST` as an OAuth error, not a bare 404;
 * - a grant type the client is not registered for is `unauthorized_client` (RFC 6749 §5.2),
 *   where oidc-provider says `invalid_request`;
 * - introspecting a JWT (e.g. an ID token) is `{"active":false}` (RFC 7662 §2.2), where
 *   oidc-provider answers `unsupported_token_type`.
 */
export async function hardenBackChannel(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  if (ctx.path === '/me') {
    await hardenUserinfo(ctx, next);
    return;
  }
  if (!BACK_CHANNEL.has(ctx.path)) {
    await next();
    return;
  }
  ctx.set('Cache-Control', 'no-store');
  if (ctx.method !== 'POST' && ctx.method !== 'OPTIONS') {
    ctx.status = 405;
    ctx.set('Allow', 'POST');
    ctx.body = { error: 'invalid_request', error_description: `${ctx.method} is not allowed; use POST` };
    return;
  }
  await next();
  ctx.set('Cache-Control', 'no-store');
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (!body || typeof body !== 'object' || typeof body.error !== 'string') return;
  if (body.error === 'invalid_request' && body.error_description === 'requested grant type is not allowed for this client') {
    ctx.body = { ...body, error: 'unauthorized_client' };
  } else if (ctx.path === '/token/introspection' && body.error === 'unsupported_token_type') {
    ctx.status = 200;
    ctx.body = { active: false };
  }
}

/**
 * An access token in the query string is not a credential Gatehouse accepts
 * (acceptQueryParamAccessTokens: false); RFC 6750 §3.1 treats that as no credentials:
 * 401 with a Bearer challenge, where oidc-provider answers 400.
 */
async function hardenUserinfo(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const body = ctx.body as { error_description?: string } | undefined;
  if (ctx.status === 400 && body?.error_description === 'access tokens must not be provided via query parameter') {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', `Bearer realm="${ctx.oidc.issuer}", error="invalid_token", error_description="send the access token in the Authorization header"`);
    ctx.body = { error: 'invalid_token', error_description: 'access tokens are accepted in the Authorization header only' };
  }
}

/**
 * client_secret_basic and client_secret_post are interchangeable upstream; Gatehouse
 * accepts only the method a client registered (RFC 9700 §2.5, checklist B5), so a secret
 * in the wrong place fails authentication like a wrong secret. During a secret rotation's
 * grace period the previous secret is accepted too (checklist C9).
 */
export function enforceRegisteredSecretMethod(
  provider: Provider,
  matchesPreviousSecret: (clientId: string, actual: string) => Promise<boolean>,
): void {
  type ClientLike = { clientAuthMethod: string; clientId: string };
  const prototype = provider.Client.prototype as { compareClientSecret(this: ClientLike, actual: string): Promise<boolean> | boolean };
  const compare = prototype.compareClientSecret;
  prototype.compareClientSecret = async function compareWithMethod(this: ClientLike, actual: string) {
    const ctx = Provider.ctx;
    if (ctx) {
      const usedPost = Boolean(ctx.oidc.params?.client_secret);
      const registeredPost = this.clientAuthMethod === 'client_secret_post';
      if (usedPost !== registeredPost) return false;
    }
    if (await compare.call(this, actual)) return true;
    return typeof actual === 'string' && matchesPreviousSecret(this.clientId, actual);
  };
}

/**
 * A client assertion (private_key_jwt, client_secret_jwt) must expire, and soon: a
 * long-lived assertion is a reusable credential (RFC 7523 §3, checklist B6).
 */
export async function assertShortLivedClientAssertion(_ctx: KoaContextWithOIDC, claims: Record<string, unknown>): Promise<void> {
  const exp = claims.exp;
  if (typeof exp !== 'number') throw new errors.InvalidClientAuth('the client assertion must have an exp claim');
  if (exp - Math.floor(Date.now() / 1000) > MAX_ASSERTION_LIFETIME) {
    throw new errors.InvalidClientAuth(`the client assertion must expire within ${MAX_ASSERTION_LIFETIME} seconds`);
  }
}

/** Routes whose errors are JSON for machines, never an HTML page (/request: pushed authorization requests). */
export function isBackChannel(path: string): boolean {
  return BACK_CHANNEL.has(path) || path === '/me' || path === '/request';
}

/** The methods each oidc-provider route answers; anything else is 405 with Allow (checklist H6). */
const ROUTE_METHODS: ReadonlyArray<[RegExp, readonly string[]]> = [
  [/^\/\.well-known\/openid-configuration$/, ['GET', 'HEAD', 'OPTIONS']],
  [/^\/jwks$/, ['GET', 'HEAD', 'OPTIONS']],
  [/^\/auth$/, ['GET', 'HEAD', 'POST']],
  [/^\/auth\/[^/]+$/, ['GET', 'HEAD']],
  [/^\/me$/, ['GET', 'HEAD', 'POST', 'OPTIONS']],
  [/^\/session\/end$/, ['GET', 'HEAD', 'POST']],
  [/^\/session\/end\/confirm$/, ['POST']],
  [/^\/session\/end\/success$/, ['GET', 'HEAD']],
  [/^\/reg$/, ['POST']],
  [/^\/reg\/[^/]+$/, ['GET', 'HEAD', 'PUT', 'DELETE']],
];

/** Koa middleware in front of oidc-provider: a wrong method is 405, not the 404 upstream answers. */
export async function rejectUnsupportedMethods(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  const allowed = ROUTE_METHODS.find(([pattern]) => pattern.test(ctx.path))?.[1];
  if (!allowed || allowed.includes(ctx.method)) {
    await next();
    return;
  }
  ctx.status = 405;
  ctx.set('Allow', allowed.join(', '));
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error: 'invalid_request', error_description: `${ctx.method} is not allowed here; use ${allowed.filter((method) => method !== 'HEAD' && method !== 'OPTIONS').join(' or ')}` };
}

/**
 * The authorization endpoint can answer with a page of its own (response_mode=form_post,
 * the resume step), and so can the device pages (/device?user_code=… posts itself): they
 * get the same protective headers as Gatehouse's pages. oidc-provider
 * adds the hash of its inline script to this script-src.
 */
export async function frontChannelPageHeaders(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  if (ctx.path === '/auth' || ctx.path.startsWith('/auth/') || ctx.path === '/device' || ctx.path.startsWith('/device/')) {
    setPageHeaders(ctx, randomBytes(16).toString('base64'));
  }
  await next();
}
