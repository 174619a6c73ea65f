// Two-step verification in a real browser (Debian's Chromium through playwright-core):
// a user sets up an authenticator app on the account page by its manual key, keeps the
// recovery codes, then signs in to a relying party with password and a real RFC 6238
// code; the same code cannot be used again; a recovery code can, once.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import type { TestApp } from '../helpers/app.js';
import { startBrowserSuite, type BrowserSuite } from '../helpers/browser-suite.js';
import { describeInBrowser, newContext, type Browser, type Page } from '../helpers/chromium.js';
import { authRequest, createUser, exchange, oidc, PASSWORD, type AuthRequest } from '../helpers/oidc.js';

const ACR_MFA = 'urn:gatehouse:acr:mfa';

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

const codeAt = (secret: string, offsetSeconds = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSeconds * 1000 });

async function passwordStep(page: Page, email: string): Promise<AuthRequest> {
  const request = await authRequest(config, { prompt: 'login', redirect_uri: redirectUri });
  await page.goto(request.url.toString());
  await page.fill('#login', email);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/interaction\//), page.click('form[action$="/login"] button[type=submit]')]);
  return request;
}

/** Submits a code on the code page and returns the client's callback URL. */
async function submitCode(page: Page, field: '#code' | '#recovery-code', code: string): Promise<URL> {
  const callback = page.waitForRequest((sent) => sent.url().startsWith(redirectUri));
  if (field === '#recovery-code') await page.click('summary');
  await page.fill(field, code);
  await page.press(field, 'Enter');
  return new URL((await callback).url());
}

describeInBrowser('an authenticator app set up and used in Chromium', () => {
  test('when a user enrols by the manual key, then sign-in asks for the code, accepts a real one once, and a recovery code works once', async () => {
    const user = await createUser(app);
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      await page.goto(`${app.issuer}/account`);
      await page.fill('#login', user.email);
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(`${app.issuer}/account`), page.click('form[action$="/login"] button[type=submit]')]);

      await page.click('a[href="/account/totp"]');
      await page.waitForSelector('#manual-key');
      // The QR code is an inline image: nothing is fetched from elsewhere.
      expect(await page.getAttribute('img.qr', 'src')).toMatch(/^data:image\//);
      const secret = (await page.textContent('#manual-key'))!.replace(/\s+/g, '');
      expect(secret).toMatch(/^[A-Z2-7]{32,}$/);
      await page.fill('#code', codeAt(secret));
      await page.click('form[action="/account/totp/confirm"] button[type=submit]');
      const codes = await page.locator('ul.recovery-codes code').allTextContents();
      expect(codes).toHaveLength(10);

      // Sign in to the client: the password is not enough any more.
      await context.clearCookies();
      const request = await passwordStep(page, user.email);
      expect(await page.textContent('h1')).toBe('Two-step verification');
      expect(await page.getAttribute('#code', 'autocomplete')).toBe('one-time-code');
      const code = codeAt(secret, 30);
      const callback = await submitCode(page, '#code', code);
      const tokens = await exchange(config, callback, request);
      expect(tokens.claims()).toMatchObject({ sub: user.id, acr: ACR_MFA, amr: ['pwd', 'otp'] });

      // The same code in a new sign-in: refused.
      await context.clearCookies();
      await passwordStep(page, user.email);
      await page.fill('#code', code);
      await page.press('#code', 'Enter');
      await page.waitForSelector('.error');
      expect(await page.textContent('.error')).toContain('That code is not valid');

      // A recovery code instead: accepted once…
      const recovery = await submitCode(page, '#recovery-code', codes[0]!);
      expect(recovery.searchParams.get('code')).toBeTruthy();
      // …and refused the second time.
      await context.clearCookies();
      await passwordStep(page, user.email);
      await page.click('summary');
      await page.fill('#recovery-code', codes[0]!);
      await page.press('#recovery-code', 'Enter');
      await page.waitForSelector('.error');
      expect(await page.textContent('.error')).toContain('not valid or was already used');
    } finally {
      await context.close();
    }
  });
});
