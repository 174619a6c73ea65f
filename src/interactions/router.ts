// The login, consent and abort steps of an authorization request. Handlers drive
// oidc-provider through interactionDetails / interactionResult (reading the Client and
// Grant models it owns); what decides (credentials, consent records) lives in services.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors as oidcErrors } from 'oidc-provider';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/errors.js';
import { sha256 } from '../crypto/random.js';
import { AppError } from '../errors.js';
import type { Renderer } from '../http/views.js';
import type { Logger } from '../logger.js';
import type { AccountService } from '../services/accounts.js';
import type { ConsentService } from '../services/consents.js';
import type { MfaService } from '../services/mfa.js';
import { SUPPORTED_SCOPES } from '../services/clients.js';
import { adminScopesFor } from '../services/roles.js';
import type { ApiRecord } from '../stores/apis.js';
import { throttleSubject, type LoginThrottle } from '../security/login-throttle.js';
import { PASSWORD_MAX_BYTES } from '../services/passwords.js';
import type { SecurityEvents } from '../services/security-events.js';
import { translateServiceMessage, type Translate } from '../i18n/translator.js';
import type { Csrf } from './csrf.js';
import { describeScopes } from './scope-descriptions.js';
import { createSecondFactor } from './second-factor.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../http/unavailable.js';

export interface InteractionDeps {
  provider: Provider;
  accounts: AccountService;
  consents: ConsentService;
  /** The second factor (authenticator app, recovery codes). */
  mfa: MfaService;
  /** Whether the user has a passkey (usable as the second factor). */
  hasPasskey(userId: string): Promise<boolean>;
  render: Renderer;
  csrf: Csrf;
  logger: Logger;
  recordLogin(result: 'success' | 'failure' | 'refused'): void;
  /** Failed sign-ins per account name and per IP, shared by every instance. */
  loginThrottle: LoginThrottle;
  securityEvents: SecurityEvents;
  /** The admin API's resource indicator: its scopes go only to users holding the matching role. */
  adminAudience: string;
  /** A registered API, for the descriptions of its scopes on the consent page. */
  findApi(indicator: string): Promise<ApiRecord | undefined>;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const loginForm = z.object({
  csrf: z.string().max(100),
  login: z.string().max(254),
  // Longer passwords are refused before any hashing (the service enforces the byte cap).
  password: z.string().max(4096),
});
const csrfOnly = z.object({ csrf: z.string().max(100) }).loose();

export function createInteractionRouter(deps: InteractionDeps): Router {
  const { provider, accounts, consents, render, csrf } = deps;
  const router = new Router({ prefix: '/interaction/:uid' });

  router.use(pageErrors(deps));
  // 16 KiB is far above any honest login form; more is refused with 413 before parsing.
  router.use(async (ctx, next) => {
    // The forms post urlencoded; any other body type is refused as such, not misread.
    if (ctx.method === 'POST' && ctx.request.length && !ctx.is('application/x-www-form-urlencoded')) {
      throw new AppError('unsupported_media_type', 'The form was sent in a format this page does not accept.');
    }
    await next();
  });
  router.use(bodyParser({ enableTypes: ['form'], formLimit: '16kb' }));

  /** Loads the interaction bound to this browser's cookie and checks it is the one in the URL. */
  async function load(ctx: Context): Promise<Details> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params['uid']) throw new oidcErrors.SessionNotFound('interaction cookie does not match the URL');
    // The pages of this sign-in speak the language the application asked for (ui_locales).
    ctx.state.uiLocales = details.params['ui_locales'];
    return details;
  }

  function readForm<T>(ctx: Context, schema: z.ZodType<T>, uid: string): T {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    // The anti-forgery token first: a cross-site form is refused as such (403), whatever else it holds.
    if (!csrf.verify(uid, body['csrf'])) {
      throw new AppError('forbidden', 'The form could not be verified. Reload the page and try again.');
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new AppError('invalid_input', 'The form was incomplete or malformed.');
    return parsed.data;
  }

  async function finish(ctx: Context, result: Parameters<Provider['interactionResult']>[2]): Promise<void> {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    // 303: the browser must follow with a GET, never re-POST credentials (RFC 9700 §4.12).
    ctx.redirect(returnTo);
    ctx.status = 303;
  }

  async function clientInfo(details: Details): Promise<{ name: string; logo?: string | undefined; firstParty: boolean; dynamic: boolean }> {
    const client = await provider.Client.find(String(details.params['client_id']));
    return {
      name: client?.clientName ?? String(details.params['client_id']),
      logo: client?.logoUri,
      firstParty: client?.['first_party'] === true,
      dynamic: client?.['gatehouse_dynamic'] === true,
    };
  }

  /** What each API scope asked for means, in the API's own words where it gave them. */
  async function describeResourceScopes(ctx: Context, details: Details): Promise<string[]> {
    const t = render.translator(ctx);
    const missing = (details.prompt.details as { missingResourceScopes?: Record<string, string[]> }).missingResourceScopes ?? {};
    const descriptions: string[] = [];
    for (const [indicator, scopes] of Object.entries(missing)) {
      if (indicator === deps.adminAudience) {
        descriptions.push(...describeScopes(scopes, t));
        continue;
      }
      const api = await deps.findApi(indicator);
      for (const scope of scopes) {
        const described = api?.scopes.find((defined) => defined.name === scope)?.description;
        descriptions.push(described || t('scope.ofApi', { scope, api: api?.name ?? indicator }));
      }
    }
    return descriptions;
  }

  /** Admin API scopes asked for that the signed-in user's roles do not allow. */
  async function refusedAdminScopes(details: Details): Promise<string[]> {
    const missing = (details.prompt.details as { missingResourceScopes?: Record<string, string[]> }).missingResourceScopes ?? {};
    const asked = missing[deps.adminAudience];
    if (!asked?.length) return [];
    const accountId = details.session?.accountId;
    const user = accountId ? await accounts.findById(accountId) : undefined;
    const allowed = adminScopesFor(user?.roles ?? []);
    return asked.filter((scope) => !allowed.includes(scope));
  }

  /** Records in the grant everything the consent prompt says is missing that this user may have. */
  async function grantRequested(details: Details): Promise<string> {
    const accountId = details.session?.accountId;
    const clientId = String(details.params['client_id']);
    // A new grant is named after the interaction, so a consent form sent twice at once
    // writes one grant, not two of which one would never be used.
    const fresh = () => Object.assign(new provider.Grant({ accountId, clientId }), { jti: sha256(`grant:${details.uid}`) });
    const grant = details.grantId ? ((await provider.Grant.find(details.grantId)) ?? fresh()) : fresh();
    const prompt = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const scopes = prompt.missingOIDCScope?.length ? prompt.missingOIDCScope : requestedScopes(details).filter(isOidcScope);
    grant.addOIDCScope(scopes.join(' '));
    if (prompt.missingOIDCClaims?.length) grant.addOIDCClaims(prompt.missingOIDCClaims);
    for (const [indicator, resourceScopes] of Object.entries(prompt.missingResourceScopes ?? {})) {
      let granted = resourceScopes;
      if (indicator === deps.adminAudience) {
        // Admin scopes follow the user's roles; asking is not enough.
        const user = accountId ? await accounts.findById(accountId) : undefined;
        const allowed = adminScopesFor(user?.roles ?? []);
        granted = resourceScopes.filter((scope) => allowed.includes(scope));
      }
      if (granted.length) grant.addResourceScope(indicator, granted.join(' '));
    }
    return grant.save();
  }

  function renderLogin(ctx: Context, details: Details, name: string, extra: { error?: string; login?: string }, status = 200) {
    render(ctx, 'login', {
      title: render.translator(ctx)('login.title'),
      uid: details.uid,
      csrf: csrf.tokenFor(details.uid),
      clientName: name,
      login: extra.login ?? (typeof details.params['login_hint'] === 'string' ? details.params['login_hint'] : ''),
      error: extra.error,
    }, status);
  }

  const secondFactor = createSecondFactor({
    mfa: deps.mfa,
    hasPasskey: deps.hasPasskey,
    securityEvents: deps.securityEvents,
    render,
    csrf,
    logger: deps.logger,
    load,
    readForm,
    finish,
    clientName: async (details) => (await clientInfo(details)).name,
    client: async (details) => (await provider.Client.find(String(details.params['client_id']))) as { require_mfa?: unknown } | undefined,
  });
  secondFactor.register(router);

  router.get('/', async (ctx) => {
    const details = await load(ctx);
    const client = await clientInfo(details);
    if (details.prompt.name === 'login') {
      if (await secondFactor.renderIfPending(ctx, details)) return;
      renderLogin(ctx, details, client.name, {});
      return;
    }
    if (details.prompt.name === 'consent') {
      const refused = await refusedAdminScopes(details);
      if (refused.length) {
        // Granting less than asked would only bring the consent prompt back: say no.
        await finish(ctx, { error: 'access_denied', error_description: `the user may not be granted ${refused.join(' ')} (an admin role is required)` });
        return;
      }
      if (client.firstParty) {
        // Trusted first-party applications never show a consent page.
        await finish(ctx, { consent: { grantId: await grantRequested(details) } });
        return;
      }
      const missing = missingScopes(details);
      const user = details.session?.accountId ? await accounts.findById(details.session.accountId) : undefined;
      const t = render.translator(ctx);
      render(ctx, 'consent', {
        title: t('consent.title'),
        uid: details.uid,
        csrf: csrf.tokenFor(details.uid),
        clientName: client.name,
        logoUri: client.logo,
        // A client that registered itself has not been reviewed by an administrator.
        unverified: client.dynamic,
        descriptions: [
          ...describeScopes(missing.length ? missing : requestedScopes(details).filter(isOidcScope), t),
          ...(await describeResourceScopes(ctx, details)),
        ],
        accountLabel: user?.email ?? t('consent.yourAccount'),
      });
      return;
    }
    throw new AppError('invalid_input', `Unsupported interaction step ${details.prompt.name}.`);
  });

  router.post('/login', async (ctx) => {
    const details = await load(ctx);
    const form = readForm(ctx, loginForm, details.uid);
    if (details.prompt.name !== 'login') throw new AppError('invalid_input', 'This sign-in step is already complete.');
    const clientId = String(details.params['client_id']);
    const origin = requestOrigin(ctx);
    // Oversized input is refused before anything else: no counter, no lookup, no hashing.
    if (Buffer.byteLength(form.password, 'utf8') > PASSWORD_MAX_BYTES || form.login.length > 254) {
      throw new AppError('invalid_input', 'The email, username or password is too long.');
    }
    // The account the name belongs to, if any: its email and username share one count.
    const known = form.login.trim() ? await accounts.find(form.login.trim()).catch(() => undefined) : undefined;
    const subject = throttleSubject(form.login, known);
    // Counted before any hashing: a locked account or a stuffing network costs no argon2 work.
    const verdict = form.login.trim() ? await deps.loginThrottle.begin(subject, ctx.ip) : ({ refused: false, attempt: 0 } as const);
    if (verdict.refused) {
      deps.recordLogin('refused');
      await deps.securityEvents.record({ action: 'login.refused', userId: known?.id, clientId, origin, details: { reason: verdict.reason } });
      const { name } = await clientInfo(details);
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      // The same words whether or not an account has this name: names without one lock too.
      renderLogin(ctx, details, name, { error: tooManyAttemptsMessage(render.translator(ctx), verdict.retryAfterSeconds), login: form.login }, 429);
      return;
    }
    const user = form.login.trim() && form.password ? await accounts.authenticate(form.login, form.password) : undefined;
    if (!user) {
      deps.recordLogin('failure');
      const { lockedForSeconds } = form.login.trim() ? await deps.loginThrottle.failed(subject, verdict.attempt) : {};
      await deps.securityEvents.record({ action: 'login.failure', userId: known?.id, clientId, origin });
      if (lockedForSeconds) {
        await deps.securityEvents.record({ action: 'login.locked', userId: known?.id, clientId, origin, details: { seconds: lockedForSeconds } });
      }
      const { name } = await clientInfo(details);
      // 400, not 401: a form login has no WWW-Authenticate challenge to offer (RFC 9110 §15.5.2).
      renderLogin(ctx, details, name, { error: render.translator(ctx)('login.incorrect'), login: form.login }, 400);
      return;
    }
    await deps.loginThrottle.succeeded(subject, ctx.ip);
    deps.recordLogin('success');
    // Signed in now, or after a second factor (second-factor.ts), which records the success then.
    const outcome = await secondFactor.afterPassword(ctx, details, user);
    await deps.securityEvents.record({ action: outcome === 'signed_in' ? 'login.success' : 'login.password_verified', userId: user.id, clientId, origin });
  });

  router.post('/confirm', async (ctx) => {
    const details = await load(ctx);
    readForm(ctx, csrfOnly, details.uid);
    if (details.prompt.name !== 'consent') throw new AppError('invalid_input', 'There is nothing to confirm for this sign-in.');
    const accountId = details.session?.accountId;
    if (!accountId) throw new AppError('invalid_input', 'Sign in first.');
    const refused = await refusedAdminScopes(details);
    if (refused.length) {
      await finish(ctx, { error: 'access_denied', error_description: `the user may not be granted ${refused.join(' ')} (an admin role is required)` });
      return;
    }
    const grantId = await grantRequested(details);
    await consents.remember(accountId, String(details.params['client_id']), requestedScopes(details).filter(isOidcScope));
    await finish(ctx, { consent: { grantId } });
  });

  router.post('/abort', async (ctx) => {
    const details = await load(ctx);
    readForm(ctx, csrfOnly, details.uid);
    await finish(ctx, { error: 'access_denied', error_description: 'The user denied the request.' });
  });

  return router;
}

function requestOrigin(ctx: Context) {
  return { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state.requestId as string | undefined };
}

function tooManyAttemptsMessage(t: Translate, seconds: number): string {
  const wait = seconds < 90 ? t('time.seconds', { count: seconds }) : t('time.minutes', { count: Math.ceil(seconds / 60) });
  return t('login.tooMany', { wait });
}

function requestedScopes(details: Details): string[] {
  return String(details.params['scope'] ?? '').split(' ').filter(Boolean);
}

function missingScopes(details: Details): string[] {
  const missing = (details.prompt.details as { missingOIDCScope?: string[] }).missingOIDCScope;
  return Array.isArray(missing) ? missing : [];
}

const isOidcScope = (scope: string) => (SUPPORTED_SCOPES as readonly string[]).includes(scope);

/** Errors on these pages become a friendly page with a 4xx; faults a generic 500 page. */
function pageErrors(deps: InteractionDeps) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const status = statusOf(error);
      const t = deps.render.translator(ctx);
      deps.logger.debug({ err: error, status, path: ctx.path }, 'interaction refused');
      if (status === 503) {
        ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
        deps.render(ctx, 'error', {
          title: t('error.busyTitle'),
          heading: t('error.busyHeading'),
          message: error instanceof AppError ? translateServiceMessage(t, error.message) : t('error.busyMessage'),
          hint: t('error.busyHint'),
        }, 503);
      } else if (status >= 500) {
        deps.logger.error({ err: error, path: ctx.path, requestId: ctx.state.requestId }, 'interaction failed');
        deps.render(ctx, 'error', {
          title: t('error.faultTitle'),
          heading: t('error.faultHeading'),
          message: t('error.faultMessage'),
          hint: t('error.faultHint'),
        }, 500);
      } else if (error instanceof oidcErrors.OIDCProviderError) {
        // The interaction is unknown, expired, finished, or belongs to another browser.
        deps.render(ctx, 'error', {
          title: t('error.expiredTitle'),
          heading: t('error.expiredHeading'),
          message: t('error.expiredMessage'),
          hint: t('error.expiredHint'),
        }, 400);
      } else {
        const message = error instanceof AppError ? translateServiceMessage(t, error.message) : status === 413 ? t('error.tooLarge') : t('error.malformed');
        deps.render(ctx, 'error', { title: t('error.refusedTitle'), heading: t('error.refusedHeading'), message, hint: t('error.goBack') }, status);
      }
    }
  };
}

function statusOf(error: unknown): number {
  if (error instanceof AppError) return error.status;
  // The database is unreachable: the "busy, try again" page, not a fault.
  if (isDatabaseUnavailable(error)) return 503;
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : 500;
}
