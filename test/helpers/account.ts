// The account pages from a browser: signing in to /account through the built-in account
// client, and setting up an authenticator app there with codes computed by `otpauth`,
// as a phone would.
import { expect } from '@jest/globals';
import { Secret, TOTP } from 'otpauth';
import type { TestApp } from './app.js';
import { Browser, formAction, inputValue, type Hop } from './browser.js';
import { PASSWORD, submitLogin } from './oidc.js';

/** A code for `secret` at now + offsetSeconds, as an authenticator app would show it. */
export function totpCode(secret: string, offsetSeconds = 0): string {
  return TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp: Date.now() + offsetSeconds * 1000 });
}

/** A 6-digit code that is none of the codes valid for `secret` within ±2 steps of now. */
export function wrongCode(secret: string): string {
  const valid = new Set([-60, -30, 0, 30, 60].map((offset) => totpCode(secret, offset)));
  for (let n = 0; ; n += 1) {
    const candidate = String((123_456 + n * 7919) % 1_000_000).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

/** Opens /account in `browser`, signing in with the password when asked; returns the account page. */
export async function openAccount(browser: Browser, app: TestApp, email: string, password = PASSWORD): Promise<Hop> {
  let hop = await browser.follow(`${app.issuer}/account`, app.issuer);
  if (hop.status === 200 && hop.body.includes('/login"')) hop = await submitLogin(browser, app, hop, email, password);
  expect(hop.status).toBe(200);
  expect(hop.body).toContain('<h1>Your account</h1>');
  return hop;
}

/** Posts a form of `page` (found by the end of its action) with its CSRF token. */
export async function postForm(browser: Browser, app: TestApp, page: Hop, actionSuffix: string, fields: Record<string, string> = {}): Promise<Hop> {
  return browser.request(new URL(formAction(page.body, actionSuffix), app.issuer).toString(), {
    form: { csrf: inputValue(page.body, 'csrf'), ...fields },
  });
}

export interface Enrolled {
  /** The base32 seed, as shown for typing by hand. */
  secret: string;
  recoveryCodes: string[];
}

/** Sets up an authenticator app from the account page of a signed-in browser. */
export async function enrolTotp(browser: Browser, app: TestApp): Promise<Enrolled> {
  const setup = await browser.follow(`${app.issuer}/account/totp`, app.issuer);
  expect(setup.status).toBe(200);
  expect(setup.body).toMatch(/<img class="qr" src="data:image\/png;base64,/);
  const secret = manualKey(setup.body);
  const done = await postForm(browser, app, setup, '/account/totp/confirm', { code: totpCode(secret) });
  expect(done.status).toBe(200);
  const recoveryCodes = [...done.body.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].map((match) => match[1]!);
  expect(recoveryCodes).toHaveLength(10);
  return { secret, recoveryCodes };
}

export function manualKey(html: string): string {
  const match = /<code id="manual-key">([A-Z2-7 ]+)<\/code>/.exec(html);
  if (!match) throw new Error('no manual key on the page');
  return match[1]!.replace(/ /g, '');
}
