// Guards at the edge, before oidc-provider and the pages see a request.
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
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

/** Pages whose forms a person's browser posts: their refusals are pages, everything else JSON. */
const FORM_PAGES = /^\/(auth|session\/end|interaction|account|password|email)(\/|$)|^\/device$/;
/**
 * Above every form parser's own limit (oidc-provider 56 KiB, the pages 16 KiB): a longer
 * body is not inspected here but refused by that parser as too large.
 */
const MAX_INSPECTED_FORM = 64 * 1024;

/**
 * A form body whose names or values do not decode to valid UTF-8 is refused with 400
 * (checklist I3/R9). Left alone, oidc-provider decodes such bytes to U+FFFD and the
 * page forms keep a broken escape as literal text, so a client_id, token or login silently
 * becomes a different string. The body is
 * read once and put back on the request stream untouched, so the parser below
 * (oidc-provider's, which reads `ctx.req` itself, or @koa/bodyparser's) parses the very
 * same bytes, with its own limits and error answers. Only urlencoded POSTs pay for it,
 * and a body without raw or percent-encoded bytes ≥ 0x80 costs one scan.
 */
export function rejectMalformedForms(render: Renderer, options: { handledBelow?: (path: string) => boolean } = {}) {
  return async (ctx: Context, next: Next): Promise<void> => {
    // Routers that answer in their own format check for themselves: the admin API reads
    // JSON only and refuses a form with a 415 problem document.
    const length = ctx.request.length;
    if (ctx.method !== 'POST' || length === 0 || length > MAX_INSPECTED_FORM || options.handledBelow?.(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) {
      await next();
      return;
    }
    const body = await peekBody(ctx.req, MAX_INSPECTED_FORM);
    if (body === null) {
      // The client went away mid-upload: nobody reads this answer, and nothing is logged as a fault.
      ctx.status = 400;
      return;
    }
    if (body === undefined || formDecodesToUtf8(body)) {
      await next();
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    if (FORM_PAGES.test(ctx.path)) {
      const t = render.translator(ctx);
      render(ctx, 'error', { title: t('error.refusedTitle'), heading: t('error.refusedHeading'), message: t('error.malformed'), hint: t('error.goBack') }, 400);
      return;
    }
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: 'the request body is not valid percent-encoded UTF-8' };
  };
}

/**
 * Reads a body of at most `limit` bytes and puts it back with `unshift`, which a stream
 * allows until it has emitted 'end': the bytes are taken as soon as the whole message has
 * arrived (`complete`), before anything reads the stream to its end. Undefined when the
 * body is longer (what was read goes back too); null when the client went away.
 */
async function peekBody(req: IncomingMessage, limit: number): Promise<Buffer | null | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  const putBack = () => {
    const body = Buffer.concat(chunks, size);
    if (size > 0) req.unshift(body);
    return body;
  };
  for (;;) {
    for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) {
      chunks.push(chunk);
      size += chunk.length;
    }
    // Synchronous from the last read() to unshift(): 'end' is emitted on a later tick, and
    // not at all while the stream holds data again.
    if (size > limit) {
      putBack();
      return undefined;
    }
    if (req.complete) return putBack();
    if (!(await readable(req))) return null;
  }
}

/** Resolves true at the next 'readable', false if the request fails or closes first. */
function readable(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (value: boolean) => () => {
      req.off('readable', onReadable);
      req.off('error', onGone);
      req.off('close', onGone);
      resolve(value);
    };
    const onReadable = settle(true);
    const onGone = settle(false);
    req.once('readable', onReadable);
    req.once('error', onGone);
    req.once('close', onGone);
  });
}

const PERCENT = 0x25;
const AMPERSAND = 0x26;
const EQUALS = 0x3d;

/**
 * Whether every name and value of an urlencoded body decodes to valid UTF-8, the way
 * node:querystring and qs split and unescape it: parts end at `&` and `=`, `%XX` with two
 * hex digits is a byte, anything else (a lone `%`, `%zz`) is kept literally as they keep it.
 */
export function formDecodesToUtf8(body: Buffer): boolean {
  // Raw bytes must be UTF-8 themselves (RFC 6749 Appendix B; the WHATWG urlencoded parser).
  if (!isUtf8(body)) return false;
  // Fast path: with no escaped byte ≥ 0x80 (%8X to %FX), decoding adds only ASCII between
  // raw sequences that were just found whole, so every part is valid.
  if (!hasHighEscape(body)) return true;
  const decoded = Buffer.allocUnsafe(body.length);
  let length = 0;
  for (let i = 0; i < body.length; i += 1) {
    const byte = body[i]!;
    if (byte === AMPERSAND || byte === EQUALS) {
      if (!isUtf8(decoded.subarray(0, length))) return false;
      length = 0;
      continue;
    }
    const high = byte === PERCENT ? hexValue(body[i + 1]) : -1;
    const low = high >= 0 ? hexValue(body[i + 2]) : -1;
    if (low >= 0) {
      decoded[length++] = high * 16 + low;
      i += 2;
    } else {
      decoded[length++] = byte;
    }
  }
  return isUtf8(decoded.subarray(0, length));
}

function hasHighEscape(body: Buffer): boolean {
  for (let at = body.indexOf(PERCENT); at !== -1; at = body.indexOf(PERCENT, at + 1)) {
    const high = hexValue(body[at + 1]);
    if (high >= 8 && hexValue(body[at + 2]) >= 0) return true;
  }
  return false;
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
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
