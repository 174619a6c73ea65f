// Guards at the edge, before oidc-provider and the pages see a request.
import type { Context, Next } from 'koa';
import { describeProtocolError } from './error-pages.js';
import type { Renderer } from './views.js';

/** Paths a person's browser is sent to: their errors are pages, everything else JSON. */
const BROWSER_PATHS = /^\/(auth|session\/end|interaction|password|email)(\/|$)/;

/**
 * A query string that does not decode to valid UTF-8, or decodes to a NUL byte, is
 * refused with 400 before it reaches anything that would echo it back altered or hand it
 * to PostgreSQL, which rejects NUL in text (RFC 3986 §2.1, ASVS 1.1.1).
 */
export function rejectMalformedQuery(render: Renderer, options: { handledBelow?: (path: string) => boolean } = {}) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const query = ctx.querystring;
    // Routers that answer in their own error format (the admin API) check for themselves.
    if (!query || options.handledBelow?.(ctx.path) || decodesCleanly(query)) {
      await next();
      return;
    }
    if (BROWSER_PATHS.test(ctx.path)) {
      const page = describeProtocolError('invalid_request', render.translator(ctx));
      render(ctx, 'error', { title: page.heading, ...page }, 400);
      return;
    }
    ctx.status = 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'invalid_request', error_description: 'the query string is not valid percent-encoded UTF-8' };
  };
}

export function decodesCleanly(query: string): boolean {
  for (const part of query.split(/[&=]/)) {
    try {
      if (decodeURIComponent(part.replace(/\+/g, ' ')).includes('\u0000')) return false;
    } catch {
      return false;
    }
  }
  return true;
}

const MAX_AUTHORIZATION_POST = 8 * 1024;
const FORM_ENCODED = /^[\w.~*%+&=-]*$/;

/**
 * OIDC Core 3.1.2.1 and RP-Initiated Logout 1.0 §2 require the authorization and end-session
 * endpoints to accept POST. oidc-provider only allows that with SameSite=None session
 * cookies, which we will not weaken, so a form POST to either is answered with a 303 to
 * the same request as a GET: the browser follows it as a top-level navigation and the Lax
 * session cookie is sent.
 */
export function browserPostAsGet(paths: string[]) {
  const accepted = new Set(paths);
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'POST' || !accepted.has(ctx.path)) {
      await next();
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    if (!ctx.is('application/x-www-form-urlencoded')) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'the authorization request must be form-encoded' };
      return;
    }
    const body = await readBody(ctx, MAX_AUTHORIZATION_POST).catch(() => null);
    if (body === null) {
      // The client went away mid-upload: nothing to answer, nothing to log as a fault.
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'the request body was incomplete' };
      return;
    }
    if (body === undefined) {
      ctx.status = 413;
      ctx.body = { error: 'invalid_request', error_description: 'the authorization request is too large' };
      return;
    }
    if (!FORM_ENCODED.test(body)) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'the authorization request is not valid form encoding' };
      return;
    }
    ctx.status = 303;
    ctx.redirect(`${ctx.path}?${body}`);
  };
}

async function readBody(ctx: Context, limit: number): Promise<string | undefined> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('latin1');
}

/** Every fixed word of a route path outside the admin API (ids and uids are random). */
const ROUTE_WORDS = new Set([
  '.well-known', 'openid-configuration', 'jwks', 'auth', 'token', 'introspection', 'revocation', 'me', 'reg', 'session',
  'end', 'confirm', 'success', 'interaction', 'login', 'abort', 'mfa', 'mfa-unavailable', 'passkey', 'options', 'verify',
  'second-factor', 'account', 'callback', 'sign-in-again', 'totp', 'disable', 'recovery-codes', 'passkeys', 'password',
  'forgot', 'reset', 'email', 'healthz', 'readyz', 'metrics', 'assets', 'webauthn.js', 'device', 'request', 'backchannel', 'language',
]);

/**
 * oidc-provider and the page routers match paths case-insensitively and ignore a trailing
 * slash, while the guards in front of them (rate limits, no-store, page headers) compare
 * exact paths. So that no variant slips past a guard, a non-canonical spelling of a route
 * (`/TOKEN`, `/auth/`, `/interaction/x/LOGIN`) is not served at all: 404.
 */
export function rejectNonCanonicalPaths(options: { exempt(path: string): boolean }) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const path = ctx.path;
    if (path === '/' || options.exempt(path)) return next();
    const segments = path.split('/').slice(1);
    const canonical = !path.endsWith('/') && !path.includes('//')
      && segments.every((segment) => segment === segment.toLowerCase() || !ROUTE_WORDS.has(segment.toLowerCase()));
    if (canonical) return next();
    ctx.status = 404;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'not_found', error_description: 'no such endpoint' };
  };
}

/** Longest request target served (checklist I2): 8 KiB, far above any honest URL. */
export const MAX_URL_BYTES = 8 * 1024;

/** A longer URL is refused with 414 before anything parses it. */
export function rejectLongUrls(render: Renderer) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (Buffer.byteLength(ctx.url) <= MAX_URL_BYTES) return next();
    ctx.set('Cache-Control', 'no-store');
    if (BROWSER_PATHS.test(ctx.path) && ctx.accepts('json', 'html') === 'html') {
      const page = describeProtocolError('invalid_request', render.translator(ctx));
      render(ctx, 'error', { title: page.heading, ...page }, 414);
      return;
    }
    ctx.status = 414;
    ctx.body = { error: 'invalid_request', error_description: `the URL is longer than ${MAX_URL_BYTES} bytes` };
  };
}
