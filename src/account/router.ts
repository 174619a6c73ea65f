// The signed-in user's own pages under /account: what the account is, changing the
// password, and the second factor (authenticator app, recovery codes). They are
// authenticated by Gatehouse's browser session, the one oidc-provider keeps; a browser
// without one is sent through a normal sign-in of the built-in account client and comes
// back. Changes to the password, the second factor or the email address need a recent
// sign-in; editing the profile's names, signing out other sessions and taking access back
// from applications do not (names grant nothing, undoing access is always safe), but
// every form needs its CSRF token.
import { createHash, randomBytes } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/errors.js';
import { AppError } from '../errors.js';
import type { Renderer } from '../http/views.js';
import { translateServiceMessage, type Translate } from '../i18n/translator.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { describeScopes } from '../interactions/scope-descriptions.js';
import type { Logger } from '../logger.js';
import type { RecoveryNotifier } from '../recovery/notifier.js';
import { changeOwnPasswordInput, ownEmailInput, ownProfileInput, OWN_PROFILE_FIELDS, type AccountService } from '../services/accounts.js';
import type { MfaService } from '../services/mfa.js';
import type { SecurityEvents } from '../services/security-events.js';
import { parseInput } from '../services/validation.js';
import { throttleSubject, type LoginThrottle } from '../security/login-throttle.js';
import type { AuditActor } from '../stores/audit.js';
import type { UserRecord } from '../stores/users.js';
import { ACCOUNT_CALLBACK_PATH, ACCOUNT_CLIENT_ID, ACCOUNT_PATH } from './client.js';
import type { AccountCsrf } from './csrf.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../http/unavailable.js';

/** A change to the password, the second factor or the email address needs a sign-in at most this old (checklist E8). */
export const RECENT_SIGN_IN_SECONDS = 10 * 60;
/** The sign-in round trip must come back within this time. */
const SIGN_IN_COOKIE_SECONDS = 30 * 60;
const SIGN_IN_COOKIE = 'gatehouse.account';

export interface AccountDeps {
  provider: Provider;
  accounts: AccountService;
  mfa: MfaService;
  render: Renderer;
  csrf: AccountCsrf;
  logger: Logger;
  issuer: string;
  /**
   * The sign-in throttle: checking the current password is a password guess like any
   * other, so a stolen session must not get more of them than the sign-in page gives.
   */
  loginThrottle: LoginThrottle;
  securityEvents: SecurityEvents;
  /** Mails the link that confirms a new email address. */
  verificationMail: Pick<RecoveryNotifier, 'enabled' | 'emailVerification'>;
}

/** What the profile and email forms show again when they are refused: the values sent, and a message per field. */
interface FormState {
  values: Record<string, string>;
  errors: Record<string, string>;
}

interface SignedIn {
  user: UserRecord;
  sessionUid: string;
  /** When the session last signed in (seconds since the epoch). */
  loginTs: number;
}

const csrfOnly = z.object({ csrf: z.string().max(100) }).loose();
const passwordForm = z.object({ csrf: z.string().max(100), current_password: z.string().max(4096), new_password: z.string().max(4096) });
const codeForm = z.object({ csrf: z.string().max(100), code: z.string().max(64) });
const signInState = z.object({ state: z.string().max(100), next: z.string().max(200) });
const sessionForm = z.object({ csrf: z.string().max(100), session: z.string().min(1).max(100) });
const appForm = z.object({ csrf: z.string().max(100), client: z.string().min(1).max(200) });
// Lengths here only bound the request; the profile's own rules (ownProfileInput) come after.
const formText = z.string().max(4096).optional();
const profileForm = z.object({ csrf: z.string().max(100), name: formText, given_name: formText, family_name: formText, nickname: formText });
const emailForm = z.object({ csrf: z.string().max(100), email: z.string().max(4096) });

const NOTICES: Record<string, MessageKey> = {
  password: 'account.notice.password',
  'totp-off': 'account.notice.totp-off',
  'session-ended': 'account.notice.session-ended',
  'sessions-ended': 'account.notice.sessions-ended',
  'app-removed': 'account.notice.app-removed',
  profile: 'account.notice.profile',
  email: 'account.notice.email',
  'email-unsent': 'account.notice.email-unsent',
};

/** A time for people to read, the same on every server: "2025-01-31 14:05 UTC". */
function readableTime(value: string | number | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const epochNow = () => Math.floor(Date.now() / 1000);

/** Only paths of the account area are followed after sign-in: never another site. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/account(\/[\w-]*)*$/.test(value) ? value : ACCOUNT_PATH;
}

/** After a change: 303 back to the account page, which says what was done (a GET, never a re-POST). */
function doneTo(ctx: Context, done: string): void {
  ctx.redirect(`${ACCOUNT_PATH}?done=${done}`);
  ctx.status = 303;
}

export function createAccountRouter(deps: AccountDeps): Router {
  const { provider, accounts, mfa, render, csrf } = deps;
  const router = new Router({ prefix: ACCOUNT_PATH });
  const https = deps.issuer.startsWith('https://');

  router.use(pageErrors(deps));
  router.use(bodyParser({ enableTypes: ['form'], formLimit: '16kb' }));

  /** The signed-in user of this browser's Gatehouse session, if any. */
  async function signedIn(ctx: Context): Promise<SignedIn | undefined> {
    // The session cookie is signed with the key ring this app shares with the provider.
    const sessionId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    if (!sessionId) return undefined;
    const session = await provider.Session.find(sessionId);
    if (!session?.accountId) return undefined;
    const user = await accounts.findById(session.accountId);
    if (!user || user.disabled) return undefined;
    return { user, sessionUid: session.uid, loginTs: session.loginTs ?? 0 };
  }

  /**
   * Sends the browser through an authorization request of the account client, to come
   * back to `next`. `reauthenticate` asks for the password (and second factor) again
   * even when a session exists (prompt=login).
   */
  function sendToSignIn(ctx: Context, next: string, reauthenticate = false): void {
    const state = randomBytes(16).toString('base64url');
    // PKCE is required of every public client; the code is never redeemed, so the
    // verifier is thrown away.
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    ctx.cookies.set(SIGN_IN_COOKIE, Buffer.from(JSON.stringify({ state, next: safeNext(next) })).toString('base64url'), {
      signed: true, httpOnly: true, sameSite: 'lax', secure: https, path: ACCOUNT_PATH, maxAge: SIGN_IN_COOKIE_SECONDS * 1000, overwrite: true,
    });
    const url = new URL('/auth', deps.issuer);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${deps.issuer}${ACCOUNT_CALLBACK_PATH}`,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(reauthenticate ? { prompt: 'login' } : {}),
    }).toString();
    ctx.redirect(url.toString());
    ctx.status = 303;
  }

  /** The signed-in user, or undefined after sending the browser to sign in. */
  async function requireUser(ctx: Context, next: string): Promise<SignedIn | undefined> {
    const current = await signedIn(ctx);
    if (!current) sendToSignIn(ctx, next);
    return current;
  }

  function isRecent(current: SignedIn): boolean {
    return epochNow() - current.loginTs <= RECENT_SIGN_IN_SECONDS;
  }

  /** Parses a form and checks its CSRF token against the session; 403 and nothing done otherwise. */
  function readForm<T>(ctx: Context, schema: z.ZodType<T>, current: SignedIn): T {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!csrf.verify(current.sessionUid, body['csrf'])) {
      throw new AppError('forbidden', 'The form could not be verified. Reload the page and try again.');
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new AppError('invalid_input', 'The form was incomplete or malformed.');
    return parsed.data;
  }

  const originOf = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state.requestId as string | undefined });

  function actorOf(ctx: Context, current: SignedIn): AuditActor {
    return { type: 'user', id: current.user.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state.requestId as string | undefined };
  }

  /** A client's name and logo as the consent page shows them; its id when it is gone. */
  async function clientLabel(clientId: string): Promise<{ name: string; logo: string | undefined }> {
    const client = await provider.Client.find(clientId).catch(() => undefined);
    return { name: client?.clientName ?? clientId, logo: client?.logoUri };
  }

  /**
   * The browser sessions of the user, the current one first. A session is named on the
   * page by its uid only: never by its id, which is the value of the session cookie.
   */
  async function sessionsOf(current: SignedIn) {
    const sessions = await accounts.listSessions(current.user.id);
    const listed = await Promise.all(sessions.map(async (session) => ({
      handle: session.id,
      current: session.id === current.sessionUid,
      signedInAt: readableTime(session.signed_in_at),
      endsBy: readableTime(session.expires_at),
      apps: await Promise.all(session.clients.filter((id) => id !== ACCOUNT_CLIENT_ID).map(async (id) => (await clientLabel(id)).name)),
    })));
    return listed.sort((a, b) => Number(b.current) - Number(a.current));
  }

  /** The applications the user let in, with what each may do in plain words. */
  async function appsOf(current: SignedIn, t: Translate) {
    const apps = (await accounts.connectedApps(current.user.id)).filter((app) => app.client_id !== ACCOUNT_CLIENT_ID);
    return Promise.all(apps.map(async (app) => ({
      clientId: app.client_id,
      ...(await clientLabel(app.client_id)),
      since: readableTime(app.since),
      descriptions: describeScopes(app.scopes, t),
    })));
  }

  /** The profile form's values: the stored claims, or what was sent when it was refused. */
  function profileOf(current: SignedIn, refused?: FormState): FormState {
    const stored = Object.fromEntries(OWN_PROFILE_FIELDS.map((field) => {
      const value = current.user.claims[field];
      return [field, typeof value === 'string' ? value : ''];
    }));
    return refused ? { values: { ...stored, ...refused.values }, errors: refused.errors } : { values: stored, errors: {} };
  }

  async function renderOverview(
    ctx: Context,
    current: SignedIn,
    extra: { notice?: string; passwordError?: string; profile?: FormState; email?: FormState } = {},
    status = 200,
  ) {
    const status2fa = await mfa.status(current.user.id);
    const t = render.translator(ctx);
    const [sessions, apps] = await Promise.all([sessionsOf(current), appsOf(current, t)]);
    render(ctx, 'account', {
      title: t('account.title'),
      csrf: csrf.tokenFor(current.sessionUid),
      email: current.user.email,
      emailVerified: current.user.emailVerified,
      username: current.user.username,
      profile: profileOf(current, extra.profile),
      emailForm: extra.email ?? { values: { email: '' }, errors: {} },
      totp: status2fa.totp,
      recoveryCodesLeft: status2fa.recoveryCodesLeft,
      notice: extra.notice,
      passwordError: extra.passwordError,
      recent: isRecent(current),
      sessions,
      apps,
    }, status);
  }

  async function renderSetup(ctx: Context, current: SignedIn, error?: string, status = 200) {
    const enrolment = await mfa.beginEnrolment(current.user.id, actorOf(ctx, current));
    render(ctx, 'account-totp', {
      title: render.translator(ctx)('totp.title'),
      csrf: csrf.tokenFor(current.sessionUid),
      qr: enrolment.qrDataUrl,
      // Grouped in fours for typing; authenticator apps ignore the spaces.
      secret: enrolment.secret.match(/.{1,4}/g)!.join(' '),
      error,
    }, status);
  }

  function renderCodes(ctx: Context, current: SignedIn, codes: string[], heading: MessageKey) {
    const t = render.translator(ctx);
    render(ctx, 'account-codes', { title: t('codes.title'), heading: t(heading), codes, email: current.user.email });
  }

  router.get('/', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    const done = ctx.query['done'];
    const notice = typeof done === 'string' && Object.hasOwn(NOTICES, done) ? render.translator(ctx)(NOTICES[done]!) : undefined;
    await renderOverview(ctx, current, notice ? { notice } : {});
  });

  // A fresh sign-in on request, for changes made from scripts (the passkey section).
  router.get('/sign-in-again', (ctx) => sendToSignIn(ctx, ACCOUNT_PATH, true));

  // The account client's redirect URI: the browser session now exists; the code is not
  // needed and is destroyed so it cannot be redeemed by anyone.
  router.get('/callback', async (ctx) => {
    const raw = ctx.cookies.get(SIGN_IN_COOKIE, { signed: true });
    ctx.cookies.set(SIGN_IN_COOKIE, null, { path: ACCOUNT_PATH, secure: https, httpOnly: true, sameSite: 'lax' });
    let expected: z.infer<typeof signInState> | undefined;
    try {
      expected = raw ? signInState.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))) : undefined;
    } catch {
      expected = undefined;
    }
    const code = typeof ctx.query['code'] === 'string' ? ctx.query['code'] : undefined;
    if (code) await (await provider.AuthorizationCode.find(code))?.destroy();
    if (!expected || ctx.query['state'] !== expected.state) {
      throw new AppError('invalid_input', 'This sign-in did not start here, or took too long.');
    }
    if (!code) {
      const t = render.translator(ctx);
      render(ctx, 'error', {
        title: t('account.notSignedInTitle'),
        heading: t('account.notSignedInHeading'),
        message: t('account.notSignedInMessage'),
        hint: t('account.notSignedInHint'),
      }, 400);
      return;
    }
    ctx.redirect(safeNext(expected.next));
    ctx.status = 303;
  });

  // The names the user's claims carry. Refused values come back on the page with a
  // message by each field, in the page's language; nothing is stored then.
  router.post('/profile', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    const { csrf: _token, ...sent } = readForm(ctx, profileForm, current);
    const parsed = ownProfileInput.safeParse(sent);
    if (!parsed.success) {
      const t = render.translator(ctx);
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues) {
        const field = String(issue.path[0] ?? '');
        if (!errors[field]) errors[field] = issue.code === 'too_big' ? t('account.fieldTooLong', { count: Number(issue.maximum) }) : t('account.fieldInvalid');
      }
      const values = Object.fromEntries(Object.entries(sent).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
      await renderOverview(ctx, current, { profile: { values, errors } }, 400);
      return;
    }
    await accounts.updateOwnProfile(current.user.id, parsed.data, actorOf(ctx, current));
    doneTo(ctx, 'profile');
  });

  // A new address: a recent sign-in first, as for the second factor, since whoever holds
  // the address can reset the password once it is confirmed.
  router.post('/email', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    const form = readForm(ctx, emailForm, current);
    if (!isRecent(current)) {
      sendToSignIn(ctx, ACCOUNT_PATH, true);
      return;
    }
    const t = render.translator(ctx);
    const refuse = (message: string, status: number) => renderOverview(ctx, current, { email: { values: { email: form.email }, errors: { email: message } } }, status);
    const parsed = ownEmailInput.safeParse({ email: form.email });
    if (!parsed.success) {
      await refuse(t('account.emailInvalid'), 400);
      return;
    }
    const actor = actorOf(ctx, current);
    let result: Awaited<ReturnType<AccountService['changeOwnEmail']>>;
    try {
      result = await accounts.changeOwnEmail(current.user.id, parsed.data, actor);
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'conflict') throw error;
      await refuse(translateServiceMessage(t, error.message), 409);
      return;
    }
    if (!result.changed) {
      ctx.redirect(ACCOUNT_PATH);
      ctx.status = 303;
      return;
    }
    let sent = false;
    if (deps.verificationMail.enabled) {
      // The address is changed either way; a failed mail is logged by the notifier and
      // said on the page, and an administrator can send the link again.
      sent = await deps.verificationMail.emailVerification(current.user.id, actor).then(() => true, () => false);
    }
    ctx.redirect(`${ACCOUNT_PATH}?done=${sent ? 'email' : 'email-unsent'}`);
    ctx.status = 303;
  });

  router.post('/password', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    const form = readForm(ctx, passwordForm, current);
    const input = { current_password: form.current_password, new_password: form.new_password };
    const t = render.translator(ctx);
    const passwordError = (error: unknown) => {
      if (error instanceof AppError && error.code === 'conflict') {
        return renderOverview(ctx, current, { passwordError: translateServiceMessage(t, error.message) }, 409);
      }
      if (!(error instanceof AppError) || error.code !== 'invalid_input') throw error;
      const field = error.fields[0];
      const message = field?.field === 'new_password'
        ? t('service.newPassword', { reason: translateServiceMessage(t, field.message) })
        : translateServiceMessage(t, error.message);
      return renderOverview(ctx, current, { passwordError: message }, 400);
    };
    // The new password's rules first: refusing it checks no password, so it counts nothing.
    try {
      parseInput(changeOwnPasswordInput, input);
    } catch (error) {
      await passwordError(error);
      return;
    }
    // The current password is the re-authentication this change needs, and a guess at it
    // counts against the account like a failed sign-in: one counter for both, so the
    // sign-in page locks too (and the other way round).
    const subject = throttleSubject(current.user.email, current.user);
    const event = { userId: current.user.id, clientId: ACCOUNT_CLIENT_ID, origin: originOf(ctx), details: { context: 'password_change' } };
    const verdict = await deps.loginThrottle.begin(subject, ctx.ip);
    if (verdict.refused) {
      await deps.securityEvents.record({ ...event, action: 'login.refused', details: { ...event.details, reason: verdict.reason } });
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      await renderOverview(ctx, current, { passwordError: tooManyAttempts(t, verdict.retryAfterSeconds) }, 429);
      return;
    }
    try {
      await accounts.changeOwnPassword(current.user.id, input, actorOf(ctx, current), current.sessionUid);
    } catch (error) {
      if (error instanceof AppError && error.code === 'invalid_input' && error.fields[0]?.field === 'current_password') {
        const { lockedForSeconds } = await deps.loginThrottle.failed(subject, verdict.attempt);
        await deps.securityEvents.record({ ...event, action: 'login.failure' });
        if (lockedForSeconds) await deps.securityEvents.record({ ...event, action: 'login.locked', details: { ...event.details, seconds: lockedForSeconds } });
      } else if (error instanceof AppError && (error.code === 'invalid_input' || error.code === 'conflict')) {
        // Refused for its words, or beaten by the same form sent twice, only after the
        // current password was found right.
        await deps.loginThrottle.succeeded(subject, ctx.ip);
      }
      await passwordError(error);
      return;
    }
    await deps.loginThrottle.succeeded(subject, ctx.ip);
    doneTo(ctx, 'password');
  });

  router.get('/totp', async (ctx) => {
    const current = await requireUser(ctx, `${ACCOUNT_PATH}/totp`);
    if (!current) return;
    if (!isRecent(current)) {
      sendToSignIn(ctx, `${ACCOUNT_PATH}/totp`, true);
      return;
    }
    if ((await mfa.status(current.user.id)).totp === 'confirmed') {
      ctx.redirect(ACCOUNT_PATH);
      ctx.status = 303;
      return;
    }
    await renderSetup(ctx, current);
  });

  router.post('/totp/confirm', async (ctx) => {
    const current = await requireUser(ctx, `${ACCOUNT_PATH}/totp`);
    if (!current) return;
    const form = readForm(ctx, codeForm, current);
    if (!isRecent(current)) {
      sendToSignIn(ctx, `${ACCOUNT_PATH}/totp`, true);
      return;
    }
    const codes = await mfa.confirmEnrolment(current.user.id, form.code, actorOf(ctx, current), current.sessionUid);
    if (!codes) {
      await renderSetup(ctx, current, render.translator(ctx)('totp.badCode'), 400);
      return;
    }
    renderCodes(ctx, current, codes, 'codes.headingOn');
  });

  router.post('/recovery-codes', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    readForm(ctx, csrfOnly, current);
    if (!isRecent(current)) {
      sendToSignIn(ctx, ACCOUNT_PATH, true);
      return;
    }
    renderCodes(ctx, current, await mfa.regenerateRecoveryCodes(current.user.id, actorOf(ctx, current), current.sessionUid), 'codes.headingNew');
  });

  router.post('/totp/disable', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    readForm(ctx, csrfOnly, current);
    if (!isRecent(current)) {
      sendToSignIn(ctx, ACCOUNT_PATH, true);
      return;
    }
    await mfa.disable(current.user.id, actorOf(ctx, current), current.sessionUid);
    doneTo(ctx, 'totp-off');
  });

  // Signing a session out ends the grants made in it too, as the admin API does.
  router.post('/sessions/end', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    const form = readForm(ctx, sessionForm, current);
    if (form.session === current.sessionUid) {
      throw new AppError('invalid_input', 'That is the session you are using. Use "Sign out" at the bottom of the page instead.');
    }
    await accounts.revokeSession(current.user.id, form.session, actorOf(ctx, current));
    doneTo(ctx, 'session-ended');
  });

  router.post('/sessions/end-others', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    readForm(ctx, csrfOnly, current);
    await accounts.revokeOtherSessions(current.user.id, current.sessionUid, actorOf(ctx, current));
    doneTo(ctx, 'sessions-ended');
  });

  // Revokes the client's grants and tokens and forgets the consent: it must ask again.
  router.post('/apps/remove', async (ctx) => {
    const current = await requireUser(ctx, ACCOUNT_PATH);
    if (!current) return;
    const form = readForm(ctx, appForm, current);
    if (form.client === ACCOUNT_CLIENT_ID) throw new AppError('invalid_input', 'The account page is not an application you can remove.');
    await accounts.revokeClientAccess(current.user.id, form.client, actorOf(ctx, current));
    doneTo(ctx, 'app-removed');
  });

  return router;
}

/** Errors become a page with a 4xx (403 for a bad CSRF token); faults a generic 500 page. */
function pageErrors(deps: AccountDeps) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      const status = error instanceof AppError ? error.status : isDatabaseUnavailable(error) ? 503 : statusOf(error);
      const t = deps.render.translator(ctx);
      if (status >= 500) {
        if (status === 503) ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
        else deps.logger.error({ err: error, path: ctx.path, requestId: ctx.state.requestId }, 'account page failed');
        deps.render(ctx, 'error', {
          title: t('error.faultTitle'),
          heading: t('error.faultHeading'),
          message: t('error.faultMessage'),
          hint: t('error.faultHint'),
        }, status);
        return;
      }
      const message = error instanceof AppError ? translateServiceMessage(t, error.message) : status === 413 ? t('error.tooLarge') : t('error.malformed');
      deps.render(ctx, 'error', { title: t('error.refusedTitle'), heading: t('error.refusedHeading'), message, hint: t('error.goBackAccount') }, status);
    }
  };
}

function tooManyAttempts(t: Translate, seconds: number): string {
  const wait = seconds < 90 ? t('time.seconds', { count: seconds }) : t('time.minutes', { count: Math.ceil(seconds / 60) });
  return t('account.tooManyPasswords', { wait });
}

function statusOf(error: unknown): number {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : 500;
}
