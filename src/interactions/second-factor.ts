// The second sign-in step. Once the password is right, a user with an authenticator app
// is not signed in yet: the fact that the password was verified is kept server-side in
// the interaction's stored `result` (never in the browser), under a key oidc-provider
// ignores. Only this module turns it into a login result, after a valid code. Skipping
// the step and calling the resume URL finds no `login` result and starts over; another
// browser cannot load the interaction at all (its cookie binds it).
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type Router from '@koa/router';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Renderer } from '../http/views.js';
import type { Logger } from '../logger.js';
import type { SecurityEvents } from '../services/security-events.js';
import { ACR_MFA, ACR_PASSWORD, type MfaService } from '../services/mfa.js';
import type { AuditActor } from '../stores/audit.js';
import type { Csrf } from './csrf.js';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
type LoginResult = Parameters<Provider['interactionResult']>[2];

/** Wrong codes one interaction may take; the last one ends it (checklist F7). */
export const MAX_CODE_ATTEMPTS = 5;
/**
 * Wrong codes one user may get over all interactions in USER_WINDOW_SECONDS: someone who
 * knows the password could otherwise start interaction after interaction to keep guessing.
 */
const MAX_USER_FAILURES = 20;
const USER_WINDOW_SECONDS = 15 * 60;

/** Where the verified password waits in the interaction's result. */
const PENDING = 'gatehouse_second_factor';

interface Pending {
  accountId: string;
}

const codeForm = z.object({
  csrf: z.string().max(100),
  method: z.enum(['totp', 'recovery']).default('totp'),
  code: z.string().max(64),
});
const csrfOnly = z.object({ csrf: z.string().max(100) }).loose();

export interface SecondFactorDeps {
  mfa: MfaService;
  /** Whether the user has a passkey, which can stand in for the code. */
  hasPasskey(userId: string): Promise<boolean>;
  securityEvents: SecurityEvents;
  render: Renderer;
  csrf: Csrf;
  logger: Logger;
  load(ctx: Context): Promise<Details>;
  readForm<T>(ctx: Context, schema: z.ZodType<T>, uid: string): T;
  finish(ctx: Context, result: LoginResult): Promise<void>;
  clientName(details: Details): Promise<string>;
  /** The client's metadata (require_mfa), as oidc-provider holds it. */
  client(details: Details): Promise<{ require_mfa?: unknown } | undefined>;
}

const epochNow = () => Math.floor(Date.now() / 1000);

function pendingOf(details: Details): Pending | undefined {
  const pending = details.result?.[PENDING] as Pending | undefined;
  return typeof pending?.accountId === 'string' ? pending : undefined;
}

/**
 * Whether the client asked for the second factor: by acr_values, by an essential `acr`
 * claim for the ID token that only the second factor meets (OIDC Core 5.5.1.1), or by its
 * registration (require_mfa). oidc-provider asks for a new sign-in while the session's acr
 * does not meet an essential claim, so a claims request ignored here would send the
 * browser round in a loop of password prompts. (While oidc-provider's claimsParameter
 * feature is off, as it is now, it drops the parameter before it gets here.)
 */
export function requiresMfa(details: Details, client: { require_mfa?: unknown } | undefined): boolean {
  return String(details.params['acr_values'] ?? '').split(' ').includes(ACR_MFA)
    || essentialAcrNeedsMfa(details.params['claims'])
    || client?.require_mfa === true;
}

/**
 * Whether the claims parameter makes `acr` essential in the ID token with only the second
 * factor acceptable: `value` is it, or `values` lists it and not the password level (which
 * would satisfy the request by itself). A malformed parameter asks for nothing here.
 */
function essentialAcrNeedsMfa(claims: unknown): boolean {
  let parsed: unknown = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return false;
    }
  }
  const idToken = isObject(parsed) ? parsed['id_token'] : undefined;
  const acr = isObject(idToken) ? idToken['acr'] : undefined;
  if (!isObject(acr) || acr['essential'] !== true) return false;
  if (acr['value'] === ACR_MFA) return true;
  const values = acr['values'];
  return Array.isArray(values) && values.includes(ACR_MFA) && !values.includes(ACR_PASSWORD);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function createSecondFactor(deps: SecondFactorDeps) {
  const { mfa, render, csrf } = deps;

  async function renderCodePage(ctx: Context, details: Details, extra: { error?: string; recovery?: boolean } = {}, status = 200) {
    const accountId = pendingOf(details)?.accountId ?? '';
    const [state, passkey, clientName] = await Promise.all([mfa.status(accountId), deps.hasPasskey(accountId), deps.clientName(details)]);
    render(ctx, 'mfa', {
      title: render.translator(ctx)('mfa.title'),
      uid: details.uid,
      csrf: csrf.tokenFor(details.uid),
      clientName,
      error: extra.error,
      recovery: extra.recovery === true,
      // Only the factors this user has are offered.
      totp: state.totp === 'confirmed',
      passkeyAvailable: passkey,
    }, status);
  }

  const originOf = (ctx: Context) => ({ ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state.requestId as string | undefined });

  /** Ends the interaction: the client gets access_denied, and no code is accepted any more. */
  async function kill(ctx: Context, details: Details, why: string) {
    await deps.securityEvents.record({
      action: 'login.mfa_locked',
      userId: pendingOf(details)?.accountId,
      clientId: String(details.params['client_id']),
      origin: originOf(ctx),
      details: { reason: why },
    });
    await deps.finish(ctx, { error: 'access_denied', error_description: why });
  }

  return {
    /**
     * Called once the password is right. Without an authenticator app the sign-in is
     * finished (unless the client demands a second factor); with one, the verified
     * password is parked in the interaction and the browser is sent to the code page.
     */
    async afterPassword(ctx: Context, details: Details, user: { id: string }): Promise<'signed_in' | 'second_factor' | 'refused'> {
      const [status, passkey, client] = await Promise.all([mfa.status(user.id), deps.hasPasskey(user.id), deps.client(details)]);
      const mfaRequired = requiresMfa(details, client);
      // An authenticator app makes the second step mandatory. A passkey alone does not (it
      // is a way to sign in without the password), but it satisfies a client that demands
      // a second factor.
      if (status.totp === 'confirmed' || (passkey && mfaRequired)) {
        details.result = { [PENDING]: { accountId: user.id } satisfies Pending };
        await details.save(Math.max(details.exp - epochNow(), 1));
        // 303: the code page is fetched with a GET, never a re-POST of the password.
        ctx.redirect(`/interaction/${details.uid}`);
        ctx.status = 303;
        return 'second_factor';
      }
      if (mfaRequired) {
        render(ctx, 'mfa-required', {
          title: render.translator(ctx)('mfaRequired.title'),
          uid: details.uid,
          csrf: csrf.tokenFor(details.uid),
          clientName: await deps.clientName(details),
          accountUrl: '/account',
        }, 403);
        return 'refused';
      }
      await deps.finish(ctx, { login: { accountId: user.id, amr: ['pwd'], acr: ACR_PASSWORD, ts: epochNow() } });
      return 'signed_in';
    },

    /** The code page, when the password of this interaction was verified; false otherwise. */
    async renderIfPending(ctx: Context, details: Details): Promise<boolean> {
      if (!pendingOf(details)) return false;
      await renderCodePage(ctx, details, { recovery: ctx.query['recovery'] === '1' });
      return true;
    },

    register(router: Router) {
      router.post('/mfa', async (ctx) => {
        const details = await deps.load(ctx);
        const form = deps.readForm(ctx, codeForm, details.uid);
        const pending = pendingOf(details);
        if (details.prompt.name !== 'login' || !pending) throw new AppError('invalid_input', 'Sign in with your password first.');
        const userKey = `user:${pending.accountId}`;
        // Both counts are taken before the code is checked, never read first and added to
        // after a failure: parallel guesses over many interactions could all pass a read.
        const userAttempt = await mfa.countAttempt(userKey, USER_WINDOW_SECONDS);
        if (userAttempt > MAX_USER_FAILURES) {
          await kill(ctx, details, 'too many wrong codes for this account; try again later');
          return;
        }
        const attempt = await mfa.countAttempt(`interaction:${details.uid}`, Math.max(details.exp - epochNow(), 60));
        if (attempt > MAX_CODE_ATTEMPTS) {
          await kill(ctx, details, 'too many wrong codes');
          return;
        }
        const actor: AuditActor = { type: 'user', id: pending.accountId, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, requestId: ctx.state.requestId as string | undefined };
        const accepted = form.method === 'recovery'
          ? await mfa.useRecoveryCode(pending.accountId, form.code, actor)
          : await mfa.verifyTotp(pending.accountId, form.code);
        const event = { userId: pending.accountId, clientId: String(details.params['client_id']), origin: originOf(ctx), details: { method: form.method } };
        if (accepted) {
          // The cap is on wrong codes: a right one gives its attempt back.
          await mfa.countAttempt(userKey, USER_WINDOW_SECONDS, -1);
          await deps.securityEvents.record({ action: 'login.success', ...event });
          await deps.finish(ctx, { login: { accountId: pending.accountId, amr: ['pwd', 'otp'], acr: ACR_MFA, ts: epochNow() } });
          return;
        }
        await deps.securityEvents.record({ action: 'login.mfa_failure', ...event });
        if (attempt >= MAX_CODE_ATTEMPTS) {
          await kill(ctx, details, 'too many wrong codes');
          return;
        }
        const left = MAX_CODE_ATTEMPTS - attempt;
        const t = render.translator(ctx);
        const error = `${t(form.method === 'recovery' ? 'mfa.badRecoveryCode' : 'mfa.badCode')} ${t(left === 1 ? 'mfa.attemptLeft' : 'mfa.attemptsLeft', { count: left })}`;
        await renderCodePage(ctx, details, { error, recovery: form.method === 'recovery' }, 400);
      });

      // The client demanded a second factor the user does not have: tell the client so.
      router.post('/mfa-unavailable', async (ctx) => {
        const details = await deps.load(ctx);
        deps.readForm(ctx, csrfOnly, details.uid);
        await deps.finish(ctx, { error: 'unmet_authentication_requirements', error_description: 'the user has not set up two-step verification' });
      });
    },
  };
}
