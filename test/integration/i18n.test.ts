// Pages in the person's language (English, German) and with the configured brand: the
// language comes from the switcher's cookie, the authorization request's ui_locales or
// Accept-Language, else English; the brand settings reach every page; a brand colour that
// white text cannot be read on is refused at start.
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { authRequest, createUser, oidc, registerClient, relyingParty } from '../helpers/oidc.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { de } from '../../src/i18n/messages/de.js';
import { en } from '../../src/i18n/messages/en.js';
import { fromAcceptLanguage } from '../../src/i18n/locale.js';
import { safeReturnPath } from '../../src/i18n/request.js';

let app: TestApp;
let branded: TestApp;
let config: oidc.Configuration;
const EMAIL = 'i18n@example.com';

beforeAll(async () => {
  [app, branded] = await Promise.all([
    startApp(),
    startApp({
      env: {
        BRAND_NAME: 'Acme ID',
        BRAND_LOGO_URL: 'https://cdn.example.com/acme-logo.svg',
        BRAND_PRIMARY_COLOR: '#0B5D1E',
        BRAND_SUPPORT_URL: 'https://help.example.com/sign-in',
      },
    }),
  ]);
  const client = await registerClient(app, { client_name: 'Language Tests', first_party: true });
  config = await relyingParty(app, client);
  await createUser(app, { email: EMAIL });
});

afterAll(async () => {
  await Promise.all([app?.destroy(), branded?.destroy()]);
});

/** Follows redirects within the issuer, sending `headers` on every hop. */
async function follow(browser: Browser, url: string, issuer: string, headers: Record<string, string> = {}): Promise<Hop> {
  let hop = await browser.request(url, { headers });
  for (let i = 0; i < 10 && hop.location && hop.location.startsWith(issuer); i += 1) hop = await browser.request(hop.location, { headers });
  return hop;
}

async function loginPage(params: Record<string, string> = {}, headers: Record<string, string> = {}, browser = new Browser()): Promise<Hop & { browser: Browser }> {
  const request = await authRequest(config, params);
  const page = await follow(browser, request.url.toString(), app.issuer, headers);
  expect(page.status).toBe(200);
  return { ...page, browser };
}

const langOf = (html: string) => /<html lang="([^"]+)">/.exec(html)?.[1];
const headingOf = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
/** The page's visible text, without markup, scripts or styles. */
const textOf = (html: string) => html.replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/g, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
const decode = (value: string) => value.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"');

describe('choosing the language', () => {
  test('when nothing asks for a language, then the login page is in English', async () => {
    const page = await loginPage();
    expect(langOf(page.body)).toBe('en');
    expect(headingOf(page.body)).toBe('Sign in');
    expect(page.body).toContain('<label for="password">Password</label>');
    expect(page.body).toContain('to continue to <strong>Language Tests</strong>');
  });

  test('when the authorization request has ui_locales=de, then the login page is in German', async () => {
    const page = await loginPage({ ui_locales: 'fr-CA de' });
    expect(langOf(page.body)).toBe('de');
    expect(headingOf(page.body)).toBe('Anmelden');
    expect(page.body).toContain('<label for="password">Passwort</label>');
    expect(page.body).toContain('um zu <strong>Language Tests</strong> weiterzugehen');
    expect(page.body).toMatch(/<title>Anmelden · Gatehouse<\/title>/);
  });

  test('when the browser sends Accept-Language: de-DE,de;q=0.9, then the login page is in German', async () => {
    const page = await loginPage({}, { 'accept-language': 'de-DE,de;q=0.9' });
    expect(langOf(page.body)).toBe('de');
    expect(headingOf(page.body)).toBe('Anmelden');
  });

  test('when Accept-Language ranks languages by q-value, then the best supported one wins', () => {
    expect(fromAcceptLanguage('fr;q=1, en;q=0.4, de;q=0.8')).toBe('de');
    expect(fromAcceptLanguage('de;q=0, en;q=0.1')).toBe('en');
    expect(fromAcceptLanguage('fr, it')).toBeUndefined();
    expect(fromAcceptLanguage('DE-at')).toBe('de');
  });

  test('when the locale asked for is unknown, then the page falls back to English', async () => {
    const page = await loginPage({ ui_locales: 'xx-YY' }, { 'accept-language': 'fr-FR, it;q=0.8' });
    expect(langOf(page.body)).toBe('en');
    expect(headingOf(page.body)).toBe('Sign in');
  });

  test('when the switcher is used, then it sets a Lax, HttpOnly cookie, returns to the page, and the page is in that language', async () => {
    const page = await loginPage();
    const german = /<a href="([^"]+)" lang="de" hreflang="de">Deutsch<\/a>/.exec(page.body)?.[1];
    expect(german).toBeDefined();
    const switched = await page.browser.request(new URL(decode(german!), app.issuer).toString());
    expect(switched.status).toBe(303);
    const path = new URL(page.url).pathname;
    expect(switched.location).toBe(new URL(path, app.issuer).toString());
    const cookie = switched.headers.getSetCookie().find((value) => value.startsWith('gatehouse.lang='));
    expect(cookie).toMatch(/^gatehouse\.lang=de;/);
    expect(cookie).toMatch(/httponly/i);
    expect(cookie).toMatch(/samesite=lax/i);

    const again = await page.browser.request(switched.location!);
    expect(langOf(again.body)).toBe('de');
    expect(headingOf(again.body)).toBe('Anmelden');
    // The current language is marked, not linked; the other one links back.
    expect(again.body).toContain('<strong lang="de" aria-current="true">Deutsch</strong>');
    expect(again.body).toMatch(/<a href="[^"]+" lang="en" hreflang="en">English<\/a>/);

    // The choice is the person's: it holds on later pages, over the browser's own preference.
    const next = await loginPage({}, { 'accept-language': 'en' }, page.browser);
    expect(langOf(next.body)).toBe('de');
  });

  test('when the switcher is asked to return to another site or an unknown language, then it stays on this origin and sets nothing', async () => {
    for (const target of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', '/%0d%0aSet-Cookie:x=1', 'javascript:alert(1)']) {
      const reply = await new Browser().request(`${app.issuer}/language?lang=xx&return=${encodeURIComponent(target)}`);
      expect(reply.status).toBe(303);
      expect(new URL(reply.location!).origin).toBe(new URL(app.issuer).origin);
      expect(reply.headers.getSetCookie().filter((value) => value.startsWith('gatehouse.lang='))).toEqual([]);
    }
    expect(safeReturnPath('/interaction/abc?x=1')).toBe('/interaction/abc?x=1');
    expect(safeReturnPath('//evil.example')).toBeUndefined();
    expect(safeReturnPath('/\\evil.example')).toBeUndefined();
    expect(safeReturnPath('https://evil.example/')).toBeUndefined();
  });
});

describe('errors in both languages', () => {
  test('when the password is wrong on a German page, then the error says what happened and what to do, in German', async () => {
    const page = await loginPage({ ui_locales: 'de' });
    const reply = await page.browser.request(new URL(formAction(page.body, '/login'), app.issuer).toString(), {
      form: { csrf: inputValue(page.body, 'csrf'), login: EMAIL, password: 'not the password' },
    });
    expect(reply.status).toBe(400);
    expect(langOf(reply.body)).toBe('de');
    const error = /<p class="error" role="alert">([^<]*)<\/p>/.exec(reply.body)?.[1];
    expect(error).toBe(de['login.incorrect']);
    expect(error).not.toContain('incorrect');
  });

  test.each([
    ['en', 'Unknown application', 'Error code: invalid_client'],
    ['de', 'Unbekannte Anwendung', 'Fehlercode: invalid_client'],
  ])('when an unknown client sends a browser here (%s), then the error page explains it and shows the code only as a reference', async (language, heading, reference) => {
    const reply = await new Browser().request(`${app.issuer}/auth?client_id=no-such-client&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Frp.example%2Fcb`, {
      headers: { 'accept-language': language, accept: 'text/html' },
    });
    expect(reply.status).toBe(400);
    expect(langOf(reply.body)).toBe(language);
    expect(headingOf(reply.body)).toBe(heading);
    const text = textOf(reply.body.replace(/<footer>[\s\S]*<\/footer>/, ''));
    expect(text).toContain(reference);
    // Without the code, what is left is still a human explanation (heading, message, hint).
    expect(text.replace(reference, '').length).toBeGreaterThan(120);
    expect(text).not.toMatch(/^\s*invalid_client\s*$/);
    // The switcher returns to this path, without echoing the request's parameters.
    expect(reply.body).not.toContain('rp.example');
  });
});

describe('catalogues', () => {
  const placeholders = (text: string) => [...text.matchAll(/\{([\w:-]+)\}/g)].map((match) => match[1]).sort();

  test('when a language is added, then it has exactly the keys of English, each with the same placeholders', () => {
    expect(Object.keys(de).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect([key, placeholders(de[key])]).toEqual([key, placeholders(en[key])]);
      expect(de[key].trim()).not.toBe('');
    }
  });
});

describe('branding', () => {
  async function brandedLogin(): Promise<Hop> {
    const client = await registerClient(branded, { client_name: 'Branded App', first_party: true });
    const rp = await relyingParty(branded, client);
    const request = await authRequest(rp);
    return new Browser().follow(request.url.toString(), branded.issuer);
  }

  test('when brand settings are configured, then pages show the name, logo, accent colour and support link', async () => {
    const page = await brandedLogin();
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Sign in · Acme ID</title>');
    expect(page.body).toContain('<img src="https://cdn.example.com/acme-logo.svg" alt="Acme ID">');
    expect(page.body).toContain('--accent: #0b5d1e;');
    expect(page.body).toContain('<a href="https://help.example.com/sign-in">Help and support</a>');

    // Not only the login page: an error page too, in German.
    const error = await new Browser().request(`${branded.issuer}/auth?client_id=nope&response_type=code&scope=openid`, { headers: { 'accept-language': 'de', accept: 'text/html' } });
    expect(error.body).toContain('· Acme ID</title>');
    expect(error.body).toContain('acme-logo.svg');
    expect(error.body).toContain('>Hilfe und Support</a>');
  });

  test('when no brand is configured, then the defaults apply and no logo or support link is shown', async () => {
    const page = await loginPage();
    expect(page.body).toContain('<title>Sign in · Gatehouse</title>');
    expect(page.body).toContain('--accent: #1f5fbf;');
    expect(page.body).not.toContain('class="brand"');
    expect(page.body).not.toContain('Help and support');
  });

  test('when the primary colour is too light for white text, then start-up is refused naming BRAND_PRIMARY_COLOR', () => {
    expect(() => loadConfig({ BRAND_PRIMARY_COLOR: '#ffcc00' })).toThrow(ConfigError);
    expect(() => loadConfig({ BRAND_PRIMARY_COLOR: '#ffcc00' })).toThrow(/BRAND_PRIMARY_COLOR: white text on #ffcc00 has a contrast of 1\.\d+:1, below the 4\.5:1 WCAG AA needs/);
    expect(() => loadConfig({ BRAND_PRIMARY_COLOR: '#7fa7e0' })).toThrow(/BRAND_PRIMARY_COLOR/);
    // The default passes.
    expect(loadConfig({}).brand.primaryColor).toBe('#1f5fbf');
  });

  test('when brand settings are malformed, then each is refused by name', () => {
    const problems = (() => {
      try {
        loadConfig({ BRAND_PRIMARY_COLOR: 'blue', BRAND_LOGO_URL: 'http://cdn.example.com/logo.png', BRAND_SUPPORT_URL: 'javascript:alert(1)', BRAND_NAME: ' ' });
      } catch (error) {
        return (error as ConfigError).problems.map((problem) => problem.split(':')[0]).sort();
      }
      return [];
    })();
    expect(problems).toEqual(['BRAND_LOGO_URL', 'BRAND_NAME', 'BRAND_PRIMARY_COLOR', 'BRAND_SUPPORT_URL']);
    expect(loadConfig({ BRAND_LOGO_URL: '/assets/logo.svg' }).brand.logoUrl).toBe('/assets/logo.svg');
    expect(() => loadConfig({ BRAND_LOGO_URL: '/assets/../admin' })).toThrow(/BRAND_LOGO_URL/);
  });
});
