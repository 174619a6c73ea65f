// OpenID Connect Front-Channel Logout 1.0, which oidc-provider 9 no longer implements.
// A client registers a frontchannel_logout_uri; when the user's session at Gatehouse ends
// through RP-initiated logout, the page the browser sees next renders that URI in an
// invisible iframe, so the client's own cookies reach it and it can end its session too.
//
// The list of clients must be taken from the session before oidc-provider destroys it,
// and never from the browser: the confirm request (POST /session/end/confirm) is
// wrapped here. The session is read before oidc-provider handles the request; once it has
// answered with its redirect, the logout URIs of the clients that were signed out are
// - rendered at once, on an interstitial page that then continues to the client's
//   post_logout_redirect_uri, when logout returns to a client; or
// - kept server-side for two minutes under the hash of a random value held in a signed,
//   httpOnly cookie scoped to the "signed out" page, which renders them once.
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { randomToken, sha256 } from '../crypto/random.js';
import type { FieldProblem } from '../errors.js';
import type { Renderer } from '../http/views.js';
import { redirectUriProblem } from '../services/redirect-uris.js';
import type { PayloadStore } from '../stores/oidc-payloads.js';

export const FRONTCHANNEL_PROPERTIES = ['frontchannel_logout_uri', 'frontchannel_logout_session_required'] as const;

const END_SESSION = '/session/end';
const CONFIRM = `${END_SESSION}/confirm`;
const SUCCESS = `${END_SESSION}/success`;
const MODEL = 'FrontchannelLogout';
const COOKIE = 'gatehouse.frontchannel';
const KEEP_SECONDS = 120;
/** The interstitial waits at most this long for the iframes before it continues. */
const INTERSTITIAL_WAIT_MS = 3000;

/**
 * Why a frontchannel_logout_uri cannot be registered: the redirect URI rules (https, or
 * http on localhost outside production; no fragment, no user information).
 */
export function frontchannelUriProblem(value: unknown, production: boolean): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  const problem = redirectUriProblem(value, { applicationType: 'web', production });
  if (problem) return problem;
  // The browser loads it in a frame: a custom scheme is meaningless there.
  return /^https?:\/\//.test(value) ? undefined : 'must be an https URL (http only for localhost outside production)';
}

/** The same rule for the admin API and dynamic registration (services/clients.ts, registration-policy.ts). */
export function frontchannelProblems(data: { frontchannel_logout_uri?: unknown; frontchannel_logout_session_required?: unknown }, production: boolean): FieldProblem[] {
  if (data.frontchannel_logout_uri === undefined) return [];
  const problem = frontchannelUriProblem(data.frontchannel_logout_uri, production);
  return problem ? [{ field: 'frontchannel_logout_uri', message: problem }] : [];
}

/** extraClientMetadata validator lines for the two properties; throws with the reason. */
export function validateFrontchannelMetadata(key: string, value: unknown, production: boolean): void {
  if (value === undefined) return;
  if (key === 'frontchannel_logout_session_required' && typeof value !== 'boolean') {
    throw new Error('frontchannel_logout_session_required must be a boolean');
  }
  if (key === 'frontchannel_logout_uri') {
    const problem = frontchannelUriProblem(value, production);
    if (problem) throw new Error(`frontchannel_logout_uri ${problem}`);
  }
}

interface SessionSnapshot {
  authorizations: Record<string, { sid?: string }>;
  /** The client whose end-session request this is, if any. */
  clientId: string | undefined;
}

interface ClientLike {
  clientId: string;
  [key: string]: unknown;
}

export type FrontchannelLogout = ReturnType<typeof createFrontchannelLogout>;

export function createFrontchannelLogout(deps: { provider: Provider; payloads: PayloadStore; issuer: string; secureCookies: boolean; render: Renderer }) {
  const { provider, payloads, issuer } = deps;
  const cookieOptions = {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: deps.secureCookies,
    signed: true,
    path: SUCCESS,
    overwrite: true,
  };

  // A client that asks for the session id in its logout URI needs it in its ID tokens too
  // (Front-Channel Logout 1.0 §3); oidc-provider only considers back-channel clients.
  const clientPrototype = provider.Client.prototype as unknown as { includeSid(this: ClientLike): boolean };
  const includeSid = clientPrototype.includeSid;
  clientPrototype.includeSid = function includeSidForLogout(this: ClientLike) {
    return Boolean(includeSid.call(this)) || (typeof this['frontchannel_logout_uri'] === 'string' && this['frontchannel_logout_session_required'] === true);
  };

  async function snapshot(ctx: Koa.Context): Promise<SessionSnapshot | undefined> {
    try {
      const session = await provider.Session.get(ctx as never);
      if (!session.accountId) return undefined;
      return {
        authorizations: JSON.parse(JSON.stringify(session.authorizations ?? {})) as SessionSnapshot['authorizations'],
        clientId: (session.state as { clientId?: string } | undefined)?.clientId,
      };
    } catch {
      // No readable session: oidc-provider will answer the request with its own error.
      return undefined;
    }
  }

  /** The logout URLs of the clients that were signed out, each with iss and sid when required. */
  async function logoutUrls(before: SessionSnapshot, everywhere: boolean): Promise<string[]> {
    const clientIds = everywhere ? Object.keys(before.authorizations) : before.clientId ? [before.clientId] : [];
    const urls: string[] = [];
    for (const clientId of clientIds) {
      let client: ClientLike | undefined;
      try {
        client = (await provider.Client.find(clientId)) as unknown as ClientLike | undefined;
      } catch {
        client = undefined; // deleted or disabled since: nothing to tell it.
      }
      const uri = client?.['frontchannel_logout_uri'];
      if (typeof uri !== 'string') continue;
      const url = new URL(uri);
      const sid = before.authorizations[clientId]?.sid;
      if (client!['frontchannel_logout_session_required'] === true && sid) {
        url.searchParams.set('iss', issuer);
        url.searchParams.set('sid', sid);
      }
      urls.push(url.href);
    }
    return urls;
  }

  /** CSP for a page with these frames: exactly their origins, still never framed itself. */
  function allowFrames(ctx: Koa.Context, frames: readonly string[]): void {
    if (!frames.length) return;
    const origins = [...new Set(frames.map((frame) => new URL(frame).origin))];
    const policy = String(ctx.response.get('Content-Security-Policy') ?? '');
    ctx.set('Content-Security-Policy', `${policy}; frame-src ${origins.join(' ')}`);
  }

  /** Koa middleware for provider.use(): captures the signed-out clients on the confirm request. */
  async function middleware(ctx: Koa.Context, next: Koa.Next): Promise<void> {
    if (!(ctx.method === 'POST' && ctx.path === CONFIRM)) {
      await next();
      return;
    }
    const before = await snapshot(ctx);
    await next();
    const location = ctx.response.get('Location');
    if (!before || ctx.status !== 303 || !location) return;
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc;
    const frames = await logoutUrls(before, Boolean(oidc?.params?.['logout']));
    if (!frames.length) return;

    const success = new URL(SUCCESS, issuer);
    const target = new URL(location, issuer);
    if (target.origin === success.origin && target.pathname === success.pathname) {
      const token = randomToken(16);
      await payloads.upsert({
        model: MODEL, id: sha256(token), payload: { frames }, grantId: null, accountId: null, clientId: null, uid: null, userCode: null,
        expiresIn: KEEP_SECONDS,
      });
      ctx.cookies.set(COOKIE, token, { ...cookieOptions, maxAge: KEEP_SECONDS * 1000 });
      return;
    }
    // Back to the client (its registered post_logout_redirect_uri, already checked by
    // oidc-provider): the frames load here first, then the page continues there.
    const clientName = oidc?.client?.clientName;
    ctx.remove('Location');
    deps.render(ctx, 'logged-out', { title: deps.render.translator(ctx)('loggedOut.title'), clientName, frames, continueTo: target.href, waitMs: INTERSTITIAL_WAIT_MS });
    allowFrames(ctx, frames);
  }

  /** The frames kept for this browser by the confirm request, once; [] when none. */
  async function takeFrames(ctx: Koa.Context): Promise<string[]> {
    const token = ctx.cookies.get(COOKIE, { signed: true });
    if (!token) return [];
    ctx.cookies.set(COOKIE, null, cookieOptions);
    const id = sha256(token);
    const row = await payloads.find(MODEL, id);
    if (!row) return [];
    await payloads.destroy(MODEL, id);
    if (row.expired) return [];
    const frames = row.payload['frames'];
    return Array.isArray(frames) ? frames.filter((frame): frame is string => typeof frame === 'string') : [];
  }

  return { middleware, takeFrames, allowFrames };
}

/** Discovery advertises front-channel logout (with session ids) next to oidc-provider's own metadata. */
export async function advertiseFrontchannelLogout(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  await next();
  if (ctx.path === '/.well-known/openid-configuration' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    Object.assign(ctx.body as Record<string, unknown>, { frontchannel_logout_supported: true, frontchannel_logout_session_supported: true });
  }
}
