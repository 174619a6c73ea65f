// The language of one request's pages, and where the language switcher returns to.
import type { Context } from 'koa';
import { negotiateLocale } from './locale.js';
import type { Locale } from './messages/index.js';

/** Set by the switcher (switcher.ts): the language the person picked. */
export const LANGUAGE_COOKIE = 'gatehouse.lang';

/**
 * The authorization request's ui_locales: interaction pages record it from the
 * interaction's details (ctx.state.uiLocales); oidc-provider's own pages (errors, logout,
 * device) have it in ctx.oidc.params.
 */
function uiLocalesOf(ctx: Context): unknown {
  const recorded = (ctx.state as { uiLocales?: unknown }).uiLocales;
  if (recorded !== undefined) return recorded;
  return (ctx as Context & { oidc?: { params?: Record<string, unknown> } }).oidc?.params?.['ui_locales'];
}

export function localeOf(ctx: Context): Locale {
  return negotiateLocale({
    chosen: ctx.cookies.get(LANGUAGE_COOKIE),
    uiLocales: uiLocalesOf(ctx),
    acceptLanguage: ctx.get('accept-language') || undefined,
  });
}

const MAX_RETURN_LENGTH = 2048;

/**
 * A same-origin relative path (`/…`, never `//host` or `/\host`, no control characters),
 * or undefined: the switcher must never send anyone to another site.
 */
export function safeReturnPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_RETURN_LENGTH) return undefined;
  if (!value.startsWith('/') || value.startsWith('//') || value.includes('\\') || /[\u0000-\u001f\u007f]/.test(value)) return undefined;
  const base = 'http://gatehouse.invalid';
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return undefined;
  }
  return url.origin === base ? `${url.pathname}${url.search}` : undefined;
}

/**
 * Query parameters a page needs to be shown again (a mailed link's token, a device's user
 * code, the account page's notice, the forgot-password page's way back to its sign-in).
 * Nothing else is carried into the switcher's link: the page never echoes whatever else a
 * request's query held (an authorization request's redirect URI, say).
 */
const KEPT_PARAMS: Record<string, RegExp> = {
  token: /^[\w-]{1,200}$/,
  user_code: /^[\w-]{1,32}$/,
  done: /^[\w-]{1,40}$/,
  recovery: /^1$/,
  return: /^\/interaction\/[\w-]{1,64}$/,
};

function pageAgain(ctx: Context): string {
  const kept = new URLSearchParams();
  for (const [name, pattern] of Object.entries(KEPT_PARAMS)) {
    const value = ctx.query[name];
    if (typeof value === 'string' && pattern.test(value)) kept.set(name, value);
  }
  const query = kept.toString();
  return query ? `${ctx.path}?${query}` : ctx.path;
}

/**
 * Where "switch language" returns: this page again. A page answering a form POST cannot be
 * fetched again with GET, so those return to the page the form belongs to.
 */
export function returnPathOf(ctx: Context): string {
  if (ctx.method === 'GET' || ctx.method === 'HEAD') return safeReturnPath(pageAgain(ctx)) ?? '/';
  const interaction = /^\/interaction\/[^/]+/.exec(ctx.path)?.[0];
  if (interaction) return interaction;
  if (ctx.path.startsWith('/account/')) return '/account';
  if (ctx.path.startsWith('/session/end')) return '/session/end';
  return safeReturnPath(ctx.path) ?? '/';
}
