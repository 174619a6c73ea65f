// The admin API over HTTP: authentication, scope checks, rate limits, JSON bodies and
// problem responses around the route table. Mounted under /admin on the public listener,
// or alone on its own listener when ADMIN_PORT is set (checklist G3).
import { bodyParser } from '@koa/bodyparser';
import cors from '@koa/cors';
import Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../errors.js';
import { problemResponses } from '../http/problem.js';
import { networkOf } from '../security/login-throttle.js';
import { setRateLimitHeaders, tooManyRequests, type LimitRule, type RateLimits } from '../security/rate-limits.js';
import { decodesCleanly } from '../http/request-guards.js';
import type { Logger } from '../logger.js';
import { containsNul } from '../util/nul.js';
import { hasScope, insufficientScope, type AdminAuthenticator } from './authenticate.js';
import { buildOpenApiDocument } from './openapi.js';
import { ADMIN_ROUTES, type AdminRoute, type AdminServices } from './routes.js';

export const ADMIN_PREFIX = '/admin';
export const ADMIN_BODY_LIMIT = '64kb';

export interface AdminRouterOptions {
  services: AdminServices;
  authenticate: AdminAuthenticator;
  logger: Logger;
  /** Where the document says the API is, e.g. https://id.example.com/admin. */
  serverUrl: string;
  tokenUrl: string;
  audience: string;
  version: string;
  /** Browser origins allowed to call the API (CORS); none by default. */
  corsOrigins: readonly string[];
  /** Changes one actor (client or user) may make per minute. */
  mutationsPerMinute: number;
  /** Requests, authenticated or not, one IP address may make per minute. */
  requestsPerIpPerMinute: number;
  /** Counters shared by every instance. */
  rateLimits: RateLimits;
}

/** `/clients/{id}` → `/clients/:id` for the router. */
const routerPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

export function createAdminRouter(options: AdminRouterOptions): Router {
  const router = new Router({ prefix: ADMIN_PREFIX });
  // Counted on the shared counters: a limit holds across instances (checklist I8).
  const perActor: LimitRule = { name: 'admin:actor', max: options.mutationsPerMinute, windowSeconds: 60 };
  const perIp: LimitRule = { name: 'admin:ip', max: options.requestsPerIpPerMinute, windowSeconds: 60 };
  const take = async (ctx: Context, rule: LimitRule, subject: string) => {
    const decision = await options.rateLimits.take([{ rule, subject }]);
    setRateLimitHeaders(ctx, decision);
    if (!decision.allowed) throw tooManyRequests(decision);
  };
  const document = buildOpenApiDocument(options);
  const allowedOrigins = new Set(options.corsOrigins);

  router.use(problemResponses(options.logger));
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await take(ctx, perIp, networkOf(ctx.ip));
    if (ctx.querystring && !decodesCleanly(ctx.querystring)) {
      throw new AppError('invalid_input', 'The query string is not valid percent-encoded UTF-8.');
    }
    await next();
  });
  // Closed unless origins are configured; never with credentials, since the API takes no
  // cookies (checklist G1).
  router.use(cors({
    origin: (ctx) => (allowedOrigins.has(ctx.get('origin')) ? ctx.get('origin') : ''),
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type'],
    exposeHeaders: ['Retry-After', 'WWW-Authenticate', 'X-Request-Id'],
    credentials: false,
    maxAge: 600,
  }));

  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });

  const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: ADMIN_BODY_LIMIT, jsonStrict: true, parsedMethods: ['POST', 'PUT', 'PATCH'] });

  for (const route of ADMIN_ROUTES) {
    router[route.method](routerPath(route.path), async (ctx) => {
      const principal = await options.authenticate(ctx);
      if (!hasScope(principal, route.scope)) throw insufficientScope(route.scope);
      if (route.mutates) await take(ctx, perActor, `${principal.actor.type}:${principal.actor.id}`);
      const params = readParams(route, ctx);
      const body = route.body ? await readBody(route, ctx, parseJson) : undefined;
      const result = await route.handle({ params, query: { ...ctx.query }, body, actor: principal.actor, ctx }, options.services);
      ctx.status = result.status;
      if (result.body !== undefined) ctx.body = result.body;
    });
  }

  // Any other request below /admin ends here, so that the middleware above (problem
  // documents, no-store, the per-IP limit, CORS preflights) runs for it too: @koa/router
  // runs router.use() middleware only for requests that match a route.
  const templates = ADMIN_ROUTES.map((route) => ({
    method: route.method.toUpperCase(),
    pattern: new RegExp(`^${ADMIN_PREFIX}${route.path.replace(/\{\w+\}/g, '[^/]+')}$`),
  }));
  router.all('/{*rest}', (ctx) => {
    const allowed = new Set(templates.filter((template) => template.pattern.test(ctx.path)).map((template) => template.method));
    if (ctx.path === `${ADMIN_PREFIX}/openapi.json`) allowed.add('GET');
    if (!allowed.size) throw new AppError('not_found', `No admin API route ${ctx.method} ${ctx.path}.`);
    if (allowed.has('GET')) allowed.add('HEAD');
    const allow = [...allowed, 'OPTIONS'].join(', ');
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', allow);
      ctx.status = 204;
      return;
    }
    throw new AppError('method_not_allowed', `${ctx.method} is not allowed here.`, [], { Allow: allow });
  });
  return router;
}

function readParams(route: AdminRoute, ctx: Context): Record<string, string> {
  const params = (ctx as Context & { params?: Record<string, string> }).params ?? {};
  if (containsNul(params)) throw new AppError('not_found', 'No such resource.');
  if (!route.params) return params;
  const parsed = route.params.safeParse(params);
  // An id that cannot exist names nothing: 404, like an unknown one.
  if (!parsed.success) throw new AppError('not_found', 'No such resource.');
  return parsed.data as Record<string, string>;
}

async function readBody(route: AdminRoute, ctx: Context, parseJson: ReturnType<typeof bodyParser>): Promise<unknown> {
  const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) return route.bodyOptional ? {} : undefined;
  if (!ctx.is('application/json')) throw new AppError('unsupported_media_type', 'Send the request body as application/json.');
  await parseJson(ctx, async () => {});
  const body = (ctx.request as { body?: unknown }).body;
  if (containsNul(body)) throw new AppError('invalid_input', 'The request body contains a NUL character, which no field accepts.');
  return body;
}
