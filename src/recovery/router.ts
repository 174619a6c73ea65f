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
import { translateServiceMessage } from '../i18n/translator.js';
import type { Logger } from '../logger.js';
import { normalizeEmail } from '../services/accounts.js';
import { TOKEN_LIFETIME_SECONDS, type TokenOutcome, type UserTokenService } from '../services/user-tokens.js';
import type { AuditActor } from '../stores/audit.js';
import type { Background } from '../util/background.js';
import type { FormCsrf } from './csrf.js';
import type { RecoveryNotifier } from './notifier.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../http/unavailable.js';

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

  function refuseLink(ctx: Context, outcome: TokenOutcome, purpose: 'reset' | 'verify') {
    const t = render.translator(ctx);
    const retry = purpose === 'reset' ? { link: { href: '/password/forgot', label: t('link.newLink') } } : { hint: t('link.newMail') };
    if (outcome.status === 'address_changed') {
      notice(ctx, 400, {
        heading: t('link.otherAddressHeading'),
        message: t('link.otherAddressMessage'),
        ...retry,
      });
      return;
    }
    const lifetime = purpose === 'reset'
      ? t('time.minutes', { count: TOKEN_LIFETIME_SECONDS.password_reset / 60 })
      : t('link.hours', { count: TOKEN_LIFETIME_SECONDS.email_verification / 3600 });
    notice(ctx, 400, {
      heading: t('link.deadHeading'),
      message: t('link.deadMessage', { lifetime }),
      ...retry,
    });
  }

  function renderForgot(ctx: Context, data: { email?: string; error?: string; returnTo?: string | undefined }, status = 200) {
    render(ctx, 'forgot-password', { title: render.translator(ctx)('forgot.title'), csrf: csrf.tokenFor(ctx), email: data.email ?? '', error: data.error, returnTo: data.returnTo }, status);
  }

  function renderReset(ctx: Context, token: string, email: string, error?: string) {
    render(ctx, 'reset-password', { title: render.translator(ctx)('reset.title'), csrf: csrf.tokenFor(ctx), token, email, error }, error ? 400 : 200);
  }

  const unavailable = (ctx: Context) => {
    const t = render.translator(ctx);
    notice(ctx, 503, {
      heading: t('forgot.unavailableHeading'),
      message: t('forgot.unavailableMessage'),
      hint: t('forgot.unavailableHint'),
    });
  };

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
    const t = render.translator(ctx);
    if (!z.email().max(254).safeParse(email).success) {
      renderForgot(ctx, { email, returnTo, error: t('forgot.enterEmail') }, 400);
      return;
    }
    const ipWait = await wait(perIp, networkOf(ctx.ip));
    if (ipWait !== undefined) {
      ctx.set('Retry-After', String(ipWait));
      notice(ctx, 429, { heading: t('forgot.tooManyHeading'), message: t('forgot.tooManyMessage'), hint: t('forgot.tooManyHint', { minutes: Math.ceil(ipWait / 60) }) });
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
      heading: t('forgot.sentHeading'),
      message: t('forgot.sentMessage', { minutes: TOKEN_LIFETIME_SECONDS.password_reset / 60 }),
      hint: t('forgot.sentHint'),
      ...(returnTo ? { link: { href: returnTo, label: t('forgot.back') } } : {}),
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
    const t = render.translator(ctx);
    const outcome = await userTokens.check(data.token, 'password_reset');
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'reset');
    if (data.password !== data.confirm) return renderReset(ctx, data.token, outcome.email, t('reset.mismatch'));
    let result: TokenOutcome;
    try {
      result = await userTokens.resetPassword(data.token, data.password, actorOf(ctx));
    } catch (error) {
      // The password rules (length, blocklist…) speak for themselves; the link still works.
      if (error instanceof AppError && error.code === 'invalid_input') {
        const reason = error.fields[0]?.message;
        return renderReset(ctx, data.token, outcome.email, t('service.newPassword', { reason: reason ? translateServiceMessage(t, reason) : t('service.passwordNotAllowed') }));
      }
      throw error;
    }
    if (result.status !== 'valid') return refuseLink(ctx, result, 'reset');
    notice(ctx, 200, { heading: t('reset.doneHeading'), message: t('reset.doneMessage') });
  });

  router.get('/email/verify', errors, async (ctx) => {
    const token = readToken(ctx);
    const outcome = await userTokens.check(token, 'email_verification');
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'verify');
    render(ctx, 'verify-email', { title: render.translator(ctx)('verify.title'), csrf: csrf.tokenFor(ctx), token, email: outcome.email });
  });

  router.post('/email/verify', errors, form, async (ctx) => {
    const data = readForm(ctx, tokenForm);
    const outcome = await userTokens.verifyEmail(data.token, actorOf(ctx));
    if (outcome.status !== 'valid') return refuseLink(ctx, outcome, 'verify');
    const t = render.translator(ctx);
    notice(ctx, 200, { heading: t('verify.doneHeading'), message: t('verify.doneMessage', { email: outcome.email }) });
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
      const t = render.translator(ctx);
      const page = (code: number, heading: string, message: string, hint?: string) =>
        render(ctx, 'notice', { title: heading, heading, message, hint, error: true, reference: true }, code);
      if (status === 503) {
        ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
        page(503, t('error.busyHeading'), error instanceof AppError ? translateServiceMessage(t, error.message) : t('error.busyMessage'), t('error.busyHint'));
      } else if (status >= 500) {
        logger.error({ err: error, path: ctx.path, requestId: ctx.state.requestId }, 'recovery page failed');
        page(500, t('error.faultHeading'), t('error.faultMessageStep'), t('error.faultHint'));
      } else {
        logger.debug({ err: error, status, path: ctx.path }, 'recovery page refused');
        const message = error instanceof AppError ? translateServiceMessage(t, error.message) : status === 413 ? t('error.tooLarge') : t('error.malformed');
        page(status, status === 403 ? t('error.formExpiredHeading') : t('error.refusedHeading'), message, t('error.goBackReload'));
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
