// Prometheus metrics (prom-client), one registry per app instance. Routes are labelled by
// pattern, never by raw path, so ids in URLs cannot explode the number of series.
import { timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DbOperation, QueryObserver } from '../db/query-timing.js';

const ROUTES: Array<[RegExp, string]> = [
  [/^\/auth\/[^/]+$/, '/auth/:uid'],
  [/^\/interaction\/[^/]+\/(login|confirm|abort)$/, '/interaction/:uid/$1'],
  [/^\/interaction\/[^/]+\/?$/, '/interaction/:uid'],
  [/^\/reg\/[^/]+$/, '/reg/:client_id'],
  // Admin API: the resource, then `:id` for every identifier below it.
  [/^\/admin\/(clients|users|roles|apis|registration-tokens)\/[^/]+\/(secret|password|disable|enable|sessions|grants)(\/[^/]+)?$/, '/admin/$1/:id/$2'],
  [/^\/admin\/(clients|users)\/[^/]+\/roles\/[^/]+$/, '/admin/$1/:id/roles/:name'],
  [/^\/admin\/(clients|users|roles|apis|registration-tokens)\/[^/]+$/, '/admin/$1/:id'],
];
const FIXED_ROUTES = new Set([
  '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/jwks', '/request',
  '/.well-known/openid-configuration', '/session/end', '/session/end/confirm', '/session/end/success',
  '/healthz', '/readyz', '/metrics', '/reg',
  '/admin/openapi.json', '/admin/clients', '/admin/users', '/admin/roles', '/admin/apis', '/admin/keys', '/admin/keys/rotate',
  '/admin/registration-tokens', '/admin/audit-events',
]);

export function routeLabel(path: string): string {
  if (FIXED_ROUTES.has(path)) return path;
  for (const [pattern, label] of ROUTES) {
    if (pattern.test(path)) return path.replace(pattern, label);
  }
  return 'other';
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const requests = new Counter({
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'gatehouse_tokens_issued_total',
    help: 'Successful token endpoint grants by grant type',
    labelNames: ['grant_type'],
    registers: [registry],
  });
  const logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Password sign-ins by result',
    labelNames: ['result'],
    registers: [registry],
  });

  const securityEvents = new Counter({
    name: 'gatehouse_security_events_total',
    help: 'Security events by action: login.failure, login.locked (lockouts), login.refused, grant.revoked, …',
    labelNames: ['action'],
    registers: [registry],
  });

  const dbQueries = new Histogram({
    name: 'gatehouse_db_query_duration_seconds',
    help: 'Latency of SQL statements sent through Prisma, by leading verb and outcome',
    labelNames: ['operation', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const clockSkew = new Gauge({
    name: 'gatehouse_clock_skew_seconds',
    help: 'Seconds this instance\'s clock is ahead of the database\'s (negative: behind); alarm beyond ±5',
    registers: [registry],
  });

  // One child per label pair, bound once: observing then allocates no labels object.
  const bind = (operation: DbOperation) => [
    dbQueries.labels({ operation, outcome: 'error' }),
    dbQueries.labels({ operation, outcome: 'ok' }),
  ] as const;
  const dbChildren: Record<DbOperation, ReturnType<typeof bind>> = {
    select: bind('select'),
    insert: bind('insert'),
    update: bind('update'),
    delete: bind('delete'),
    transaction: bind('transaction'),
    other: bind('other'),
  };
  const dbQuery: QueryObserver = (operation, ok, seconds) => {
    dbChildren[operation][ok ? 1 : 0].observe(seconds);
  };

  return {
    registry,

    /** Give to Database.observeQueries: times every statement Prisma sends. */
    dbQuery,

    securityEvent(action: string): void {
      securityEvents.inc({ action });
    },

    /** Times and counts every request; mount first. */
    async middleware(ctx: Context, next: Next): Promise<void> {
      const stop = duration.startTimer();
      try {
        await next();
      } finally {
        const route = routeLabel(ctx.path);
        stop({ method: ctx.method, route });
        requests.inc({ method: ctx.method, route, status: String(ctx.status) });
      }
    },

    grantIssued(grantType: string): void {
      tokens.inc({ grant_type: grantType });
    },

    login(result: 'success' | 'failure' | 'refused'): void {
      logins.inc({ result });
    },

    clockSkew(seconds: number): void {
      clockSkew.set(seconds);
    },
  };
}

/** GET /metrics, behind a bearer token when one is configured. */
export function createMetricsRouter(metrics: Metrics, token: string | undefined): Router {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (token && !bearerMatches(ctx.get('authorization'), token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'unauthorized', error_description: 'metrics need the configured bearer token' };
      return;
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}

function bearerMatches(header: string, token: string): boolean {
  const presented = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
