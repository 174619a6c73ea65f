// The JWKS changes only when keys rotate, and verifiers fetch it often: a max-age lets
// them cache it (a next key is published long before it signs, so a cached copy never
// misses a key in use), and an ETag turns their revalidations into 304s (checklist H5).
import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';

export function cacheableJwks(options: { path: string; maxAgeSeconds: number }) {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (ctx.path !== options.path || ctx.status !== 200 || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return;
    const body = typeof ctx.body === 'string' ? ctx.body : JSON.stringify(ctx.body);
    ctx.set('ETag', `"${createHash('sha256').update(body).digest('base64url')}"`);
    ctx.set('Cache-Control', `public, max-age=${options.maxAgeSeconds}`);
    if (ctx.fresh) {
      ctx.status = 304;
      ctx.body = null;
    }
  };
}
