// Logout reaching relying parties: OIDC Back-Channel Logout 1.0 (checklist E7, D5's logout
// token) and OIDC Front-Channel Logout 1.0. The relying party of the back channel is a
// real https server on loopback, reached through the app's SSRF-safe fetch with the
// test-only OUTBOUND_TEST_CA_FILE; its logout tokens are verified with jose against the
// published JWKS.
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { loadConfig } from '../../src/config.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { formAction, inputValue, type Hop } from '../helpers/browser.js';
import { makeCertificate, startHttpsRelyingParty, type HttpsRelyingParty, type TestCertificate } from '../helpers/https-rp.js';
import { tcpTarpit, type Listener } from '../helpers/listeners.js';
import {
  Browser, POST_LOGOUT_URI, authRequest, createUser, exchange, registerClient, relyingParty, signIn, type RegisteredClient,
} from '../helpers/oidc.js';

// See c5-outbound-fetch.test.ts: inside Jest's VM context oidc-provider cannot set up its
// own undici guard and warns; createOutboundFetch does the checking and ignores it.
const consoleWarn = console.warn;
console.warn = (...args: unknown[]) => {
  if (/oidc-provider WARNING: failed to setup SSRF protection for fetch/.test(args.map(String).join(' '))) return;
  consoleWarn(...args);
};

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

let app: TestApp;
let certificate: TestCertificate;
let rp: HttpsRelyingParty;
let endSessionEndpoint: string;
let discovery: Record<string, unknown>;
const listeners: Listener[] = [];

beforeAll(async () => {
  certificate = makeCertificate();
  rp = await startHttpsRelyingParty(certificate);
  app = await startApp({ env: { OUTBOUND_TEST_CA_FILE: certificate.caFile } });
  discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  endSessionEndpoint = String(discovery.end_session_endpoint);
});

afterAll(async () => {
  await Promise.all([rp, ...listeners].map((listener) => listener.close()));
  await app.destroy();
  certificate.remove();
});

interface SignedIn {
  browser: Browser;
  idToken: string;
  claims: Record<string, unknown>;
}

async function signInTo(client: RegisteredClient, email: string, browser = new Browser()): Promise<SignedIn> {
  const config = await relyingParty(app, client);
  const request = await authRequest(config);
  const tokens = await exchange(config, await signIn(browser, app, request, email), request);
  return { browser, idToken: tokens.id_token!, claims: decodeJwt(tokens.id_token!) };
}

/** RP-initiated logout through the confirmation page; the confirm answer and how long it took. */
async function logOut(browser: Browser, params: Record<string, string>): Promise<{ done: Hop; ms: number }> {
  const url = new URL(endSessionEndpoint);
  url.search = new URLSearchParams(params).toString();
  const page = await browser.request(url.toString(), { headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  const start = performance.now();
  const done = await browser.request(new URL(formAction(page.body, '/session/end/confirm'), app.issuer).toString(), {
    form: { xsrf: inputValue(page.body, 'xsrf'), logout: 'yes' },
  });
  return { done, ms: performance.now() - start };
}

/** Verifies a logout token the way a relying party must (Back-Channel Logout 1.0 §2.6). */
async function verifyLogoutToken(recorded: { contentType: string | undefined; body: string }, clientId: string) {
  expect(recorded.contentType).toMatch(/^application\/x-www-form-urlencoded/);
  const token = new URLSearchParams(recorded.body).get('logout_token');
  expect(typeof token).toBe('string');
  const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)));
  const { payload, protectedHeader } = await jwtVerify(token!, jwks, { issuer: app.issuer, audience: clientId, typ: 'logout+jwt' });
  const now = Math.floor(Date.now() / 1000);
  expect(protectedHeader.typ).toBe('logout+jwt');
  expect(payload.aud).toBe(clientId);
  expect(payload.iat).toBeLessThanOrEqual(now + 5);
  expect(payload.iat).toBeGreaterThan(now - 86400);
  expect(typeof payload.jti).toBe('string');
  expect(payload.events).toEqual({ [BACKCHANNEL_EVENT]: {} });
  expect(payload).not.toHaveProperty('nonce');
  expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
  return payload;
}

describe('back-channel logout (checklist E7)', () => {
  test('when a user signs out through RP-initiated logout, then each client with a backchannel_logout_uri gets a valid logout token', async () => {
    const user = await createUser(app);
    const withSid = await registerClient(app, {
      client_name: 'Back-channel with sid', first_party: true,
      backchannel_logout_uri: `${rp.origin}/bc/with-sid`, backchannel_logout_session_required: true,
    });
    const withoutSid = await registerClient(app, {
      client_name: 'Back-channel without sid', first_party: true, backchannel_logout_uri: `${rp.origin}/bc/without-sid`,
    });
    const first = await signInTo(withSid, user.email);
    await signInTo(withoutSid, user.email, first.browser);

    const { done } = await logOut(first.browser, { id_token_hint: first.idToken, post_logout_redirect_uri: POST_LOGOUT_URI });
    expect(done.status).toBe(303);
    expect(done.location).toBe(POST_LOGOUT_URI);

    const sidToken = await verifyLogoutToken(await rp.waitFor('/bc/with-sid'), withSid.clientId);
    expect(sidToken.sub).toBe(user.id);
    expect(typeof first.claims.sid).toBe('string');
    expect(sidToken.sid).toBe(first.claims.sid);

    const plainToken = await verifyLogoutToken(await rp.waitFor('/bc/without-sid'), withoutSid.clientId);
    expect(plainToken.sub).toBe(user.id);
    expect(plainToken).not.toHaveProperty('sid');
    expect(rp.requests.filter((request) => request.path.startsWith('/bc/with')).every((request) => request.method === 'POST')).toBe(true);
  });

  test('when an administrator ends a user\'s sessions, then the clients of those sessions get logout tokens', async () => {
    const user = await createUser(app);
    const client = await registerClient(app, {
      client_name: 'Back-channel admin', first_party: true,
      backchannel_logout_uri: `${rp.origin}/bc/admin-all`, backchannel_logout_session_required: true,
    });
    const signedIn = await signInTo(client, user.email);
    const admin = await adminToken(app);
    const sessions = await adminRequest(app, admin, 'GET', `/users/${user.id}/sessions`);
    expect(sessions.body.items).toHaveLength(1);

    const revoked = await adminRequest(app, admin, 'DELETE', `/users/${user.id}/sessions`);
    expect(revoked.status).toBe(204);
    const token = await verifyLogoutToken(await rp.waitFor('/bc/admin-all'), client.clientId);
    expect(token.sub).toBe(user.id);
    expect(token.sid).toBe(signedIn.claims.sid);
  });

  test('when an administrator ends one session, then that session\'s client gets a logout token with its sid', async () => {
    const user = await createUser(app);
    const client = await registerClient(app, {
      client_name: 'Back-channel admin one', first_party: true,
      backchannel_logout_uri: `${rp.origin}/bc/admin-one`, backchannel_logout_session_required: true,
    });
    const signedIn = await signInTo(client, user.email);
    const admin = await adminToken(app);
    const sessions = await adminRequest(app, admin, 'GET', `/users/${user.id}/sessions`);
    const revoked = await adminRequest(app, admin, 'DELETE', `/users/${user.id}/sessions/${encodeURIComponent(sessions.body.items[0].id)}`);
    expect(revoked.status).toBe(204);
    const token = await verifyLogoutToken(await rp.waitFor('/bc/admin-one'), client.clientId);
    expect(token.sid).toBe(signedIn.claims.sid);
  });

  test('when a client\'s back-channel endpoint is a tarpit, then the user\'s logout still finishes in under 6 s and the failure is reported', async () => {
    const tarpit = await tcpTarpit('127.0.0.1');
    listeners.push(tarpit);
    const failures: Array<{ clientId: string; message: string }> = [];
    const onError = (_ctx: unknown, error: Error, client: { clientId: string }) => failures.push({ clientId: client.clientId, message: error.message });
    (app.app.provider as unknown as NodeJS.EventEmitter).on('backchannel.error', onError);
    try {
      const user = await createUser(app);
      const slow = await registerClient(app, { client_name: 'Tarpit RP', first_party: true, backchannel_logout_uri: `https://127.0.0.1:${tarpit.port}/bc` });
      const healthy = await registerClient(app, { client_name: 'Healthy RP', first_party: true, backchannel_logout_uri: `${rp.origin}/bc/beside-tarpit` });
      const signedIn = await signInTo(slow, user.email);
      await signInTo(healthy, user.email, signedIn.browser);

      const { done, ms } = await logOut(signedIn.browser, { id_token_hint: signedIn.idToken, post_logout_redirect_uri: POST_LOGOUT_URI });
      expect(done.status).toBe(303);
      expect(done.location).toBe(POST_LOGOUT_URI);
      expect(ms).toBeLessThan(6000);
      expect(tarpit.connections).toBeGreaterThan(0);
      // The healthy client was told all the same.
      await verifyLogoutToken(await rp.waitFor('/bc/beside-tarpit'), healthy.clientId);
      // oidc/events.ts logs every backchannel.error at warn level.
      expect(failures.map((failure) => failure.clientId)).toEqual([slow.clientId]);
    } finally {
      (app.app.provider as unknown as NodeJS.EventEmitter).off('backchannel.error', onError);
    }
  }, 15_000);
});

/** The iframes of a page, their src unescaped. */
function frames(html: string): string[] {
  return [...html.matchAll(/<iframe\b[^>]*\bsrc="([^"]*)"/g)].map((match) => match[1]!.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"'));
}

function directive(csp: string | null, name: string): string | undefined {
  return (csp ?? '').split(';').map((part) => part.trim()).find((part) => part.startsWith(`${name} `));
}

describe('front-channel logout', () => {
  test('when discovery is fetched, then it advertises front-channel logout with session ids', () => {
    expect(discovery.frontchannel_logout_supported).toBe(true);
    expect(discovery.frontchannel_logout_session_supported).toBe(true);
  });

  test('when a user signed in to two clients signs out, then the signed-out page frames only the one with a frontchannel_logout_uri, with iss and its sid', async () => {
    const user = await createUser(app);
    const framed = await registerClient(app, {
      client_name: 'Front-channel RP', first_party: true,
      frontchannel_logout_uri: 'https://rp-front.example.com/logout?from=gatehouse', frontchannel_logout_session_required: true,
    });
    const plain = await registerClient(app, { client_name: 'Plain RP', first_party: true });
    const signedIn = await signInTo(framed, user.email);
    const other = await signInTo(plain, user.email, signedIn.browser);
    expect(typeof signedIn.claims.sid).toBe('string');
    // Without back-channel or front-channel session ids, a client's ID token carries no sid.
    expect(other.claims).not.toHaveProperty('sid');

    const { done } = await logOut(signedIn.browser, { id_token_hint: other.idToken });
    expect(done.status).toBe(303);
    expect(new URL(done.location!).pathname).toBe('/session/end/success');
    const page = await signedIn.browser.request(done.location!);
    expect(page.status).toBe(200);
    expect(page.body).toContain('You are signed out');

    const found = frames(page.body);
    expect(found).toHaveLength(1);
    const url = new URL(found[0]!);
    expect(`${url.origin}${url.pathname}`).toBe('https://rp-front.example.com/logout');
    expect(url.searchParams.get('from')).toBe('gatehouse');
    expect(url.searchParams.get('iss')).toBe(app.issuer);
    expect(url.searchParams.get('sid')).toBe(signedIn.claims.sid);

    const csp = page.headers.get('content-security-policy');
    expect(directive(csp, 'frame-src')).toBe('frame-src https://rp-front.example.com');
    expect(directive(csp, 'frame-ancestors')).toBe("frame-ancestors 'none'");

    // Shown once: the list is consumed, and another browser never sees it.
    const again = await signedIn.browser.request(done.location!);
    expect(frames(again.body)).toHaveLength(0);
    expect(directive(again.headers.get('content-security-policy'), 'frame-src')).toBeUndefined();
  });

  test('when logout returns to the client, then an interstitial frames the logout URIs first and continues to the post_logout_redirect_uri', async () => {
    const user = await createUser(app);
    const framed = await registerClient(app, {
      client_name: 'Front-channel RP no sid', first_party: true, frontchannel_logout_uri: 'https://rp-front2.example.com/logout',
    });
    const signedIn = await signInTo(framed, user.email);
    const { done } = await logOut(signedIn.browser, { id_token_hint: signedIn.idToken, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'abc' });
    expect(done.status).toBe(200);
    expect(done.location).toBeUndefined();
    // No session id asked for: the URI exactly as registered.
    expect(frames(done.body)).toEqual(['https://rp-front2.example.com/logout']);
    expect(done.body).toContain(`href="${POST_LOGOUT_URI}?state=abc"`);
    const csp = done.headers.get('content-security-policy');
    expect(directive(csp, 'frame-src')).toBe('frame-src https://rp-front2.example.com');
    expect(directive(csp, 'frame-ancestors')).toBe("frame-ancestors 'none'");
    // The session did end.
    const silent = await signedIn.browser.follow((await authRequest(await relyingParty(app, framed), { prompt: 'none' })).url.toString(), app.issuer);
    expect(new URL(silent.location!).searchParams.get('error')).toBe('login_required');
  });

  test('when an administrator registers front-channel settings, then they are validated like redirect URIs and shown on the client', async () => {
    const admin = await adminToken(app);
    const base = { client_name: 'FC admin', redirect_uris: ['https://fc.example.com/cb'] };
    const bad = await adminRequest(app, admin, 'POST', '/clients', { ...base, frontchannel_logout_uri: 'http://fc.example.com/logout' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('frontchannel_logout_uri');
    const fragment = await adminRequest(app, admin, 'POST', '/clients', { ...base, frontchannel_logout_uri: 'https://fc.example.com/logout#x' });
    expect(fragment.status).toBe(400);
    const notBoolean = await adminRequest(app, admin, 'POST', '/clients', { ...base, frontchannel_logout_uri: 'https://fc.example.com/logout', frontchannel_logout_session_required: 'yes' });
    expect(notBoolean.status).toBe(400);

    const created = await adminRequest(app, admin, 'POST', '/clients', {
      ...base, frontchannel_logout_uri: 'https://fc.example.com/logout', frontchannel_logout_session_required: true,
    });
    expect(created.status).toBe(201);
    const id = created.body.client.client_id as string;
    const shown = await adminRequest(app, admin, 'GET', `/clients/${id}`);
    expect(shown.body).toMatchObject({ frontchannel_logout_uri: 'https://fc.example.com/logout', frontchannel_logout_session_required: true });
    // http is fine on localhost outside production, as for redirect URIs.
    const local = await adminRequest(app, admin, 'PATCH', `/clients/${id}`, { frontchannel_logout_uri: 'http://localhost:8080/logout' });
    expect(local.status).toBe(200);
    expect(local.body.client.frontchannel_logout_uri).toBe('http://localhost:8080/logout');
  });
});

describe('OUTBOUND_TEST_CA_FILE (the test-only allowance that lets these tests reach a loopback relying party)', () => {
  test('when it is set outside NODE_ENV=test, then start-up is refused naming it', () => {
    for (const NODE_ENV of ['development', 'production']) {
      expect(() => loadConfig({
        NODE_ENV, OUTBOUND_TEST_CA_FILE: certificate.caFile, ISSUER: 'https://id.example.com', TRUST_PROXY: 'true',
        SECRET_KEY: 'A'.repeat(44), COOKIE_KEYS: 'k'.repeat(32),
      })).toThrow(/OUTBOUND_TEST_CA_FILE: only allowed with NODE_ENV=test/);
    }
    expect(loadConfig({ NODE_ENV: 'test', OUTBOUND_TEST_CA_FILE: certificate.caFile }).outboundTestCaFile).toBe(certificate.caFile);
  });
});
