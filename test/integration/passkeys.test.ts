// Passkeys over plain HTTP with a software authenticator (test/helpers/soft-authenticator.ts):
// what the registration endpoint accepts from the browser (the name, the transports),
// other sessions ending when a passkey is added or removed (ASVS 7.4.3), and sign-in
// successes and failures with a passkey in the audit trail. test/e2e/passkeys.test.ts
// drives the same endpoints from Chromium.
import { openAccount } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, inputValue, type Hop } from '../helpers/browser.js';
import { REDIRECT_URI, authRequest, createUser, oidc, registerClient, relyingParty, signIn, submitLogin } from '../helpers/oidc.js';
import { silentAuth } from '../helpers/security.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

let app: TestApp;
let config: oidc.Configuration;

beforeAll(async () => {
  app = await startApp();
  config = await relyingParty(app, await registerClient(app, { client_name: 'Passkey Tests', first_party: true }));
});

afterAll(async () => {
  await app.destroy();
});

interface JsonHop extends Hop {
  json: Record<string, unknown>;
}

/** A JSON call as the pages' scripts make it: the browser's cookies, the page's CSRF token in X-CSRF-Token. */
async function call(browser: Browser, path: string, csrf: string, body?: unknown, method = 'POST'): Promise<JsonHop> {
  const url = `${app.issuer}${path}`;
  const cookie = await browser.jar.getCookieString(url);
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, ...(cookie ? { cookie } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
  });
  for (const setCookie of response.headers.getSetCookie()) await browser.jar.setCookie(setCookie, url);
  const text = await response.text();
  return { status: response.status, url, body: text, headers: response.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

interface AccountSession {
  browser: Browser;
  csrf: string;
  authenticator: SoftAuthenticator;
}

async function accountSession(email: string): Promise<AccountSession> {
  const browser = new Browser();
  const page = await openAccount(browser, app, email);
  return { browser, csrf: inputValue(page.body, 'csrf'), authenticator: new SoftAuthenticator(app.issuer) };
}

/** The two calls of adding a passkey on the account page. */
async function addPasskey(session: AccountSession, name: unknown, extra: { transports?: unknown[] } = {}): Promise<JsonHop> {
  const options = await call(session.browser, '/account/passkeys/options', session.csrf, {});
  expect(options.status).toBe(200);
  const credential = session.authenticator.register(options.json as { challenge: string }, extra);
  return call(session.browser, '/account/passkeys', session.csrf, { credential, name });
}

const storedPasskeys = (userId: string) =>
  app.db.prisma.$queryRaw<Array<{ id: string; name: string; transports: string[] }>>`SELECT id, name, transports FROM passkeys WHERE user_id = ${userId}::uuid`;

describe('what registration accepts from the browser', () => {
  test('when the name holds a NUL or another control character, is blank or longer than 100 characters, then 400 with a clear message and nothing is stored', async () => {
    const user = await createUser(app);
    const session = await accountSession(user.email);
    for (const name of ['Phone\u0000', 'Lap\u0007top', 'Key\u009b', '   ', 'x'.repeat(101), 'broken \ud800 text']) {
      const answer = await addPasskey(session, name);
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: 'invalid_input', error_description: 'Give the passkey a name of 1 to 100 characters, without control characters.' });
    }
    expect(await storedPasskeys(user.id)).toEqual([]);
    const ok = await addPasskey(session, '  Phone (work) ✓  ');
    expect(ok.status).toBe(201);
    expect((ok.json['passkey'] as { name: string }).name).toBe('Phone (work) ✓');
  });

  test('when the browser reports unknown transports, then only the known ones are kept, once each', async () => {
    const user = await createUser(app);
    const session = await accountSession(user.email);
    const answer = await addPasskey(session, 'Key', { transports: ['usb', 'bogus\u0000', 'internal', 'usb', 'x'.repeat(300), 42, 'hybrid'] });
    expect(answer.status).toBe(201);
    const [stored] = await storedPasskeys(user.id);
    expect(stored!.transports).toEqual(['usb', 'internal', 'hybrid']);
  });
});

describe('adding or removing a passkey ends the user\'s other sessions (ASVS 7.4.3)', () => {
  test('when a passkey is added and later removed, then each time another browser\'s session ends (login_required) and the account page\'s stays', async () => {
    const user = await createUser(app);
    const session = await accountSession(user.email);
    const elsewhere = new Browser();
    await signIn(elsewhere, app, await authRequest(config), user.email);
    expect(await silentAuth(elsewhere, app, config)).toMatchObject({ error: null });

    const added = await addPasskey(session, 'Phone');
    expect(added.status).toBe(201);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
    expect((await call(session.browser, '/account/passkeys', session.csrf, undefined, 'GET')).status).toBe(200);

    await signIn(elsewhere, app, await authRequest(config), user.email);
    const id = (added.json['passkey'] as { id: string }).id;
    expect((await call(session.browser, `/account/passkeys/${id}`, session.csrf, undefined, 'DELETE')).status).toBe(204);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
    expect((await call(session.browser, '/account/passkeys', session.csrf, undefined, 'GET')).status).toBe(200);
    expect(await app.app.services.accounts.listSessions(user.id)).toHaveLength(1);
  });
});

describe('passkey sign-ins in the audit trail', () => {
  /** A fresh sign-in page of the test client: the interaction uid and its CSRF token. */
  async function loginPage(browser: Browser): Promise<{ uid: string; csrf: string; page: Hop }> {
    const page = await browser.follow((await authRequest(config)).url.toString(), app.issuer);
    return { uid: /\/interaction\/([^/]+)\/login"/.exec(page.body)![1]!, csrf: inputValue(page.body, 'csrf'), page };
  }

  const eventOf = async (action: string, requestId: string | null) =>
    (await app.app.services.audit.list({ action, limit: 200 })).items.find((event) => event.request_id === requestId);

  test('when a passwordless passkey sign-in fails, then login.failure is recorded (method passkey, no user, never the assertion); when it succeeds, login.success for the user', async () => {
    const user = await createUser(app);
    const session = await accountSession(user.email);
    expect((await addPasskey(session, 'Phone')).status).toBe(201);

    const browser = new Browser();
    const { uid, csrf } = await loginPage(browser);
    const options = await call(browser, `/interaction/${uid}/passkey/options`, csrf, {});
    const forged = session.authenticator.assert(options.json as { challenge: string }, { forge: true });
    const refused = await call(browser, `/interaction/${uid}/passkey/verify`, csrf, { credential: forged });
    expect(refused.status).toBe(403);
    const failure = await eventOf('login.failure', refused.headers.get('x-request-id'));
    expect(failure).toMatchObject({ actor: { type: 'anonymous' }, target: { type: 'user', id: 'unknown' }, after: { method: 'passkey' } });
    expect(JSON.stringify(failure)).not.toContain(forged.response.signature);

    const again = await call(browser, `/interaction/${uid}/passkey/options`, csrf, {});
    const accepted = await call(browser, `/interaction/${uid}/passkey/verify`, csrf, { credential: session.authenticator.assert(again.json as { challenge: string }) });
    expect(accepted.status).toBe(200);
    const success = await eventOf('login.success', accepted.headers.get('x-request-id'));
    expect(success).toMatchObject({ actor: { type: 'user', id: user.id }, target: { id: user.id }, after: { method: 'passkey' } });
    const callback = await browser.follow(String(accepted.json['redirect']), app.issuer);
    expect(callback.location?.startsWith(REDIRECT_URI)).toBe(true);
  });

  test('when a passkey fails as the second factor, then login.failure is recorded for the user who passed the password (method passkey)', async () => {
    const user = await createUser(app);
    const session = await accountSession(user.email);
    expect((await addPasskey(session, 'Phone')).status).toBe(201);

    // A passkey alone does not make the second step mandatory: a client demanding it does.
    const browser = new Browser();
    const demanding = await browser.follow((await authRequest(config, { acr_values: 'urn:gatehouse:acr:mfa' })).url.toString(), app.issuer);
    const mfaUid = /\/interaction\/([^/]+)\/login"/.exec(demanding.body)![1]!;
    const codePage = await submitLogin(browser, app, demanding, user.email);
    expect(codePage.status).toBe(200);
    const csrf = inputValue(codePage.body, 'csrf');
    const options = await call(browser, `/interaction/${mfaUid}/passkey/second-factor/options`, csrf, {});
    expect(options.status).toBe(200);
    const refused = await call(browser, `/interaction/${mfaUid}/passkey/second-factor/verify`, csrf, {
      credential: session.authenticator.assert(options.json as { challenge: string }, { forge: true }),
    });
    expect(refused.status).toBe(403);
    const failure = await eventOf('login.failure', refused.headers.get('x-request-id'));
    expect(failure).toMatchObject({ target: { type: 'user', id: user.id }, after: { method: 'passkey', step: 'second_factor' } });
  });
});
