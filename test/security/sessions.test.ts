// Checklist E2, E3, E4 and E8 (/work/shared/reference/security-checklist.md): the browser
// session at Gatehouse is never adopted from an attacker, interactions are bound to the
// browser that started them and their forms to an anti-CSRF token, sessions end when
// idle and at an absolute lifetime, and an administrator can end a user's sessions.
// Everything is driven over HTTP with separate cookie jars, as browsers would.
// (E8's "changes need a recent sign-in" is covered by test/integration/account.test.ts,
// "when the sign-in is older than ten minutes, then setting up or turning off the second
// factor first asks to sign in again".)
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { PASSWORD, REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, submitLogin } from '../helpers/oidc.js';
import { plantCookies, sessionCookies, silentAuth, sleep } from '../helpers/security.js';

let app: TestApp;
let firstParty: oidc.Configuration;
let thirdParty: oidc.Configuration;

beforeAll(async () => {
  app = await startApp();
  firstParty = await relyingParty(app, await registerClient(app, { client_name: 'Session Tests', first_party: true }));
  thirdParty = await relyingParty(app, await registerClient(app, { client_name: 'Third Party' }));
});

afterAll(async () => {
  await app.destroy();
});

const sessionValue = (cookies: Array<{ key: string; value: string }>) => cookies.find((cookie) => !cookie.key.endsWith('.sig'))?.value;

/** A fresh browser signed in to the first-party client; returns it and its session cookies. */
async function signedIn(email: string, browser = new Browser()) {
  const request = await authRequest(firstParty);
  const callback = await signIn(browser, app, request, email);
  expect(callback.searchParams.get('code')).toBeTruthy();
  return { browser, cookies: await sessionCookies(browser, app) };
}

// ---------------------------------------------------------------------------------------
describe('E2 a session cookie planted before login is never adopted', () => {
  test('when an attacker plants the session cookie GET /session/end gave them and the victim signs in, then the victim gets a different session cookie and the planted one gets login_required', async () => {
    const user = await createUser(app);
    const attacker = new Browser();
    const logoutPage = await attacker.request(`${app.issuer}/session/end`, { headers: { accept: 'text/html' } });
    expect(logoutPage.status).toBe(200);
    const planted = await sessionCookies(attacker, app);
    // The endpoint does create a session: this is what an attacker can obtain and plant.
    expect(planted.map((cookie) => cookie.key).sort()).toEqual(['_session', '_session.sig']);
    const plantedValue = sessionValue(planted)!;
    expect(plantedValue.length).toBeGreaterThan(10);

    const victim = new Browser();
    await plantCookies(victim, app, planted);
    const { cookies } = await signedIn(user.email, victim);
    expect(sessionValue(cookies)).toBeTruthy();
    expect(sessionValue(cookies)).not.toBe(plantedValue);
    expect(await silentAuth(victim, app, firstParty)).toEqual({ code: expect.any(String), error: null });

    // The attacker replays exactly what they planted: nothing was authenticated under it.
    expect(await silentAuth(attacker, app, firstParty)).toEqual({ code: null, error: 'login_required' });
    const replay = new Browser();
    await plantCookies(replay, app, planted);
    expect(await silentAuth(replay, app, firstParty)).toEqual({ code: null, error: 'login_required' });
  });

  test('when an attacker-chosen session value (never issued) is planted and the victim signs in, then the value is replaced and replaying it gets login_required', async () => {
    const user = await createUser(app);
    const chosen = [{ key: '_session', value: 'attackerChosenSessionValue0123456789' }];
    const victim = new Browser();
    await plantCookies(victim, app, chosen);
    const { cookies } = await signedIn(user.email, victim);
    expect(sessionValue(cookies)).not.toBe(chosen[0]!.value);
    const replay = new Browser();
    await plantCookies(replay, app, chosen);
    expect(await silentAuth(replay, app, firstParty)).toEqual({ code: null, error: 'login_required' });
  });

  test('when a signed-in user re-authenticates (prompt=login), then the session cookie value changes and the old value gets login_required', async () => {
    const user = await createUser(app);
    const { browser, cookies: before } = await signedIn(user.email);
    const request = await authRequest(firstParty, { prompt: 'login' });
    const page = await browser.follow(request.url.toString(), app.issuer);
    expect(page.body).toContain('name="password"');
    const hop = await submitLogin(browser, app, page, user.email);
    expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);
    const after = await sessionCookies(browser, app);
    expect(sessionValue(after)).toBeTruthy();
    expect(sessionValue(after)).not.toBe(sessionValue(before));

    const replay = new Browser();
    await plantCookies(replay, app, before);
    expect(await silentAuth(replay, app, firstParty)).toEqual({ code: null, error: 'login_required' });
    expect((await silentAuth(browser, app, firstParty)).code).toBeTruthy();
  });
});

// ---------------------------------------------------------------------------------------
describe('E3 interactions are bound to the browser that started them; their forms need the anti-CSRF token', () => {
  /** Starts an authorization request in a fresh jar; returns the jar, the request and its login page. */
  async function startIn(config: oidc.Configuration) {
    const browser = new Browser();
    const request = await authRequest(config);
    const page = await browser.follow(request.url.toString(), app.issuer);
    expect(page.status).toBe(200);
    const action = new URL(formAction(page.body, '/login'), app.issuer).toString();
    return { browser, request, page, action, csrf: inputValue(page.body, 'csrf') };
  }

  function expectNoCode(hop: Hop) {
    expect(hop.status).toBeGreaterThanOrEqual(400);
    expect(hop.status).toBeLessThan(500);
    expect(hop.location).toBeUndefined();
    expect(hop.body).not.toContain('code=');
  }

  test('when an interaction started in jar A has its login form posted from jar B (no interaction cookie), then 4xx, no code, and A is still not signed in', async () => {
    const user = await createUser(app);
    const a = await startIn(firstParty);
    const b = new Browser();
    const answer = await b.request(a.action, { form: { csrf: a.csrf, login: user.email, password: PASSWORD } });
    expectNoCode(answer);
    expect(await sessionCookies(b, app)).toEqual([]);
    // B got nothing it can use: its own silent request is refused.
    expect(await silentAuth(b, app, firstParty)).toEqual({ code: null, error: 'login_required' });
    // A's interaction was not completed by B's POST: it still shows the sign-in form.
    const again = await a.browser.request(a.page.url);
    expect(again.status).toBe(200);
    expect(again.body).toContain('name="password"');
  });

  test('when jar B has an interaction of its own and posts the login of A\'s interaction, then 4xx and no code for either', async () => {
    const user = await createUser(app);
    const a = await startIn(firstParty);
    const b = await startIn(firstParty);
    const answer = await b.browser.request(a.action, { form: { csrf: a.csrf, login: user.email, password: PASSWORD } });
    expectNoCode(answer);
    expect(await silentAuth(b.browser, app, firstParty)).toEqual({ code: null, error: 'login_required' });
    expect(await silentAuth(a.browser, app, firstParty)).toEqual({ code: null, error: 'login_required' });
  });

  test('when the consent form is posted without its csrf field or with a forged one, then 4xx (403 for the forged one), no code, and the consent page is still pending', async () => {
    const user = await createUser(app);
    const started = await startIn(thirdParty);
    const consent = await submitLogin(started.browser, app, started.page, user.email);
    expect(consent.status).toBe(200);
    expect(consent.body).toContain('/confirm"');
    const confirm = new URL(formAction(consent.body, '/confirm'), app.issuer).toString();

    const answer = await started.browser.request(confirm, { method: 'POST', form: {} });
    expectNoCode(answer);
    const withOther = await started.browser.request(confirm, { form: { csrf: 'x'.repeat(43) } });
    expect(withOther.status).toBe(403);
    expectNoCode(withOther);

    // Nothing was granted: the page asks again, and only the real form gets a code.
    const page = await started.browser.request(consent.url);
    expect(page.status).toBe(200);
    expect(page.body).toContain('/confirm"');
    const done = await started.browser.follow(confirm, app.issuer, { form: { csrf: inputValue(page.body, 'csrf') } });
    expect(done.location?.startsWith(REDIRECT_URI)).toBe(true);
    expect(new URL(done.location!).searchParams.get('code')).toBeTruthy();
  });

  test('when the consent abort form is posted without its csrf field, then 4xx and the client gets nothing', async () => {
    const user = await createUser(app);
    const started = await startIn(thirdParty);
    const consent = await submitLogin(started.browser, app, started.page, user.email);
    const abort = new URL(formAction(consent.body, '/abort'), app.issuer).toString();
    expectNoCode(await started.browser.request(abort, { method: 'POST', form: {} }));
  });

  // The brief for these tests, and every other form of Gatehouse (account, password reset,
  // email verification), answer a missing anti-CSRF token with 403 "could not be verified";
  // the interaction forms parse the form before checking the token and answer 400.
  test('when the login, consent and abort forms are posted without their csrf field, then each answer is 403 (as for a wrong token) and nothing is signed in or granted', async () => {
    const user = await createUser(app);
    const a = await startIn(firstParty);
    const login = await a.browser.request(a.action, { form: { login: user.email, password: PASSWORD } });
    const started = await startIn(thirdParty);
    const consent = await submitLogin(started.browser, app, started.page, user.email);
    const confirm = await started.browser.request(new URL(formAction(consent.body, '/confirm'), app.issuer).toString(), { method: 'POST', form: {} });
    const abort = await started.browser.request(new URL(formAction(consent.body, '/abort'), app.issuer).toString(), { method: 'POST', form: {} });
    for (const answer of [login, confirm, abort]) expectNoCode(answer);
    expect(await sessionCookies(a.browser, app)).toEqual([]);
    expect({ login: login.status, confirm: confirm.status, abort: abort.status }).toEqual({ login: 403, confirm: 403, abort: 403 });
  });
});

// ---------------------------------------------------------------------------------------
describe('E8 an administrator ends a user\'s sessions', () => {
  test('when an admin calls DELETE /admin/users/{id}/sessions, then that user\'s next prompt=none gets login_required (also with a kept copy of the cookie) and another user stays signed in', async () => {
    const token = await adminToken(app);
    const user = await createUser(app);
    const bystander = await createUser(app);
    const { browser, cookies } = await signedIn(user.email);
    const other = await signedIn(bystander.email);
    expect((await silentAuth(browser, app, firstParty)).code).toBeTruthy();

    const response = await adminRequest(app, token, 'DELETE', `/users/${user.id}/sessions`);
    expect(response.status).toBe(204);

    expect(await silentAuth(browser, app, firstParty)).toEqual({ code: null, error: 'login_required' });
    const replay = new Browser();
    await plantCookies(replay, app, cookies);
    expect(await silentAuth(replay, app, firstParty)).toEqual({ code: null, error: 'login_required' });
    expect((await silentAuth(other.browser, app, firstParty)).code).toBeTruthy();
  });
});

// ---------------------------------------------------------------------------------------
describe('E4 idle timeout and absolute session lifetime (SESSION_IDLE_TTL=2, SESSION_TTL=6)', () => {
  let short: TestApp;
  let config: oidc.Configuration;

  beforeAll(async () => {
    short = await startApp({ env: { SESSION_IDLE_TTL: '2', SESSION_TTL: '6' } });
    config = await relyingParty(short, await registerClient(short, { client_name: 'Short Sessions', first_party: true }));
  });

  afterAll(async () => {
    await short.destroy();
  });

  async function signedInShort() {
    const user = await createUser(short);
    const browser = new Browser();
    const request = await authRequest(config);
    const callback = await signIn(browser, short, request, user.email);
    const tokens = await exchange(config, callback, request);
    expect(tokens.claims()?.sub).toBe(user.id);
    return { browser, cookies: await sessionCookies(browser, short), signedInAt: Date.now() };
  }

  test('when the session is left idle for more than 2 s, then prompt=none gets login_required, also when the cookie is replayed without its expiry', async () => {
    const { browser, cookies } = await signedInShort();
    expect((await silentAuth(browser, short, config)).code).toBeTruthy();
    await sleep(3200);
    expect(await silentAuth(browser, short, config)).toEqual({ code: null, error: 'login_required' });
    // The server forgot the session too; it is not only the browser dropping an expired cookie.
    const replay = new Browser();
    await plantCookies(replay, short, cookies);
    expect(await silentAuth(replay, short, config)).toEqual({ code: null, error: 'login_required' });
  });

  test('when the session stays active (prompt=none about every second), then it outlives the idle timeout but ends at the absolute lifetime', async () => {
    const { browser, cookies, signedInAt } = await signedInShort();
    const outcomes: Array<{ at: number; code: boolean; error: string | null }> = [];
    while (Date.now() - signedInAt < 9000) {
      const result = await silentAuth(browser, short, config);
      outcomes.push({ at: Date.now() - signedInAt, code: Boolean(result.code), error: result.error });
      await sleep(800);
    }
    // Active for longer than the idle timeout: still signed in.
    expect(outcomes.filter((outcome) => outcome.at < 4000).every((outcome) => outcome.code)).toBe(true);
    expect(outcomes.some((outcome) => outcome.at > 3000 && outcome.code)).toBe(true);
    // Past the absolute lifetime (6 s from the sign-in, counted in whole seconds, plus a
    // second of slack): signed out, and it stays that way.
    const late = outcomes.filter((outcome) => outcome.at > 7500);
    expect(late.length).toBeGreaterThan(0);
    expect(late).toEqual(late.map((outcome) => ({ ...outcome, code: false, error: 'login_required' })));
    const replay = new Browser();
    await plantCookies(replay, short, cookies);
    expect(await silentAuth(replay, short, config)).toEqual({ code: null, error: 'login_required' });
  }, 30_000);
});
