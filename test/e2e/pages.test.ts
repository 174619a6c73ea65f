// Every page in a real browser (Debian's Chromium through playwright-core), the issuer at
// http://localhost:<port>. A user signs in to a sample relying party, consents, sees the
// app and signs out there: with the mouse, with the keyboard alone, without JavaScript and
// in German. The account page changes the password and signs out another session. Each
// page of the issue is checked by axe-core (no serious or critical violations), at 320 px
// wide (no sideways scrolling) and for what it loads (same origin only, cacheable assets),
// and photographed at desktop and mobile width into docs/screenshots/.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import { de } from '../../src/i18n/messages/de.js';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { chromiumAvailable, describeInBrowser, launchChromium, newContext, type Browser, type BrowserContext, type Page } from '../helpers/chromium.js';
import { linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { createUser, oidc, PASSWORD, registerClient, relyingParty } from '../helpers/oidc.js';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS = path.resolve('docs/screenshots');
const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 812 };
const NARROWEST = { width: 320, height: 640 };
const NEW_PASSWORD = 'a freshly chosen passphrase';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

let mail: MailServer;
let app: TestApp;
let browser: Browser;
let sample: SampleApp;
let deviceClientId: string;

beforeAll(async () => {
  mail = await startMailServer();
  [app, browser] = await Promise.all([
    startApp({ issuerHost: 'localhost', env: { SMTP_URL: mail.url, MAIL_FROM: 'Gatehouse <accounts@example.com>' } }),
    chromiumAvailable ? launchChromium() : (undefined as unknown as Browser),
  ]);
  sample = await startSampleApp(app);
  deviceClientId = (await registerClient(app, {
    client_name: 'Living-room TV',
    redirect_uris: [],
    post_logout_redirect_uris: [],
    grant_types: [DEVICE_GRANT],
    token_endpoint_auth_method: 'none',
  })).clientId;
});

afterAll(async () => {
  await browser?.close();
  await sample?.close();
  await app?.destroy();
  await mail?.close();
});

// ---------------------------------------------------------------------------------------
// The sample relying party: a confidential client that sends the browser to Gatehouse,
// exchanges the code with openid-client at /callback, greets the user by name and signs
// out through RP-initiated logout.

interface SampleApp {
  base: string;
  close(): Promise<void>;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const samplePage = (body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sample app</title></head><body><main>${body}</main></body></html>`;

async function startSampleApp(issuer: TestApp): Promise<SampleApp> {
  const pending = new Map<string, { verifier: string; state: string; nonce: string; locale: string | undefined }>();
  const signedIn = new Map<string, { name: string; idToken: string; locale: string | undefined }>();
  let config: oidc.Configuration | undefined;
  let base = '';
  const keyOf = (req: IncomingMessage) => /(?:^|;\s*)sample_app=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  const send = (res: ServerResponse, status: number, body: string) => res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(samplePage(body));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const key = keyOf(req);
    if (!config) throw new Error('the sample app is not configured yet');
    if (url.pathname === '/login') {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const locale = url.searchParams.get('ui_locales') ?? undefined;
      const newKey = oidc.randomState();
      pending.set(newKey, { verifier, state, nonce, locale });
      const target = oidc.buildAuthorizationUrl(config, {
        redirect_uri: `${base}/callback`,
        scope: 'openid profile email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
        ...(locale ? { ui_locales: locale } : {}),
      });
      res.writeHead(302, { location: target.href, 'set-cookie': `sample_app=${newKey}; HttpOnly; Path=/; SameSite=Lax` }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const login = key ? pending.get(key) : undefined;
      if (!key || !login) return void send(res, 400, '<h1>No sign-in in progress</h1>');
      pending.delete(key);
      const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce });
      const claims = tokens.claims()!;
      signedIn.set(key, { name: String(claims['name'] ?? claims.sub), idToken: tokens.id_token!, locale: login.locale });
      res.writeHead(303, { location: '/' }).end();
      return;
    }
    if (url.pathname === '/logout') {
      const session = key ? signedIn.get(key) : undefined;
      if (!key || !session) return void res.writeHead(303, { location: '/' }).end();
      signedIn.delete(key);
      const target = oidc.buildEndSessionUrl(config, {
        id_token_hint: session.idToken,
        post_logout_redirect_uri: `${base}/signed-out`,
        ...(session.locale ? { ui_locales: session.locale } : {}),
      });
      res.writeHead(302, { location: target.href }).end();
      return;
    }
    if (url.pathname === '/signed-out') return void send(res, 200, '<h1 id="signed-out">You have left the sample app</h1><p><a href="/login">Sign in again</a></p>');
    if (url.pathname === '/') {
      const session = key ? signedIn.get(key) : undefined;
      if (!session) return void send(res, 200, '<h1>Sample app</h1><p><a href="/login">Sign in</a></p>');
      return void send(res, 200, `<h1>Sample app</h1><p>Hello, <strong id="user-name">${escapeHtml(session.name)}</strong>.</p><p><a id="sign-out" href="/logout">Sign out</a></p>`);
    }
    send(res, 404, '<h1>Not found</h1>');
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, `<h1>Sign-in failed</h1><p>${escapeHtml(String(error))}</p>`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://localhost:${(server.address() as AddressInfo).port}`;
  const client = await registerClient(issuer, {
    client_name: 'Sample app',
    redirect_uris: [`${base}/callback`],
    post_logout_redirect_uris: [`${base}/signed-out`],
  });
  config = await relyingParty(issuer, client);
  return {
    base,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------
// Browser steps.

const codeAt = (secret: string, offsetSeconds = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });

const LOGIN_FORM = 'form[action$="/login"]';
const CONSENT_ALLOW = 'form[action$="/confirm"] button[type=submit]';

/** Fills and submits the sign-in form; resolves once the next page has loaded. */
async function submitPassword(page: Page, login: string, password = PASSWORD): Promise<void> {
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForEvent('load'), page.click(`${LOGIN_FORM} button[type=submit]`)]);
}

async function openSampleApp(page: Page, query = ''): Promise<void> {
  await page.goto(`${sample.base}/login${query}`);
  await page.waitForSelector(LOGIN_FORM);
}

/** Signs in to /account with the password. */
async function signInToAccount(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto(`${app.issuer}/account`);
  await submitPassword(page, email, password);
  await page.waitForURL(`${app.issuer}/account`);
}

interface Focused {
  selector: string;
  visible: boolean;
  /** The outline's contrast with white (the page's card), when it has one. */
  outlineContrast: number | undefined;
}

/** WCAG contrast ratio of an `rgb(…)`/`rgba(…)` colour with white. */
function contrastWithWhite(color: string): number | undefined {
  const channels = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(color);
  if (!channels) return undefined;
  const linear = (value: number) => (value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4);
  const [r, g, b] = channels.slice(1, 4).map((value) => linear(Number(value) / 255)) as [number, number, number];
  return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05);
}

/** What has the keyboard focus, and whether it shows (a non-none outline or box-shadow). */
async function focused(page: Page): Promise<Focused> {
  const seen = await page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    if (!element || element === document.body) return { selector: 'body', visible: false, outlineColor: undefined };
    const style = getComputedStyle(element);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const shadow = style.boxShadow !== 'none' && style.boxShadow !== '';
    const label = element.id ? `#${element.id}` : (element.textContent ?? '').trim().slice(0, 40);
    return { selector: `${element.tagName.toLowerCase()} ${label}`, visible: outline || shadow, outlineColor: outline ? style.outlineColor : undefined };
  });
  return { selector: seen.selector, visible: seen.visible, outlineContrast: seen.outlineColor ? contrastWithWhite(seen.outlineColor) : undefined };
}

/**
 * Presses Tab (or Shift+Tab) until the element matching `selector` has the focus; every
 * element passed on the way must show its focus when `mustShow` is set.
 */
async function tabTo(page: Page, selector: string, options: { backwards?: boolean; mustShow?: boolean } = {}): Promise<void> {
  const stops: Focused[] = [];
  for (let presses = 0; presses < 20; presses += 1) {
    await page.keyboard.press(options.backwards ? 'Shift+Tab' : 'Tab');
    stops.push(await focused(page));
    if (await page.evaluate((wanted) => document.activeElement?.matches(wanted) ?? false, selector)) {
      if (options.mustShow !== false) {
        expect(stops.filter((stop) => !stop.visible)).toEqual([]);
        // A focus ring people can see: 3:1 against the white card at least (WCAG 1.4.11).
        expect(stops.filter((stop) => stop.outlineContrast !== undefined && stop.outlineContrast < 3)).toEqual([]);
      }
      return;
    }
  }
  throw new Error(`Tab never reached ${selector}; it went through ${stops.map((stop) => stop.selector).join(' → ')}`);
}

async function pressEnterAndWait(page: Page): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
}

// ---------------------------------------------------------------------------------------

describeInBrowser('signing in to a sample relying party in Chromium', () => {
  test('when a user signs in, consents, uses the app and signs out there, then they see their name and land back signed out of both', async () => {
    const user = await createUser(app, { email: 'mary@example.com', name: 'Mary Somerville' });
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await openSampleApp(page);
      expect(await page.textContent('main')).toContain('Sample app');
      await submitPassword(page, user.email);
      await page.waitForSelector(CONSENT_ALLOW);
      expect(await page.textContent('main')).toContain('Sample app');
      await Promise.all([page.waitForURL(`${sample.base}/`), page.click(CONSENT_ALLOW)]);
      expect(await page.textContent('#user-name')).toBe('Mary Somerville');

      // RP-initiated logout: Gatehouse asks, the user confirms, the app is back.
      await Promise.all([page.waitForURL((url) => url.toString().startsWith(`${app.issuer}/session/end`)), page.click('#sign-out')]);
      expect(await page.getAttribute('html', 'lang')).toBeTruthy();
      await Promise.all([page.waitForURL(`${sample.base}/signed-out`), page.click('button[name=logout][value=yes]')]);
      expect(await page.textContent('h1')).toBe('You have left the sample app');

      // The Gatehouse session ended too: signing in again asks for the password.
      await openSampleApp(page);
      expect(await page.isVisible('#password')).toBe(true);
    } finally {
      await context.close();
    }
  });

  test('when a user signs in, consents and signs out with Tab, Shift+Tab and Enter only, then it works and the focus is always visible', async () => {
    const user = await createUser(app, { email: 'alan@example.com', name: 'Alan Turing' });
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await openSampleApp(page);
      // The sign-in page puts the focus in the first field.
      expect(await focused(page)).toMatchObject({ selector: 'input #login', visible: true });
      await page.keyboard.type(user.email);
      await tabTo(page, '#password');
      await page.keyboard.type(PASSWORD);
      await tabTo(page, `${LOGIN_FORM} button[type=submit]`);
      // One stop further and back again.
      await page.keyboard.press('Tab');
      expect((await focused(page)).visible).toBe(true);
      await tabTo(page, `${LOGIN_FORM} button[type=submit]`, { backwards: true });
      await pressEnterAndWait(page);

      await page.waitForSelector(CONSENT_ALLOW);
      await tabTo(page, CONSENT_ALLOW);
      await Promise.all([page.waitForURL(`${sample.base}/`), page.keyboard.press('Enter')]);
      expect(await page.textContent('#user-name')).toBe('Alan Turing');

      await tabTo(page, '#sign-out', { mustShow: false });
      await Promise.all([page.waitForURL((url) => url.toString().startsWith(`${app.issuer}/session/end`)), page.keyboard.press('Enter')]);
      await tabTo(page, 'button[name=logout][value=yes]');
      await Promise.all([page.waitForURL(`${sample.base}/signed-out`), page.keyboard.press('Enter')]);
      expect(await page.textContent('h1')).toBe('You have left the sample app');
    } finally {
      await context.close();
    }
  });

  test('when JavaScript is off, then the password sign-in and consent still bring the user into the app', async () => {
    const user = await createUser(app, { email: 'grace.nojs@example.com', name: 'Grace Hopper' });
    const context = await newContext(browser, { javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await openSampleApp(page);
      // The passkey button needs JavaScript: it stays hidden, the password form is all there is.
      expect(await page.isVisible('#passkey-login-button')).toBe(false);
      await submitPassword(page, user.email);
      await Promise.all([page.waitForURL(`${sample.base}/`), page.click(CONSENT_ALLOW)]);
      expect(await page.textContent('#user-name')).toBe('Grace Hopper');
    } finally {
      await context.close();
    }
  });

  test('when the app asks for ui_locales=de, then the sign-in, consent and sign-out pages are in German and the flow completes', async () => {
    const user = await createUser(app, { email: 'emmy@example.com', name: 'Emmy Noether' });
    // The browser itself asks for English: the request's ui_locales decides.
    const context = await newContext(browser, { locale: 'en-US' });
    try {
      const page = await context.newPage();
      await openSampleApp(page, '?ui_locales=de');
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      expect(await page.textContent('h1')).toBe(de['login.heading']);
      expect(await page.textContent(`${LOGIN_FORM} button[type=submit]`)).toBe(de['login.submit']);
      await submitPassword(page, user.email);
      await page.waitForSelector(CONSENT_ALLOW);
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      expect(await page.textContent('h1')).toBe(de['consent.heading']);
      expect(await page.textContent(CONSENT_ALLOW)).toBe(de['consent.allow']);
      await Promise.all([page.waitForURL(`${sample.base}/`), page.click(CONSENT_ALLOW)]);
      expect(await page.textContent('#user-name')).toBe('Emmy Noether');

      await Promise.all([page.waitForURL((url) => url.toString().startsWith(`${app.issuer}/session/end`)), page.click('#sign-out')]);
      expect(await page.getAttribute('html', 'lang')).toBe('de');
      expect(await page.textContent('h1')).toBe(de['logout.heading']);
      expect(await page.textContent('button[name=logout][value=yes]')).toBe(de['logout.submit']);
      await Promise.all([page.waitForURL(`${sample.base}/signed-out`), page.click('button[name=logout][value=yes]')]);
      expect(await page.textContent('h1')).toBe('You have left the sample app');
    } finally {
      await context.close();
    }
  });
});

describeInBrowser('the account page in Chromium', () => {
  test('when the user signs out another browser and changes the password there, then that browser is signed out and only the new password works', async () => {
    const user = await createUser(app, { email: 'ada.account@example.com', name: 'Ada Lovelace' });
    const [mine, other, later] = await Promise.all([newContext(browser), newContext(browser), newContext(browser)]);
    try {
      const page = await mine.newPage();
      const otherPage = await other.newPage();
      await signInToAccount(otherPage, user.email);
      await signInToAccount(page, user.email);

      // "Where you are signed in": this browser and the other one.
      expect(await page.locator('ul.sessions > li').count()).toBe(2);
      await Promise.all([page.waitForEvent('load'), page.click('form[action="/account/sessions/end"] button[type=submit]')]);
      expect(await page.locator('ul.sessions > li').count()).toBe(1);
      await otherPage.goto(`${app.issuer}/account`);
      expect(await otherPage.isVisible(LOGIN_FORM)).toBe(true);

      await page.fill('#current_password', PASSWORD);
      await page.fill('#new_password', NEW_PASSWORD);
      await Promise.all([page.waitForURL(/\/account\?done=password$/), page.click('form[action="/account/password"] button[type=submit]')]);
      expect(await page.isVisible('.notice')).toBe(true);

      const laterPage = await later.newPage();
      await laterPage.goto(`${app.issuer}/account`);
      await submitPassword(laterPage, user.email, PASSWORD);
      expect(await laterPage.isVisible('.error')).toBe(true);
      await submitPassword(laterPage, user.email, NEW_PASSWORD);
      await laterPage.waitForURL(`${app.issuer}/account`);
    } finally {
      await Promise.all([mine.close(), other.close(), later.close()]);
    }
  });
});

// ---------------------------------------------------------------------------------------
// The page tour: every page of the issue opened in one browser, each examined as it shows.

interface PageReport {
  name: string;
  url: string;
  /** axe-core violations of impact serious or critical. */
  violations: string[];
  /** All other axe-core violations (moderate, minor), for information. */
  lesser: string[];
  /** document.documentElement.scrollWidth at 320 px wide. */
  scrollWidth: number;
  /** Subresources from another origin. */
  foreign: string[];
  /** Same-origin subresources without a cache lifetime of a day or more. */
  uncached: string[];
  /** Paths of the same-origin scripts, styles, images and fonts the page loaded. */
  assets: string[];
  /** The autocomplete token of each field that is not type=hidden, by id (or name). */
  autocomplete: Record<string, string>;
  /** CSP refusals and script errors. */
  consoleErrors: string[];
}

const PAGES = [
  'login', 'login-error', 'consent', 'account', 'totp-setup', 'recovery-codes', 'logout', 'logged-out',
  'mfa', 'error', 'forgot-password', 'forgot-password-sent', 'reset-password', 'verify-email',
  'device-code', 'device-confirm', 'device-success',
];

interface AxeResult {
  passes: unknown[];
  violations: Array<{ id: string; impact?: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
}

describeInBrowser('every page in Chromium', () => {
  const reports: PageReport[] = [];

  beforeAll(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    const context = await newContext(browser, { viewport: DESKTOP });
    try {
      await tour(context, reports);
    } finally {
      await context.close();
    }
  }, 240_000);

  const byPage = <T>(pick: (report: PageReport) => T) => Object.fromEntries(reports.map((report) => [report.name, pick(report)]));

  test('when the tour ends, then it has seen every page of the issue', () => {
    expect(reports.map((report) => report.name)).toEqual(PAGES);
  });

  test('when axe-core checks each page, then it reports no serious or critical violations', () => {
    expect(byPage((report) => report.violations)).toEqual(Object.fromEntries(PAGES.map((name) => [name, []])));
  });

  test('when each page is 320 px wide, then nothing scrolls sideways', () => {
    expect(byPage((report) => report.scrollWidth <= NARROWEST.width)).toEqual(Object.fromEntries(PAGES.map((name) => [name, true])));
  });

  test('when each page loads, then everything it fetches comes from the issuer, assets are cacheable and nothing is refused', () => {
    const clean = Object.fromEntries(PAGES.map((name) => [name, { foreign: [], uncached: [], consoleErrors: [] }]));
    expect(byPage(({ foreign, uncached, consoleErrors }) => ({ foreign, uncached, consoleErrors }))).toEqual(clean);
    // The watch saw the pages' assets: the sign-in page loads the passkey script (cached for a year).
    expect(reports.find((report) => report.name === 'login')?.assets).toContain('/assets/webauthn.js');
  });

  test('when a form asks for a name, password or code, then its fields say so to password managers and phones', () => {
    const fields = byPage((report) => report.autocomplete);
    expect(fields['login']).toMatchObject({ login: 'username', password: 'current-password' });
    expect(fields['login-error']).toMatchObject({ login: 'username', password: 'current-password' });
    expect(fields['account']).toMatchObject({ username: 'username', current_password: 'current-password', new_password: 'new-password' });
    expect(fields['account']).toMatchObject({ name: 'name', given_name: 'given-name', family_name: 'family-name', nickname: 'nickname', email: 'email' });
    expect(fields['reset-password']).toMatchObject({ username: 'username', password: 'new-password', confirm: 'new-password' });
    expect(fields['mfa']).toMatchObject({ code: 'one-time-code' });
    expect(fields['totp-setup']).toMatchObject({ code: 'one-time-code' });
    expect(fields['forgot-password']).toMatchObject({ email: 'email' });
  });

  test('when the run photographs each page, then docs/screenshots holds a desktop and a mobile PNG of each', () => {
    for (const name of PAGES) {
      expect([name, pngWidth(path.join(SCREENSHOTS, `${name}-desktop.png`))]).toEqual([name, DESKTOP.width]);
      expect([name, pngWidth(path.join(SCREENSHOTS, `${name}-mobile.png`))]).toEqual([name, MOBILE.width]);
    }
  });
});

function pngWidth(file: string): number {
  const data = readFileSync(file);
  expect(data.subarray(1, 4).toString('latin1')).toBe('PNG');
  return data.readUInt32BE(16);
}

async function tour(context: BrowserContext, reports: PageReport[]): Promise<void> {
  const page = await context.newPage();
  const issuerOrigin = new URL(app.issuer).origin;
  let foreign: string[] = [];
  let uncached: string[] = [];
  let assets: string[] = [];
  let consoleErrors: string[] = [];
  // A refusal by the Content-Security-Policy, or a script that fails.
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) return;
    const url = new URL(request.url());
    if (url.protocol === 'data:') return;
    if (url.origin !== issuerOrigin) {
      foreign.push(request.url());
      return;
    }
    const cacheControl = response.headers()['cache-control'] ?? '';
    const maxAge = Number(/max-age=(\d+)/.exec(cacheControl)?.[1] ?? 0);
    // Fetches made by the page's own script (the passkey list) are data, not assets.
    if (!['script', 'stylesheet', 'image', 'font'].includes(request.resourceType())) return;
    assets.push(url.pathname);
    if (maxAge < 86_400) uncached.push(`${request.url()} (${cacheControl || 'no Cache-Control'})`);
  });

  async function examine(name: string): Promise<void> {
    await page.waitForLoadState('load');
    await page.setViewportSize(DESKTOP);
    if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
    const result = await page.evaluate(() => (window as unknown as { axe: { run(context: Document): Promise<unknown> } }).axe.run(document)) as AxeResult;
    // axe-core ran its rules here (an empty page or a failed injection passes nothing).
    expect([name, result.passes.length > 10]).toEqual([name, true]);
    const describeViolation = (violation: AxeResult['violations'][number]) =>
      `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`;
    const serious = result.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
    const lesser = result.violations.filter((violation) => !serious.includes(violation));
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(MOBILE);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-mobile.png`), fullPage: true });
    await page.setViewportSize(NARROWEST);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    await page.setViewportSize(DESKTOP);
    const autocomplete = await page.evaluate(() => Object.fromEntries(
      [...document.querySelectorAll<HTMLInputElement>('input[name]:not([type=hidden])')].map((input) => [input.id || input.name, input.getAttribute('autocomplete') ?? '']),
    ));
    reports.push({
      name,
      url: page.url(),
      violations: serious.map(describeViolation),
      lesser: lesser.map(describeViolation),
      scrollWidth,
      foreign,
      uncached,
      assets,
      autocomplete,
      consoleErrors,
    });
    foreign = [];
    uncached = [];
    assets = [];
    consoleErrors = [];
  }

  const ada = await createUser(app, { email: 'ada@example.com', name: 'Ada Lovelace', email_verified: true });
  const grace = await createUser(app, { email: 'grace@example.com', name: 'Grace Hopper' });

  // Sign-in to the sample app: the login page, a wrong password, then consent.
  await openSampleApp(page);
  await examine('login');
  await submitPassword(page, ada.email, 'not the password');
  await page.waitForSelector('.error');
  await examine('login-error');
  await submitPassword(page, ada.email);
  await page.waitForSelector(CONSENT_ALLOW);
  await examine('consent');
  await Promise.all([page.waitForURL(`${sample.base}/`), page.click(CONSENT_ALLOW)]);

  // The account page, and setting up an authenticator app there.
  await page.goto(`${app.issuer}/account`);
  await page.waitForSelector('ul.sessions');
  await examine('account');
  await page.goto(`${app.issuer}/account/totp`);
  await page.waitForSelector('#manual-key');
  await examine('totp-setup');
  const secret = (await page.textContent('#manual-key'))!.replace(/\s+/g, '');
  await page.fill('#code', codeAt(secret));
  await Promise.all([page.waitForEvent('load'), page.click('form[action="/account/totp/confirm"] button[type=submit]')]);
  await page.waitForSelector('ul.recovery-codes');
  await examine('recovery-codes');

  // Signing out at Gatehouse itself: the question, then the answer.
  await page.goto(`${app.issuer}/session/end`);
  await page.waitForSelector('button[name=logout]');
  await examine('logout');
  await Promise.all([page.waitForEvent('load'), page.click('button[name=logout][value=yes]')]);
  await examine('logged-out');

  // Signing in again now asks for the second factor.
  await openSampleApp(page);
  await submitPassword(page, ada.email);
  await page.waitForSelector('#code');
  await examine('mfa');

  // A request Gatehouse cannot serve: the error page.
  await page.goto(`${app.issuer}/auth?client_id=no-such-client&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(`${sample.base}/callback`)}`);
  await examine('error');

  // Forgotten password: the form, the answer, the mailed link's page.
  await context.clearCookies();
  await page.goto(`${app.issuer}/password/forgot`);
  await examine('forgot-password');
  await page.fill('#email', ada.email);
  const mailsBefore = mail.to(ada.email).length;
  await Promise.all([page.waitForEvent('load'), page.click('form[action="/password/forgot"] button[type=submit]')]);
  await examine('forgot-password-sent');
  const reset = linkIn(await mail.waitFor(ada.email, { after: mailsBefore }), app.issuer, '/password/reset');
  await page.goto(reset.link);
  await page.waitForSelector('#confirm');
  await examine('reset-password');

  // Email verification, sent by an administrator.
  const sent = await adminRequest(app, await adminToken(app), 'POST', `/users/${grace.id}/verification-email`);
  expect(sent.status).toBe(202);
  const verify = linkIn(await mail.waitFor(grace.email), app.issuer, '/email/verify');
  await page.goto(verify.link);
  await page.waitForSelector('form[action="/email/verify"]');
  await examine('verify-email');

  // A device asks for a code; the person enters it, checks it, signs in and allows it.
  const started = await fetch(`${app.issuer}/device/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: deviceClientId, scope: 'openid profile' }),
  });
  const { user_code: userCode } = await started.json() as { user_code: string };
  await page.goto(`${app.issuer}/device`);
  await page.waitForSelector('#user_code');
  await examine('device-code');
  await page.fill('#user_code', userCode);
  await Promise.all([page.waitForEvent('load'), page.press('#user_code', 'Enter')]);
  await page.waitForSelector('input[name=confirm]', { state: 'attached' });
  await examine('device-confirm');
  await Promise.all([page.waitForEvent('load'), page.click('form:has(input[name=confirm]) button[type=submit]')]);
  await page.waitForSelector(LOGIN_FORM);
  await submitPassword(page, grace.email);
  await page.waitForSelector(CONSENT_ALLOW);
  await Promise.all([page.waitForEvent('load'), page.click(CONSENT_ALLOW)]);
  expect(new URL(page.url()).pathname).toMatch(/^\/device\//);
  await examine('device-success');
}
