// RFC 8628 §3.5: a device that polls the token endpoint faster than the interval gets
// `slow_down`. oidc-provider answers every early poll with `authorization_pending`, so a
// device could poll as fast as the token endpoint's rate limit allows; here each pending
// device code may be polled once per interval, counted on the shared counters so the
// limit holds across instances.
import type { Context, Next } from 'koa';
import type { LimitRule, RateLimits } from '../security/rate-limits.js';

/** RFC 8628 §3.2: without an `interval` in the response, clients wait 5 s between polls. */
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

export function deviceSlowDown(limits: RateLimits) {
  // One second of slack: a device that waits the full interval after the last answer
  // must never be told to slow down because of network or processing time.
  const rule: LimitRule = { name: 'device-poll', max: 1, windowSeconds: DEVICE_POLL_INTERVAL_SECONDS - 1 };
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (ctx.path !== '/token' || ctx.status !== 400) return;
    const body = ctx.body as { error?: unknown } | undefined;
    if (!body || typeof body !== 'object' || body.error !== 'authorization_pending') return;
    // Only a valid, pending code of the authenticated client gets here; it is hashed
    // before it becomes a counter key.
    const deviceCode = (ctx as Context & { oidc?: { params?: Record<string, unknown> } }).oidc?.params?.['device_code'];
    if (typeof deviceCode !== 'string') return;
    const decision = await limits.take([{ rule, subject: deviceCode }]);
    if (!decision.allowed) {
      ctx.body = { error: 'slow_down', error_description: `poll at most once every ${DEVICE_POLL_INTERVAL_SECONDS} seconds` };
    }
  };
}
