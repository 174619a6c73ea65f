// Server-rendered pages. Eta escapes every `<%= %>` by default; only trusted markup
// (the layout body, oidc-provider's own logout form) is inserted raw with `<%~ %>`.
// Every page gets a fresh CSP nonce and the headers that keep it out of frames, caches
// and referrers (RFC 9700 §4.16, ASVS 3.4).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Context } from 'koa';

export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

export type Renderer = (ctx: Context, view: string, data: Record<string, unknown> & { title: string }, status?: number) => void;

export function createRenderer(options: { cache: boolean }): Renderer {
  const eta = new Eta({ views: VIEWS_DIR, cache: options.cache, autoEscape: true, autoTrim: false });
  return (ctx, view, data, status = 200) => {
    const nonce = randomBytes(16).toString('base64');
    setPageHeaders(ctx, nonce);
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    // Error pages show the request id, so a person can quote it and support can find the log.
    ctx.body = eta.render(view, { requestId: ctx.state.requestId as string | undefined, ...data, nonce });
  };
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
