// Server-rendered pages. Eta escapes every `<%= %>` by default; only trusted markup
// (the layout body, oidc-provider's own logout form, messages built by tHtml, which
// escapes them itself) is inserted raw with `<%~ %>`. Every page is rendered in the
// request's language (i18n/request.ts) with its translator `t`, and the brand.
// Every page gets a fresh CSP nonce and the headers that keep it out of frames, caches
// and referrers (RFC 9700 §4.16, ASVS 3.4).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Context } from 'koa';
import type { MessageKey } from '../i18n/messages/index.js';
import { CATALOGUES, LOCALES } from '../i18n/messages/index.js';
import { localeOf, returnPathOf } from '../i18n/request.js';
import { languageHref } from '../i18n/switcher.js';
import { createTranslator, link, strong, translateHtml, type Html, type Translate } from '../i18n/translator.js';

export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

export interface Brand {
  name: string;
  logoUrl?: string | undefined;
  /** #rrggbb, checked for contrast with white text at start (config.ts). */
  primaryColor: string;
  supportUrl?: string | undefined;
}

export const DEFAULT_BRAND: Brand = { name: 'Gatehouse', primaryColor: '#1f5fbf' };

export interface Renderer {
  (ctx: Context, view: string, data: Record<string, unknown> & { title: string }, status?: number): void;
  /** The translator of this request's language, for text a router puts on a page. */
  translator(ctx: Context): Translate;
  readonly brand: Brand;
}

export function createRenderer(options: { cache: boolean; brand?: Brand }): Renderer {
  const eta = new Eta({ views: VIEWS_DIR, cache: options.cache, autoEscape: true, autoTrim: false });
  const brand = options.brand ?? DEFAULT_BRAND;
  const translator = (ctx: Context) => createTranslator(localeOf(ctx), brand.name);
  const render = (ctx: Context, view: string, data: Record<string, unknown> & { title: string }, status = 200) => {
    const nonce = randomBytes(16).toString('base64');
    setPageHeaders(ctx, nonce);
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    const locale = localeOf(ctx);
    const t = createTranslator(locale, brand.name);
    const returnTo = returnPathOf(ctx);
    const languages = LOCALES.map((code) => ({ code, name: CATALOGUES[code]['language.name'], current: code === locale, href: languageHref(code, returnTo) }));
    // Error pages show the request id, so a person can quote it and support can find the log.
    ctx.body = eta.render(view, {
      requestId: ctx.state.requestId as string | undefined,
      ...data,
      nonce,
      locale,
      brand,
      languages,
      t,
      tHtml: (key: MessageKey, params?: Record<string, string | number | Html>) => translateHtml(t, key, params),
      // Named so no page's own data (e.g. a notice's `link`) can shadow them.
      strong,
      anchor: link,
    });
  };
  return Object.assign(render, { translator, brand });
}

export function setPageHeaders(ctx: Context, nonce: string): void {
  ctx.set(
    'Content-Security-Policy',
    [
      "default-src 'self'",
      `style-src 'self' 'nonce-${nonce}'`,
      `script-src 'nonce-${nonce}'`,
      "img-src 'self' https: data:",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  );
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}
