// Passkeys in a real browser: Chromium with a virtual platform authenticator (CDP), the
// issuer at http://localhost:<port> (a secure context and a valid RP ID). One user adds
// a passkey on the account page, then signs in to a relying party with it alone; captured
// or foreign-origin assertions are refused; a removed passkey no longer works.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import type { TestApp } from '../helpers/app.js';
import { startBrowserSuite, type BrowserSuite } from '../helpers/browser-suite.js';
import { addVirtualAuthenticator, describeInBrowser, newContext, type Browser, type BrowserContext, type Page } from '../helpers/chromium.js';
import { authRequest, createUser, exchange, oidc, PASSWORD, TEST_ACTOR, type AuthRequest } from '../helpers/oidc.js';

const ACR_MFA = 'urn:gatehouse:acr:mfa';
const require = createRequire(import.meta.url);
const BROWSER_PACKAGE = path.resolve(path.dirname(require.resolve('@simplewebauthn/browser')), '..');
const BUNDLE = readFileSync(path.join(BROWSER_PACKAGE, 'dist', 'bundle', 'index.umd.min.js'));

let suite: BrowserSuite;
let app: TestApp;
let browser: Browser;
let config: oidc.Configuration;
/** The relying party's redirect URI: a stand-in that answers, so the browser settles on it. */
let redirectUri: string;

beforeAll(async () => {
  suite = await startBrowserSuite();
  ({ app, browser, config, redirectUri } = suite);
});

afterAll(() => suite?.close());

/** Signs in to the account page with the password (the account client's sign-in round trip). */
async function signInToAccount(page: Page, email: string): Promise<void> {
  await page.goto(`${app.issuer}/account`);
  await page.fill('#login', email);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${app.issuer}/account`), page.click('form[action$="/login"] button[type=submit]')]);
  await page.waitForSelector('#passkey-account');
}

async function addPasskey(page: Page, name: string): Promise<void> {
  await page.fill('#passkey-name', name);
  await page.click('#passkey-add button[type=submit]');
  await page.locator('#passkey-list li', { hasText: name }).waitFor();
}

/** Opens the client's authorization request on the sign-in page (prompt=login: even with a session). */
async function openSignIn(page: Page): Promise<AuthRequest> {
  const request = await authRequest(config, { prompt: 'login', redirect_uri: redirectUri });
  await page.goto(request.url.toString());
  await page.waitForSelector('#passkey-login-button');
  return request;
}

/** Clicks "Sign in with a passkey" and returns the redirect to the client with its code. */
async function signInWithPasskey(page: Page): Promise<{ callback: URL; verifyBody: string }> {
  const callback = page.waitForRequest((request) => request.url().startsWith(redirectUri));
  const verify = page.waitForRequest((request) => request.url().endsWith('/passkey/verify'));
  await page.click('#passkey-login-button');
  const [verifyRequest, callbackRequest] = await Promise.all([verify, callback]);
  await page.waitForURL((url) => url.toString().startsWith(redirectUri));
  return { callback: new URL(callbackRequest.url()), verifyBody: verifyRequest.postData() ?? '' };
}

/** POSTs JSON from the page (its cookies, its origin) with the page's interaction CSRF token. */
async function postFromPage(page: Page, suffix: string, body: unknown, withCsrf = true): Promise<{ status: number; body: Record<string, unknown> }> {
  return page.evaluate(async ({ suffix, body, withCsrf }) => {
    const section = document.getElementById('passkey-login')!;
    const response = await fetch(`/interaction/${section.dataset.uid}/passkey${suffix}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(withCsrf ? { 'x-csrf-token': section.dataset.csrf! } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }, { suffix, body, withCsrf });
}

test('when the WebAuthn script is requested, then it is served from this origin as JavaScript, cacheable for a year', async () => {
  const response = await fetch(`${app.origin}/assets/webauthn.js`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/javascript\b/);
  expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect(Buffer.from(await response.arrayBuffer()).equals(BUNDLE)).toBe(true);
  // The pages name the installed version in the URL, so a year of caching never serves a stale copy.
  const { version } = JSON.parse(readFileSync(path.join(BROWSER_PACKAGE, 'package.json'), 'utf8')) as { version: string };
  expect(readFileSync('views/partials/passkey-client.eta', 'utf8')).toContain(`/assets/webauthn.js?v=${version}"`);
});

describeInBrowser('a passkey added on the account page', () => {
  let context: BrowserContext;
  let page: Page;
  let user: Awaited<ReturnType<typeof createUser>>;
  let captured: string;

  beforeAll(async () => {
    user = await createUser(app);
    context = await newContext(browser);
    page = await context.newPage();
    await addVirtualAuthenticator(page);
  });

  afterAll(async () => {
    await context?.close();
  });

  test('when the user adds a passkey and later signs in to a client with it alone, then the ID token says a user-verified key at the MFA level', async () => {
    await signInToAccount(page, user.email);
    await addPasskey(page, 'Work laptop');
    const listed = await app.app.services.audit.list({ action: 'passkey.register', target_id: user.id });
    expect(listed.items).toHaveLength(1);

    // Signed out of Gatehouse: only the passkey can sign in now.
    await context.clearCookies();
    const request = await openSignIn(page);
    const { callback, verifyBody } = await signInWithPasskey(page);
    captured = verifyBody;
    const tokens = await exchange(config, callback, request);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    const used = await app.app.services.audit.list({ action: 'passkey.use', target_id: user.id });
    expect(used.items).toHaveLength(1);
    // The audit trail names the passkey, never key material or the assertion.
    expect(JSON.stringify(used.items)).not.toContain(JSON.parse(captured).credential.response.signature);
  });

  test('when a captured assertion is sent again to a new sign-in, then it is refused and the passkey still works', async () => {
    await openSignIn(page);
    // A fresh challenge exists for this sign-in; the captured assertion signed an older one.
    expect((await postFromPage(page, '/options', {})).status).toBe(200);
    const replayed = await postFromPage(page, '/verify', captured);
    expect(replayed.status).toBe(403);
    expect(replayed.body.redirect).toBeUndefined();
    // The refusal spent that challenge; a genuine attempt gets a new one and succeeds.
    const request = await openSignIn(page);
    const { callback } = await signInWithPasskey(page);
    expect((await exchange(config, callback, request)).claims()!.sub).toBe(user.id);
  });

  test('when an assertion made on another origin is presented, then it is refused', async () => {
    // Another origin with the same RP ID (localhost, other port): the authenticator will sign there.
    const foreign: Server = createServer((req, res) => {
      if (req.url === '/webauthn.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(BUNDLE);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title><script src="/webauthn.js"></script>');
    });
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    try {
      await openSignIn(page);
      const loginUrl = page.url();
      const options = await postFromPage(page, '/options', {});
      expect(options.status).toBe(200);
      await page.goto(`http://localhost:${(foreign.address() as AddressInfo).port}/`);
      const assertion = await page.evaluate(async (optionsJSON) => {
        const lib = (window as unknown as { SimpleWebAuthnBrowser: { startAuthentication(o: unknown): Promise<unknown> } }).SimpleWebAuthnBrowser;
        return lib.startAuthentication({ optionsJSON });
      }, options.body);
      // Everything about it is genuine (credential, challenge) except the origin it was made on.
      const clientData = JSON.parse(Buffer.from((assertion as { response: { clientDataJSON: string } }).response.clientDataJSON, 'base64url').toString('utf8')) as { origin: string; challenge: string };
      expect(clientData).toMatchObject({ origin: `http://localhost:${(foreign.address() as AddressInfo).port}`, challenge: options.body.challenge });
      await page.goto(loginUrl);
      const refused = await postFromPage(page, '/verify', { credential: assertion });
      expect(refused.status).toBe(403);
      expect(refused.body.redirect).toBeUndefined();
    } finally {
      foreign.closeAllConnections();
      await new Promise<void>((resolve) => foreign.close(() => resolve()));
    }
  });

  test('when the passkey calls come without the CSRF header or as a form, then they are refused', async () => {
    await openSignIn(page);
    expect((await postFromPage(page, '/options', {}, false)).status).toBe(403);
    const asForm = await page.evaluate(async () => {
      const section = document.getElementById('passkey-login')!;
      const response = await fetch(`/interaction/${section.dataset.uid}/passkey/options`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': section.dataset.csrf! },
        body: 'a=b',
      });
      return response.status;
    });
    expect(asForm).toBe(415);
  });

  test('when the user is disabled, then their passkey does not sign them in', async () => {
    await app.app.services.accounts.setDisabled(user.id, true, TEST_ACTOR);
    try {
      await openSignIn(page);
      await page.click('#passkey-login-button');
      await page.locator('#passkey-login-error').waitFor({ state: 'visible' });
      expect(page.url()).toContain('/interaction/');
    } finally {
      await app.app.services.accounts.setDisabled(user.id, false, TEST_ACTOR);
    }
  });

  test('when the user removes the passkey on the account page, then it no longer signs in', async () => {
    await context.clearCookies();
    await signInToAccount(page, user.email);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#passkey-list li button');
    await page.locator('#passkey-empty').waitFor({ state: 'visible' });
    expect(await app.app.services.audit.list({ action: 'passkey.remove', target_id: user.id })).toMatchObject({ items: [expect.anything()] });

    await context.clearCookies();
    await openSignIn(page);
    let reachedClient = false;
    page.on('request', (request) => {
      if (request.url().startsWith(redirectUri)) reachedClient = true;
    });
    await page.click('#passkey-login-button');
    await page.locator('#passkey-login-error').waitFor({ state: 'visible' });
    expect(await page.textContent('#passkey-login-error')).toMatch(/could not be verified/);
    expect(reachedClient).toBe(false);
  });
});

describeInBrowser('a passkey as the second factor', () => {
  test('when a user with an authenticator app signs in with the password, then a passkey passes the second step: amr pwd + hwk, acr MFA', async () => {
    const user = await createUser(app);
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await addVirtualAuthenticator(page);
      await signInToAccount(page, user.email);
      await addPasskey(page, 'Phone');
      const enrolment = await app.app.services.mfa.beginEnrolment(user.id, TEST_ACTOR);
      const code = new TOTP({ secret: Secret.fromBase32(enrolment.secret), digits: 6, period: 30 }).generate();
      expect(await app.app.services.mfa.confirmEnrolment(user.id, code, TEST_ACTOR)).toBeDefined();

      await context.clearCookies();
      const request = await authRequest(config, { prompt: 'login', redirect_uri: redirectUri });
      await page.goto(request.url.toString());
      await page.fill('#login', user.email);
      await page.fill('#password', PASSWORD);
      await page.click('form[action$="/login"] button[type=submit]');
      await page.waitForSelector('#passkey-second-factor-button');
      const callback = page.waitForRequest((sent) => sent.url().startsWith(redirectUri));
      await page.click('#passkey-second-factor-button');
      const tokens = await exchange(config, new URL((await callback).url()), request);
      expect(tokens.claims()).toMatchObject({ sub: user.id, acr: ACR_MFA, amr: ['pwd', 'hwk', 'mfa'] });
    } finally {
      await context.close();
    }
  });

  test('when a user with a passkey but no authenticator app signs in with the password, then only a client demanding MFA gets the second step, and the passkey passes it', async () => {
    const user = await createUser(app);
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await addVirtualAuthenticator(page);
      await signInToAccount(page, user.email);
      await addPasskey(page, 'Laptop');

      // An ordinary sign-in: the password is enough.
      await context.clearCookies();
      const plain = await authRequest(config, { prompt: 'login', redirect_uri: redirectUri });
      await page.goto(plain.url.toString());
      await page.fill('#login', user.email);
      await page.fill('#password', PASSWORD);
      const plainCallback = page.waitForRequest((sent) => sent.url().startsWith(redirectUri));
      await page.click('form[action$="/login"] button[type=submit]');
      const plainTokens = await exchange(config, new URL((await plainCallback).url()), plain);
      expect(plainTokens.claims()).toMatchObject({ sub: user.id, amr: ['pwd'] });

      // A client that demands a second factor: the passkey is offered, the code form is not.
      await context.clearCookies();
      const strict = await authRequest(config, { prompt: 'login', redirect_uri: redirectUri, acr_values: ACR_MFA });
      await page.goto(strict.url.toString());
      await page.fill('#login', user.email);
      await page.fill('#password', PASSWORD);
      await page.click('form[action$="/login"] button[type=submit]');
      await page.waitForSelector('#passkey-second-factor-button');
      expect(await page.locator('input[autocomplete="one-time-code"]').count()).toBe(0);
      const callback = page.waitForRequest((sent) => sent.url().startsWith(redirectUri));
      await page.click('#passkey-second-factor-button');
      const tokens = await exchange(config, new URL((await callback).url()), strict);
      expect(tokens.claims()).toMatchObject({ sub: user.id, acr: ACR_MFA, amr: ['pwd', 'hwk', 'mfa'] });
    } finally {
      await context.close();
    }
  });

  test('when the password step has not passed, then the second-factor passkey endpoints refuse', async () => {
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await openSignIn(page);
      expect((await postFromPage(page, '/second-factor/options', {})).status).toBe(400);
    } finally {
      await context.close();
    }
  });
});
