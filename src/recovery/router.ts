// Self-service pages reached from the sign-in page or a mailed link: "forgot password",
// "choose a new password" and "confirm your email address". Opening a mailed link only
// shows a form (mail scanners open links too); the token is used by the form's POST.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/errors.js';
import { AppError } from '../errors.js';
import { networkOf } from '../security/login-throttle.js';
import type { LimitRule, RateLimits } from '../security/rate-limits.js';
import type { Renderer } from '../http/views.js';
import type { Logger } from '../logger.js';
import { normalizeEmail } from '../services/accounts.js';
import { TOKEN_LIFETIME_SECONDS, type TokenOutcome, type UserTokenService } from '../services/user-tokens.js';
import type { AuditActor } from '../stores/audit.js';
import type { Background } from '../util/background.js';
import type { FormCsrf } from './csrf.js';
import type { RecoveryNotifier } from './notifier.js';

export interface RecoveryDeps {
  userTokens: UserTokenService;
  notifier: RecoveryNotifier;
  render: Renderer;
  csrf: FormCsrf;
  logger: Logger;
  background: Background;
  /** Password-reset requests per IP address per hour. */
  resetRequestsPerHour: number;
  /** Counters shared by every instance. */
  rateLimits: RateLimits;
}

/** Reset mails one address may receive per hour, however many IP addresses ask. */
const RESETS_PER_ADDRESS_PER_HOUR = 5;

/** Where "back to sign-in" may lead: a sign-in page of this server, nothing else. */
const RETURN_PATH = /^\/interaction\/[A-Za-z0-9_-]{1,64}$/;

const forgotForm = z.object({ email: z.string().max(1000), return: z.string().max(200).optional() });
const resetForm = z.object({ token: z.string().max(200), password: z.string().max(4096), confirm: z.string().max(4096) });
const tokenForm = z.object({ token: z.string().max(200) });
const tokenQuery = z.object({ token: z.string().max(200) });

export function createRecoveryRouter(deps: RecoveryDeps): Router {
  const { userTokens, notifier, render, csrf, logger, background } = deps;
  const router = new Router();
  const perIp: LimitRule = { name: 'password-reset:ip', max: deps.resetRequestsPerHour, windowSeconds: 3600 };
  const perAddress: LimitRule = { name: 'password-reset:address', max: RESETS_PER_ADDRESS_PER_HOUR, windowSeconds: 3600 };
  /** Seconds to wait, or undefined when the request may go ahead. */
  const wait = async (rule: LimitRule, subject: string) => {
    const decision = await deps.rateLimits.take([{ rule, subject }]);
    return decision.allowed ? undefined : decision.resetSeconds;
  };
  // 16 KiB is far above any honest form here; more is refused with 413 before parsing.
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const errors = pageErrors(render, logger);

  const actorOf = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state.requestId as string | undefined });

  function notice(ctx: Context, status: number, page: { heading: string; message: string; hint?: string; link?: { href: string; label: string } }) {
    render(ctx, 'notice', { title: page.heading, ...page, error: status >= 400 }, status);
  }

  /** The posted fields, once the anti-CSRF token is right; 403 before anything else otherwise. */
  function readForm<T>(ctx: Context, schema: z.ZodType<T>): T {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrf.verify(ctx, body.csrf)) throw new AppError('forbidden', 'The form could not be verified. Reload the page and try again.');
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new AppError('invalid_input', 'The form was incomplete or malformed.');
    return parsed.data;
  }

  function readToken(ctx: Context): string | undefined {
    const parsed = tokenQuery.safeParse(ctx.query);
    return parsed.success ? parsed.data.token : undefined;
  }

  const requestNewLink = { href: '/password/forgot', label: 'Request a new link' };

  function refuseLink(ctx: Context, outcome: TokenOutcome, purpose: 'reset' | 'verify') {
    const retry = purpose === 'reset' ? { link: requestNewLink } : { hint: 'Ask for a new confirmation email.' };
    if (outcome.status === 'address_changed') {
      notice(ctx, 400, {
        heading: 'This link is for another address',
        message: 'The link was sent to an email address that is no longer the one on the account.',
        ...retry,
      });
      return;
    }
    const lifetime = purpose === 'reset' ? `${TOKEN_LIFETIME_SECONDS.password_reset / 60} minutes` : `${TOKEN_LIFETIME_SECONDS.email_verification / 3600} hours`;
    notice(ctx, 400, {
      heading: 'This link no longer works',
      message: `The link is not valid, was already used, or has expired. Each link works once, for ${lifetime}, and only the latest one sent works.`,
      ...retry,
    });
  }

  function renderForgot(ctx: Context, data: { email?: string; error?: string; returnTo?: string | undefined }, status = 200) {
    render(ctx, 'forgot-password', { title: 'Reset your password', csrf: csrf.tokenFor(ctx), email: data.email ?? '', error: data.error, returnTo: data.returnTo }, status);
  }

  function renderReset(ctx: Context, token: string, email: string, error?: string) {
    render(ctx, 'reset-password', { title: 'Choose a new password', csrf: csrf.tokenFor(ctx), token, email, error }, error ? 400 : 200);
  }

  const unavailable = (ctx: Context) =>
    notice(ctx, 503, {
      heading: 'Password reset is not available',
      message: 'This server cannot send email, so passwords cannot be reset from here.',
      hint: 'Ask your administrator to set a new password for you.',
    });

  const returnPath = (value: unknown) => (typeof value === 'string' && RETURN_PATH.test(value) ? value : undefined);

  router.get('/password/forgot', errors, async (ctx) => {
    if (!notifier.enabled) return unavailable(ctx);
    renderForgot(ctx, { returnTo: returnPath(ctx.query.return) });
  });

  router.post('/password/forgot', errors, form, async (ctx) => {
    if (!notifier.enabled) return unavailable(ctx);
    const data = readForm(ctx, forgotForm);
    const returnTo = returnPath(data.return);
    const email = data.email.trim();
    if (!z.email().max(254).safeParse(email).success) {
      renderForgot(ctx, { email, returnTo, error: 'Enter the email address of your account.' }, 400);
      return;
    }
    const ipWait = await wait(perIp, networkOf(ctx.ip));
    if (ipWait !== undefined) {
      ctx.set('Retry-After', String(ipWait));
      notice(ctx, 429, { heading: 'Too many requests', message: 'Too many password resets were asked for from your network.', hint: `Try again in ${Math.ceil(ipWait / 60)} minutes.` });
      return;
    }
    // From here the answer is the same whether or not the address has an account; the
    // lookup, the token and the mail all happen after it has been sent.
    if ((await wait(perAddress, normalizeEmail(email))) === undefined) {
      const actor: AuditActor = { type: 'system', id: 'password-reset', ...actorOf(ctx) };
      background.run('password reset mail', () => notifier.passwordReset(email, actor));
    } else {
      logger.info({ event: 'password_reset.address_limited', requestId: ctx.state.requestId }, 'password reset not sent: too many for this address');
    }
    notice(ctx, 200, {
      heading: 'Check your email',
      message: `If an account exists for that address, we have sent it a link to choose a new password. The link works for ${TOKEN_LIFETIME_SECONDS.password_reset / 60} minutes.`,
      hint: 'No email? Check your spam folder, or make sure you typed the address of your account.',
      ...(returnTo ? { link: { href: returnTo, label: 'Back to sign in' } } : {}),
    });
  });

  router.get('/password/reset', errors, async (ctx) => {
    const token = readToken(ctx);
    const outcome = await userTokens.check(token, 'password_reset');
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'reset');
    renderReset(ctx, token!, outcome.email);
  });

  router.post('/password/reset', errors, form, async (ctx) => {
    const data = readForm(ctx, resetForm);
    const outcome = await userTokens.check(data.token, 'password_reset');
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'reset');
    if (data.password !== data.confirm) return renderReset(ctx, data.token, outcome.email, 'The two passwords do not match.');
    let result: TokenOutcome;
    try {
      result = await userTokens.resetPassword(data.token, data.password, actorOf(ctx));
    } catch (error) {
      // The password rules (length, blocklist…) speak for themselves; the link still works.
      if (error instanceof AppError && error.code === 'invalid_input') {
        return renderReset(ctx, data.token, outcome.email, `The new password ${error.fields[0]?.message ?? 'is not allowed'}.`);
      }
      throw error;
    }
    if (result.status !== 'valid') return refuseLink(ctx, result, 'reset');
    notice(ctx, 200, {
      heading: 'Your password has been changed',
      message: 'You have been signed out everywhere. Go back to the application you were using and sign in with your new password.',
    });
  });

  router.get('/email/verify', errors, async (ctx) => {
    const token = readToken(ctx);
    const outcome = await userTokens.check(token, 'email_verification');
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'verify');
    render(ctx, 'verify-email', { title: 'Confirm your email address', csrf: csrf.tokenFor(ctx), token, email: outcome.email });
  });

  router.post('/email/verify', errors, form, async (ctx) => {
    const data = readForm(ctx, tokenForm);
    const outcome = await userTokens.verifyEmail(data.token, actorOf(ctx));
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'verify');
    notice(ctx, 200, { heading: 'Email address confirmed', message: `${outcome.email} is confirmed. You can close this window.` });
  });

  return router;
}

/** Bad input becomes a friendly page with a 4xx; an unreachable database the busy page. */
function pageErrors(render: Renderer, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const status = statusOf(error);
      const page = (code: number, heading: string, message: string, hint?: string) =>
        render(ctx, 'notice', { title: heading, heading, message, hint, error: true, reference: true }, code);
      if (status === 503) {
        ctx.set('Retry-After', '5');
        page(503, 'Gatehouse is busy', error instanceof AppError ? error.message : 'Too many requests are being processed.', 'Wait a few seconds and try again.');
      } else if (status >= 500) {
        logger.error({ err: error, path: ctx.path, requestId: ctx.state.requestId }, 'recovery page failed');
        page(500, 'Something went wrong', 'This step could not be completed. Nothing was changed.', 'Try again in a moment.');
      } else {
        logger.debug({ err: error, status, path: ctx.path }, 'recovery page refused');
        const message = error instanceof AppError ? error.message : status === 413 ? 'The form was too large.' : 'The form was incomplete or malformed.';
        page(status, status === 403 ? 'This form has expired' : 'That did not work', message, 'Go back, reload the page and try again.');
      }
    }
  };
}

function statusOf(error: unknown): number {
  if (error instanceof AppError) return error.status;
  if (isDatabaseUnavailable(error)) return 503;
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
