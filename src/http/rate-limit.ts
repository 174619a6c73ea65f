// Request rate limits at the edge (checklist I1). Counters live in this instance's
// memory: a limit is per instance, and resets with it.
import type { Context, Next } from 'koa';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** Seconds until the caller may try again, or undefined when the request may go ahead. */
export async function consume(limiter: RateLimiterMemory, key: string): Promise<number | undefined> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (result) {
    if (result instanceof RateLimiterRes) return Math.max(1, Math.ceil(result.msBeforeNext / 1000));
    throw result;
  }
}

/**
 * Limits requests matching `applies` to `perMinute` per client IP address, answering the
 * excess with 429, Retry-After and an OAuth-style JSON error.
 */
export function limitPerIp(options: { perMinute: number; applies(ctx: Context): boolean }) {
  const limiter = new RateLimiterMemory({ points: options.perMinute, duration: 60 });
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!options.applies(ctx)) {
      await next();
      return;
    }
    const wait = await consume(limiter, ctx.ip);
    if (wait === undefined) {
      await next();
      return;
    }
    ctx.status = 429;
    ctx.set('Retry-After', String(wait));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'too_many_requests', error_description: `too many requests; try again in ${wait} seconds` };
  };
}
