// Rate limits at the edge (checklist I1), counted on the shared counters (I8) so a limit
// holds however a load balancer spreads requests. Per IP for the authorization endpoint,
// the sign-in form and registration; per IP and per client for the token, introspection
// and revocation endpoints. A refused request gets 429 with Retry-After and RateLimit
// headers, in the format of the endpoint (OAuth JSON error, or the error page).
import type { Context, Next } from 'koa';
import Provider, { errors } from 'oidc-provider';
import type { Logger } from '../logger.js';
import type { Renderer } from './views.js';
import { networkOf } from '../security/login-throttle.js';
import { mostRestrictive, setRateLimitHeaders, type LimitDecision, type LimitRule, type RateLimits } from '../security/rate-limits.js';

export interface EdgeLimitOptions {
  limits: RateLimits;
  render: Renderer;
  logger: Logger;
  perMinute: {
    tokenPerClient: number;
    tokenPerIp: number;
    introspectionPerClient: number;
    authorizationPerIp: number;
    loginPerIp: number;
    registrationPerIp: number;
    deviceUserCodePerIp: number;
  };
}

const minute = (name: string, max: number): LimitRule => ({ name, max, windowSeconds: 60 });

/** An OAuth error oidc-provider renders itself, as JSON with the status it carries. */
class TooManyRequests extends errors.OIDCProviderError {
  constructor(decision: LimitDecision) {
    super(429, 'too_many_requests');
    Object.assign(this, { error_description: `rate limit exceeded; retry in ${decision.resetSeconds} seconds` });
  }
}

export function createEdgeLimits(options: EdgeLimitOptions) {
  const { limits, perMinute, logger } = options;
  // A refusal is a security event (checklist K2); it is logged, not audited: under a flood
  // the audit table would grow with the attack.
  const logRefusal = (ctx: Context, decision: LimitDecision, clientId?: string) =>
    logger.warn({ event: 'rate_limit.refused', rule: decision.rule.name, ip: ctx.ip, clientId, requestId: ctx.state.requestId, retryAfter: decision.resetSeconds }, 'rate limit refused a request');
  const rules = {
    tokenIp: minute('token:ip', perMinute.tokenPerIp),
    tokenClient: minute('token:client', perMinute.tokenPerClient),
    introspectionClient: minute('introspection:client', perMinute.introspectionPerClient),
    authorization: minute('authorization:ip', perMinute.authorizationPerIp),
    login: minute('login:ip', perMinute.loginPerIp),
    registration: minute('registration:ip', perMinute.registrationPerIp),
    deviceUserCode: minute('device-user-code:ip', perMinute.deviceUserCodePerIp),
  };

  /** The per-IP rule for a request outside oidc-provider's client authentication, if any. */
  function ipRuleFor(ctx: Context): LimitRule | undefined {
    if (ctx.path === '/auth') return rules.authorization;
    if (ctx.method !== 'POST') return undefined;
    if (ctx.path === '/reg') return rules.registration;
    // Entering (or confirming) a user code: a guess at someone's device sign-in (RFC 8628 §5.1).
    if (ctx.path === '/device') return rules.deviceUserCode;
    if (/^\/interaction\/[^/]+\/(login|passkey\/verify|mfa)$/.test(ctx.path)) return rules.login;
    return undefined;
  }

  return {
    /** Koa middleware for the per-IP limits. */
    middleware: async (ctx: Context, next: Next): Promise<void> => {
      const rule = ipRuleFor(ctx);
      if (!rule) return next();
      const decision = await limits.take([{ rule, subject: networkOf(ctx.ip) }]);
      setRateLimitHeaders(ctx, decision);
      if (decision.allowed) return next();
      logRefusal(ctx, decision);
      ctx.set('Cache-Control', 'no-store');
      // Browser endpoints get a page, the others an OAuth-style JSON error.
      const t = options.render.translator(ctx);
      const page = (message: string, hint: string) =>
        options.render(ctx, 'error', { title: t('error.tooManyTitle'), heading: t('error.tooManyTitle'), message, hint }, 429);
      if (ctx.path === '/device') {
        page(t('error.tooManyDeviceCodes'), t('error.waitThenCode', { seconds: decision.resetSeconds }));
        return;
      }
      if (ctx.path.startsWith('/interaction/') || (ctx.path === '/auth' && ctx.accepts('json', 'html') === 'html')) {
        page(t('error.tooManySignIns'), t('error.waitThenRetry', { seconds: decision.resetSeconds }));
        return;
      }
      ctx.status = 429;
      ctx.body = { error: 'too_many_requests', error_description: `rate limit exceeded; retry in ${decision.resetSeconds} seconds` };
    },

    /**
     * Called by the client adapter when oidc-provider looks a client up. At the token,
     * introspection and revocation endpoints that is client authentication, the first
     * moment the client id is known (from Basic, the body or an assertion). The IP limit
     * is counted here; the client's own budget is only checked, and charged once the
     * client has authenticated (chargeAuthenticatedClients): requests that merely name a
     * client cannot use up its budget.
     */
    async beforeClientLookup(clientId: string): Promise<void> {
      const ctx = Provider.ctx as (Context & { oidc?: { route?: string } }) | undefined;
      const route = ctx?.oidc?.route;
      // Pushed authorization requests and device authorization requests authenticate the
      // client like the token endpoint does, and share its budgets.
      const tokenLike = route === 'token' || route === 'pushed_authorization_request' || route === 'device_authorization';
      if (!ctx || (!tokenLike && route !== 'introspection' && route !== 'revocation') || ctx.state.edgeLimited) return;
      ctx.state.edgeLimited = true;
      const clientRule = tokenLike ? rules.tokenClient : rules.introspectionClient;
      const [byIp, byClient] = await Promise.all([
        limits.take([{ rule: rules.tokenIp, subject: networkOf(ctx.ip) }]),
        limits.peek(clientRule, clientId),
      ]);
      const decision = mostRestrictive(byIp, byClient);
      setRateLimitHeaders(ctx, decision);
      if (decision.allowed) ctx.state.clientCharge = { rule: clientRule, subject: clientId };
      if (!decision.allowed) {
        logRefusal(ctx, decision, clientId);
        throw new TooManyRequests(decision);
      }
    },

    /** Koa middleware around oidc-provider: charges a client's budget once it authenticated. */
    chargeAuthenticatedClients: async (ctx: Context, next: Next): Promise<void> => {
      await next();
      const charge = ctx.state.clientCharge as { rule: LimitRule; subject: string } | undefined;
      // 401 is invalid_client: whoever sent it did not prove to be the client.
      if (charge && ctx.status !== 401) await limits.charge(charge.rule, charge.subject);
    },
  };
}

export type EdgeLimits = ReturnType<typeof createEdgeLimits>;
