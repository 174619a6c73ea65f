// Builds the Koa application: common headers, health, interaction pages, then
// oidc-provider mounted at the issuer root. It never listens; src/main.ts does.
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import Provider from 'oidc-provider';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import type { Secrets } from './crypto/secrets.js';
import { createAdminAuthenticator } from './admin/authenticate.js';
import { ADMIN_PREFIX, createAdminRouter } from './admin/router.js';
import { watchClockSkew } from './db/clock-skew.js';
import { isDatabaseUnavailable } from './db/errors.js';
import { createGatehouse } from './gatehouse.js';
import { startKeySync, type KeySync } from './oidc/key-sync.js';
import { APP_VERSION } from './version.js';
import { createHealthRouter } from './http/health.js';
import { createMetrics, createMetricsRouter, routeLabel } from './http/metrics.js';
import { cacheableJwks } from './http/jwks-caching.js';
import { publishedDocuments } from './http/published-documents.js';
import { createEdgeLimits } from './http/edge-limits.js';
import { frontChannelPageHeaders, rejectUnsupportedMethods } from './oidc/endpoint-hardening.js';
import { forwardedHeadersOnlyFrom, strictTransportSecurity } from './http/proxy-trust.js';
import { createSecurityEvents } from './services/security-events.js';
import { auditTokenExchanges } from './oidc/token-exchange.js';
import { browserPostAsGet, rejectLongUrls, rejectMalformedForms, rejectMalformedQuery, rejectNonCanonicalPaths } from './http/request-guards.js';
import { answerUnavailable } from './http/unavailable.js';
import { createRenderer, type Renderer } from './http/views.js';
import { createLanguageRouter } from './i18n/switcher.js';
import { createCsrf } from './interactions/csrf.js';
import { createInteractionRouter } from './interactions/router.js';
import { createAccountRouter } from './account/router.js';
import { createAccountCsrf } from './account/csrf.js';
import { createRecovery } from './recovery/index.js';
import { mountPasskeys } from './passkeys/index.js';
import { deviceSlowDown } from './oidc/device-polling.js';
import { notifyBackchannelClients } from './oidc/backchannel-sessions.js';
import type { Logger } from './logger.js';
import type { Gatehouse } from './gatehouse.js';

export interface App {
  koa: Koa;
  /** The admin API on its own, when ADMIN_PORT is set; otherwise it is part of koa under /admin. */
  adminKoa: Koa | undefined;
  provider: Provider;
  services: Gatehouse['services'];
  /** Follows key rotations made anywhere. */
  keySync: KeySync;
  /** Stops background work (the database is closed by whoever opened it). */
  close(): Promise<void>;
}

export async function createApp(deps: { config: Config; db: Database; secrets: Secrets; logger: Logger }): Promise<App> {
  const { config, db, logger } = deps;
  const render = createRenderer({ cache: config.env !== 'development', brand: config.brand });
  const hooks: { beforeClientLookup?(clientId: string): Promise<void> } = {};
  const { services, provider, loadedKeys } = await createGatehouse({ ...deps, render, hooks });
  const metrics = createMetrics();
  db.observeQueries(metrics.dbQuery);
  const securityEvents = createSecurityEvents({ audit: services.stores.audit, logger, count: (action) => metrics.securityEvent(action) });
  const edgeLimits = createEdgeLimits({
    limits: services.rateLimits,
    render,
    logger,
    perMinute: { ...config.rateLimits, registrationPerIp: config.registrationPerMinute },
  });
  hooks.beforeClientLookup = edgeLimits.beforeClientLookup;
  // Discovery and JWKS answers replayed from memory until the signing keys change.
  const documents = publishedDocuments(['/.well-known/openid-configuration', '/jwks']);
  const keySync = await startKeySync({ provider, keys: services.keys, config, db, logger, loaded: loadedKeys, onKeysReplaced: documents.invalidate });

  // Behind a proxy, the client address is the last X-Forwarded-For entry: the one our
  // proxy added. Earlier entries are whatever the client sent.
  const koa = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  // koa-mount runs oidc-provider's middleware on this app's context, so this app must
  // sign cookies with the same key ring the provider verifies them with.
  koa.keys = [...deps.secrets.cookieKeys];
  // Errors are logged here, without request secrets; Koa's default would print stacks.
  koa.silent = true;
  koa.on('error', (error: Error & { status?: number; expose?: boolean }) => {
    if ((error.status ?? 500) >= 500) logger.error({ err: error }, 'request failed');
  });

  recordProtocolSecurityEvents(provider, securityEvents, logger);
  auditTokenExchanges(provider, securityEvents, logger);
  // Sessions an administrator ends: their clients get logout tokens like on a sign-out.
  services.endedSessions.subscribe(notifyBackchannelClients(provider));

  provider.on('grant.success', (ctx) => metrics.grantIssued(String(ctx.oidc.params?.grant_type ?? 'unknown')));
  if (config.trustProxy) koa.use(forwardedHeadersOnlyFrom(config.trustedProxies));
  koa.use(metrics.middleware);

  koa.use(requestEnvelope(logger, render));
  koa.use(strictTransportSecurity());
  koa.use(documents.middleware);
  koa.use(rejectLongUrls(render));

  const adminMounted = config.admin.port === undefined;
  const isAdminPath = (path: string) => path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`);
  // Before the rate limits, which compare exact paths. The admin router answers every path
  // below /admin itself, with its own limits.
  koa.use(rejectNonCanonicalPaths({ exempt: (path) => adminMounted && isAdminPath(path) }));
  koa.use(edgeLimits.middleware);
  koa.use(rejectMalformedQuery(render, { handledBelow: (path) => adminMounted && isAdminPath(path) }));
  koa.use(rejectMalformedForms(render, { handledBelow: (path) => adminMounted && isAdminPath(path) }));
  koa.use(browserPostAsGet(['/auth', '/session/end']));

  const health = createHealthRouter({ db, keysLoaded: () => ['RS256', 'ES256'].every((alg) => keySync.signingAlgorithms().includes(alg)) });
  koa.use(health.routes());
  // The language switcher shown on every page.
  koa.use(createLanguageRouter({ secure: config.issuer.startsWith('https://') }).routes());
  koa.use(createMetricsRouter(metrics, config.metricsToken).routes());

  // Passkey endpoints go ahead of the interaction pages they extend.
  const passkeys = mountPasskeys(koa, { provider, services, issuer: config.issuer, csrf: createCsrf(deps.secrets.cookieKeys[0]!), accountCsrfKey: deps.secrets.cookieKeys[0]!, logger, recordLogin: metrics.login, securityEvents, translator: render.translator });
  const interactions = createInteractionRouter({
    provider,
    accounts: services.accounts,
    consents: services.consents,
    mfa: services.mfa,
    hasPasskey: (userId) => passkeys.hasAny(userId),
    render,
    csrf: createCsrf(deps.secrets.cookieKeys[0]!),
    logger,
    recordLogin: metrics.login,
    loginThrottle: services.loginThrottle,
    securityEvents,
    adminAudience: config.admin.audience,
    findApi: (indicator) => services.apis.resolve(indicator),
  });
  koa.use(interactions.routes());
  // Password reset and email verification (their pages and mail), made before the account
  // pages, which mail a link to confirm a new address. It also mails the user a notice of
  // each change to their password, sign-in factors or email address.
  const recovery = createRecovery({
    config, logger, render, userTokens: services.userTokens, cookieKey: deps.secrets.cookieKeys[0]!, rateLimits: services.rateLimits,
    securityChanges: services.securityChanges, findUser: (id) => services.stores.users.findById(id),
  });
  // The user's own account pages, signed in with the provider's browser session.
  const account = createAccountRouter({
    provider,
    accounts: services.accounts,
    mfa: services.mfa,
    render,
    csrf: createAccountCsrf(deps.secrets.cookieKeys[0]!),
    logger,
    issuer: config.issuer,
    // The current-password check is a sign-in attempt: same throttle, same events.
    loginThrottle: services.loginThrottle,
    securityEvents,
    verificationMail: recovery.notifier,
  });
  koa.use(account.routes());
  koa.use(account.allowedMethods());
  koa.use(interactions.allowedMethods());
  // Password reset and email verification pages (mounted below the account pages).
  koa.use(recovery.router.routes());

  const adminRouter = createAdminRouter({
    // The instance that rotates signs with the new keys before the call returns.
    services: {
      ...services,
      verificationMail: recovery.notifier,
      keys: {
        ...services.keys,
        rotate: async (actor) => {
          const keys = await services.keys.rotate(actor);
          await keySync.reload();
          return keys;
        },
      },
    },
    authenticate: createAdminAuthenticator({ provider, accounts: services.accounts, audience: config.admin.audience }),
    logger,
    serverUrl: `${config.admin.port === undefined ? config.issuer : `http://${config.admin.host}:${config.admin.port}`}${ADMIN_PREFIX}`,
    tokenUrl: `${config.issuer}/token`,
    audience: config.admin.audience,
    version: APP_VERSION,
    corsOrigins: config.admin.corsOrigins,
    mutationsPerMinute: config.admin.mutationsPerMinute,
    requestsPerIpPerMinute: config.admin.requestsPerIpPerMinute,
    rateLimits: services.rateLimits,
  });
  let adminKoa: Koa | undefined;
  if (config.admin.port === undefined) {
    // Only /admin requests go through the admin router: the token endpoint and the rest
    // of the protocol do not pay for matching its routes.
    const adminRoutes = compose([adminRouter.routes(), adminRouter.allowedMethods()] as Koa.Middleware[]);
    koa.use((ctx, next) => (isAdminPath(ctx.path) ? adminRoutes(ctx, next) : next()));
  } else {
    // Its own listener (checklist G3): the public origin answers /admin with 404.
    adminKoa = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
    adminKoa.silent = true;
    if (config.trustProxy) adminKoa.use(forwardedHeadersOnlyFrom(config.trustedProxies));
    adminKoa.use(metrics.middleware);
    adminKoa.use(requestEnvelope(logger));
    adminKoa.use(adminRouter.routes());
    adminKoa.use(adminRouter.allowedMethods());
  }
  await services.followChanges();

  koa.use(cacheableJwks({ path: '/jwks', maxAgeSeconds: config.keys.jwksMaxAge }));
  // oidc-provider answers its own faults with 500 server_error; one caused by the
  // database being unreachable becomes 503 with Retry-After.
  provider.on('server_error', (ctx, error) => {
    if (isDatabaseUnavailable(error)) ctx.state.databaseUnavailable = true;
  });
  koa.use(async (ctx, next) => {
    await next();
    if (ctx.state.databaseUnavailable && ctx.status === 500) {
      answerUnavailable(ctx, String(ctx.state.requestId), render);
    }
  });
  koa.use(rejectUnsupportedMethods);
  koa.use(frontChannelPageHeaders);
  koa.use(edgeLimits.chargeAuthenticatedClients);
  koa.use(deviceSlowDown(services.rateLimits));
  koa.use(mount(provider));

  const purge = config.purgeIntervalSeconds > 0
    ? setInterval(() => {
        void services.counters.purgeExpired().catch((error: unknown) => logger.warn({ err: error }, 'purge of expired counters failed'));
        void services.stores.userTokens.purgeExpired().catch((error: unknown) => logger.warn({ err: error }, 'purge of expired mailed tokens failed'));
        services.stores.payloads.purgeExpired().then(
          (count) => count && logger.debug({ count }, 'purged expired artifacts'),
          (error: unknown) => logger.warn({ err: error }, 'purge of expired artifacts failed'),
        );
      }, config.purgeIntervalSeconds * 1000)
    : undefined;
  purge?.unref();
  const clockWatch = watchClockSkew({ db, logger, report: metrics.clockSkew });

  return {
    koa,
    adminKoa,
    provider,
    services,
    keySync,
    async close() {
      keySync.stop();
      clockWatch.stop();
      if (purge) clearInterval(purge);
      await recovery.close();
      await services.counters.close();
    },
  };
}

/**
 * Revocations into the audit trail (checklist K2): a grant revoked (refresh token or code
 * reuse, logout, an admin), and tokens revoked by their client at the revocation endpoint.
 */
function recordProtocolSecurityEvents(provider: Provider, events: ReturnType<typeof createSecurityEvents>, logger: Logger): void {
  const originOf = (ctx: Koa.Context | undefined) => ({
    ip: ctx?.ip,
    userAgent: ctx?.get('user-agent') || undefined,
    requestId: ctx?.state?.requestId as string | undefined,
  });
  const record = (event: Parameters<typeof events.record>[0]) => {
    events.record(event).catch((error: unknown) => logger.warn({ err: error, event: event.action }, 'could not record a security event'));
  };
  provider.on('grant.revoked', (ctx, grantId) => {
    const oidc = (ctx as { oidc?: { route?: string; client?: { clientId?: string } } }).oidc;
    const clientId = oidc?.client?.clientId;
    record({
      action: 'grant.revoked',
      clientId,
      actor: clientId ? { type: 'client', id: clientId } : { type: 'system', id: 'gatehouse' },
      origin: originOf(ctx),
      target: { type: 'grant', id: grantId },
      // token: a code or refresh token was presented again (reuse detection).
      details: { route: oidc?.route },
    });
  });
  for (const model of ['access_token', 'refresh_token'] as const) {
    (provider as unknown as NodeJS.EventEmitter).on(`${model}.destroyed`, (token: { jti?: string; grantId?: string; clientId?: string; accountId?: string }) => {
      const ctx = Provider.ctx as (Koa.Context & { oidc?: { route?: string } }) | undefined;
      if (ctx?.oidc?.route !== 'revocation') return;
      // The token's id is a digest of its value (adapter.ts): never the value itself.
      record({
        action: 'token.revoked',
        userId: token.accountId,
        clientId: token.clientId,
        actor: { type: 'client', id: token.clientId ?? 'unknown' },
        origin: originOf(ctx),
        target: { type: 'grant', id: token.grantId ?? 'none' },
        details: { kind: model, user_id: token.accountId ?? null },
      });
    });
  }
}

/**
 * Request id (a proxy's is kept when it looks like one, so logs line up across hops),
 * nosniff, the debug request log, and the last resort for anything below that did not
 * answer by itself: a bare JSON 500 with the request id, never the error's text.
 */
function requestEnvelope(logger: Logger, render?: Renderer) {
  return async (ctx: Koa.Context, next: Koa.Next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[\w.-]{8,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    ctx.set('X-Content-Type-Options', 'nosniff');
    const started = performance.now();
    try {
      await next();
    } catch (error) {
      ctx.set('Cache-Control', 'no-store');
      if (isDatabaseUnavailable(error)) {
        logger.warn({ requestId, route: routeLabel(ctx.path) }, 'database unavailable');
        answerUnavailable(ctx, requestId, render);
      } else {
        logger.error({ err: error, requestId, path: ctx.path }, 'unhandled error');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: 'An unexpected error occurred.', request_id: requestId };
      }
    } finally {
      // Built only when request logging is on: this runs for every token request.
      if (logger.isLevelEnabled('debug')) {
        // The route pattern, never the raw path: paths can carry codes and ids.
        const clientId = (ctx as { oidc?: { client?: { clientId?: string } } }).oidc?.client?.clientId;
        logger.debug({ requestId, method: ctx.method, route: routeLabel(ctx.path), status: ctx.status, ms: Math.round(performance.now() - started), clientId }, 'request');
      }
    }
  };
}
