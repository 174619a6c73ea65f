// JSON endpoints the passkey scripts on the sign-in, second-factor and account pages
// call. The browser side runs @simplewebauthn/browser, served from our own origin at
// /assets/webauthn.js (see assets.ts).
//
// Anti-CSRF: every call is a POST with a JSON body (a cross-site form cannot send
// application/json without a CORS preflight, which Gatehouse never grants) and carries
// the page's CSRF token in the X-CSRF-Token header: the interaction's token on sign-in
// pages (interactions/csrf.ts), the account page's token on the account page.
import { randomUUID } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors as oidcErrors } from 'oidc-provider';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/errors.js';
import { AppError } from '../errors.js';
import type { Csrf } from '../interactions/csrf.js';
import { translateServiceMessage, type Translate } from '../i18n/translator.js';
import type { Logger } from '../logger.js';
// A user-verified passkey, or password + passkey, proves two factors.
import { ACR_MFA } from '../services/mfa.js';
import { passkeyAmr, type PasskeyService, type RequestContext } from '../services/passkeys.js';
import type { SecurityEvents } from '../services/security-events.js';
import type { UserRecord } from '../stores/users.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../http/unavailable.js';

export const CSRF_HEADER = 'x-csrf-token';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** Who is signed in to the account pages, and their CSRF check (owned by the account area). */
export interface AccountGate {
  /**
   * The signed-in, enabled user of this browser, if any, whether they signed in recently,
   * and the uid of the browser session (which survives the user's credential changes).
   */
  currentUser(ctx: Context): Promise<{ user: UserRecord; recentSignIn: boolean; sessionUid: string } | undefined>;
  /** Whether `token` is the account page's CSRF token for this browser. */
  verifyCsrf(ctx: Context, token: string): Promise<boolean> | boolean;
}

/** The second-factor step of an interaction (owned by the interaction router). */
export interface SecondFactorGate {
  /** The user whose password was accepted in this interaction and who must now prove a second factor. */
  pendingUser(ctx: Context, details: Details): Promise<string | undefined>;
  /** Finishes the interaction for that user with the passkey as second factor; returns where the browser goes next. */
  complete(ctx: Context, details: Details, userId: string, amr: string[]): Promise<string>;
}

export interface PasskeyRouterDeps {
  provider: Provider;
  passkeys: PasskeyService;
  csrf: Csrf;
  logger: Logger;
  recordLogin(result: 'success' | 'failure'): void;
  /** Sign-in successes and failures into the log and the audit trail, as for passwords. */
  securityEvents: SecurityEvents;
  account?: AccountGate | undefined;
  secondFactor?: SecondFactorGate | undefined;
  /** The pages' translator: error_description is shown on the page, in its language. */
  translator?: ((ctx: Context) => Translate) | undefined;
}

const credentialBody = z.object({ credential: z.unknown() }).strict();
const registrationBody = z.object({ credential: z.unknown(), name: z.unknown() }).strict();
const emptyBody = z.object({}).strict();
const passkeyId = z.string().min(1).max(1400).regex(/^[\w-]+$/);

/** The pending registration of an account page is bound to this browser by a signed cookie. */
const REGISTRATION_COOKIE = 'gatehouse.passkey-registration';

export function createPasskeyRouter(deps: PasskeyRouterDeps): Router {
  const { provider, passkeys, csrf } = deps;
  const router = new Router();

  router.use(['/interaction/:uid/passkey', '/account/passkeys'], jsonErrors(deps.logger, deps.translator));
  router.use(['/interaction/:uid/passkey', '/account/passkeys'], noStore);
  // The largest honest body is an attestation of a few KiB.
  router.use(['/interaction/:uid/passkey', '/account/passkeys'], bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));

  /** The interaction bound to this browser's cookie, checked against the URL and the CSRF header. */
  async function loadInteraction(ctx: Context): Promise<Details> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== ctx.params['uid']) throw new oidcErrors.SessionNotFound('interaction cookie does not match the URL');
    if (!csrf.verify(details.uid, ctx.get(CSRF_HEADER))) throw new AppError('forbidden', 'The request could not be verified. Reload the page and try again.');
    return details;
  }

  function readBody<T>(ctx: Context, schema: z.ZodType<T>): T {
    if (!ctx.is('application/json')) throw new AppError('unsupported_media_type', 'Send application/json.');
    const parsed = schema.safeParse(ctx.request.body ?? {});
    if (!parsed.success) throw new AppError('invalid_input', 'The request was incomplete or malformed.');
    return parsed.data;
  }

  const requestContext = (ctx: Context): RequestContext => ({
    ip: ctx.ip,
    userAgent: ctx.get('user-agent') || undefined,
    requestId: ctx.state.requestId as string | undefined,
  });

  // Passwordless sign-in: any discoverable passkey for this RP; the authenticator must
  // verify the user, so the passkey alone proves two factors.
  router.post('/interaction/:uid/passkey/options', async (ctx) => {
    const details = await loadInteraction(ctx);
    readBody(ctx, emptyBody);
    if (details.prompt.name !== 'login') throw new AppError('invalid_input', 'This sign-in step is already complete.');
    ctx.body = await passkeys.authenticationOptions(`login:${details.uid}`, { userVerification: 'required' });
  });

  router.post('/interaction/:uid/passkey/verify', async (ctx) => {
    const details = await loadInteraction(ctx);
    const body = readBody(ctx, credentialBody);
    if (details.prompt.name !== 'login') throw new AppError('invalid_input', 'This sign-in step is already complete.');
    const clientId = String(details.params['client_id']);
    let use;
    try {
      use = await passkeys.authenticate(`login:${details.uid}`, body.credential, { requireUserVerification: true }, requestContext(ctx));
    } catch (error) {
      if (error instanceof AppError) {
        deps.recordLogin('failure');
        // No user: a refused assertion proves nothing about whose it claims to be.
        await deps.securityEvents.record({ action: 'login.failure', clientId, origin: requestContext(ctx), details: { method: 'passkey' } });
      }
      throw error;
    }
    deps.recordLogin('success');
    await deps.securityEvents.record({ action: 'login.success', userId: use.userId, clientId, origin: requestContext(ctx), details: { method: 'passkey' } });
    const redirect = await provider.interactionResult(ctx.req, ctx.res, {
      login: { accountId: use.userId, amr: passkeyAmr(use), acr: ACR_MFA, ts: Math.floor(Date.now() / 1000) },
    }, { mergeWithLastSubmission: false });
    ctx.body = { redirect };
  });

  // Second factor, after the password step of the same interaction: only that user's passkeys.
  router.post('/interaction/:uid/passkey/second-factor/options', async (ctx) => {
    const details = await loadInteraction(ctx);
    readBody(ctx, emptyBody);
    const userId = await pendingSecondFactor(ctx, details);
    ctx.body = await passkeys.authenticationOptions(`mfa:${details.uid}`, { userId, userVerification: 'preferred' });
  });

  router.post('/interaction/:uid/passkey/second-factor/verify', async (ctx) => {
    const details = await loadInteraction(ctx);
    const body = readBody(ctx, credentialBody);
    const userId = await pendingSecondFactor(ctx, details);
    const event = { userId, clientId: String(details.params['client_id']), origin: requestContext(ctx), details: { method: 'passkey', step: 'second_factor' } };
    let use;
    try {
      use = await passkeys.authenticate(`mfa:${details.uid}`, body.credential, { requireUserVerification: false }, requestContext(ctx));
      if (use.userId !== userId) throw new AppError('forbidden', 'The passkey could not be verified. Try again.');
    } catch (error) {
      if (error instanceof AppError) await deps.securityEvents.record({ action: 'login.failure', ...event });
      throw error;
    }
    // As a code on the second-factor page does: the sign-in is complete now.
    await deps.securityEvents.record({ action: 'login.success', ...event });
    ctx.body = { redirect: await deps.secondFactor!.complete(ctx, details, userId, ['pwd', use.deviceType === 'multiDevice' ? 'swk' : 'hwk', 'mfa']) };
  });

  async function pendingSecondFactor(ctx: Context, details: Details): Promise<string> {
    const userId = deps.secondFactor ? await deps.secondFactor.pendingUser(ctx, details) : undefined;
    if (!userId) throw new AppError('invalid_input', 'Sign in with your password first.');
    return userId;
  }

  /**
   * The account page's user, after its CSRF check. Adding or removing a passkey changes
   * how the account can be signed in to, so, like a password change, it needs a recent
   * sign-in: a stolen or forgotten session cannot plant a passkey of its own.
   */
  async function accountUser(ctx: Context, change: boolean): Promise<{ user: UserRecord; sessionUid: string }> {
    const gate = deps.account;
    const current = gate ? await gate.currentUser(ctx) : undefined;
    if (!gate || !current) throw new AppError('unauthorized', 'Sign in to manage your passkeys.');
    if (!(await gate.verifyCsrf(ctx, ctx.get(CSRF_HEADER)))) throw new AppError('forbidden', 'The request could not be verified. Reload the page and try again.');
    if (change && !current.recentSignIn) throw new ReauthenticationRequired();
    return { user: current.user, sessionUid: current.sessionUid };
  }

  router.get('/account/passkeys', async (ctx) => {
    const { user } = await accountUser(ctx, false);
    ctx.body = { passkeys: await passkeys.list(user.id) };
  });

  router.post('/account/passkeys/options', async (ctx) => {
    const { user } = await accountUser(ctx, true);
    readBody(ctx, emptyBody);
    const flow = `register:${randomUUID()}`;
    const options = await passkeys.registrationOptions(user, flow);
    // The registration can be finished only by the browser that started it.
    ctx.cookies.set(REGISTRATION_COOKIE, flow, { httpOnly: true, sameSite: 'strict', signed: true, path: '/account/passkeys', maxAge: 300_000, overwrite: true, secure: ctx.secure });
    ctx.body = options;
  });

  router.post('/account/passkeys', async (ctx) => {
    const { user, sessionUid } = await accountUser(ctx, true);
    const body = readBody(ctx, registrationBody);
    const flow = ctx.cookies.get(REGISTRATION_COOKIE, { signed: true });
    ctx.cookies.set(REGISTRATION_COOKIE, null, { path: '/account/passkeys', overwrite: true });
    if (!flow?.startsWith('register:')) throw new AppError('forbidden', 'Start adding the passkey again.');
    const created = await passkeys.register(user.id, flow, body, requestContext(ctx), sessionUid);
    deps.logger.info({ event: 'passkey.register', userId: user.id, requestId: ctx.state.requestId }, 'passkey registered');
    ctx.status = 201;
    ctx.body = { passkey: created };
  });

  router.delete('/account/passkeys/:id', async (ctx) => {
    const { user, sessionUid } = await accountUser(ctx, true);
    const id = passkeyId.safeParse(ctx.params['id']);
    if (!id.success) throw new AppError('not_found', 'There is no such passkey on your account.');
    await passkeys.remove(user.id, id.data, requestContext(ctx), sessionUid);
    deps.logger.info({ event: 'passkey.remove', userId: user.id, requestId: ctx.state.requestId }, 'passkey removed');
    ctx.status = 204;
  });

  return router;
}

async function noStore(ctx: Context, next: Next): Promise<void> {
  await next();
  ctx.set('Cache-Control', 'no-store');
}

/** A credential change asked of a session that signed in too long ago. */
class ReauthenticationRequired extends AppError {
  constructor() {
    super('forbidden', 'For your safety, sign in again before changing your passkeys.');
  }
}

/** Errors become `{ error, error_description }` JSON with the error's status; faults a bare 500. */
function jsonErrors(logger: Logger, translator?: (ctx: Context) => Translate) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      let status: number;
      let code: string;
      let message: string;
      if (error instanceof ReauthenticationRequired) {
        status = error.status;
        code = 'reauthentication_required';
        ({ message } = error);
      } else if (error instanceof AppError) {
        ({ status, code, message } = error);
      } else if (error instanceof oidcErrors.OIDCProviderError) {
        status = 400;
        code = 'interaction_expired';
        message = 'This sign-in page has expired. Go back to the application and start again.';
      } else if (isDatabaseUnavailable(error)) {
        status = 503;
        code = 'unavailable';
        message = 'Gatehouse is busy. Try again in a few seconds.';
        ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      } else if (typeof (error as { status?: unknown }).status === 'number' && (error as { status: number }).status < 500) {
        // Body parser refusals (413, 415, 400).
        status = (error as { status: number }).status;
        code = 'invalid_input';
        message = 'The request was malformed or too large.';
      } else {
        logger.error({ err: error, path: ctx.path, requestId: ctx.state.requestId }, 'passkey request failed');
        status = 500;
        code = 'server_error';
        message = 'Something went wrong. Nothing was changed.';
      }
      ctx.status = status;
      ctx.body = { error: code, error_description: translator ? translateServiceMessage(translator(ctx), message) : message };
    }
  };
}
