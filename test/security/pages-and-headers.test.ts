// Checklist H3, H4 and H6 (/work/shared/reference/security-checklist.md): every HTML page
// Gatehouse serves carries the anti-framing, no-sniff, no-referrer, isolation and no-store
// headers and a nonce-based CSP, and loads nothing from another origin; no response leaks
// the server's make or version, TRACE and unsupported methods are refused, every body
// declares its charset, and a fault shows a generic page or problem with a request id.
// The pages are reached as a person reaches them: through the sign-in flow, the account
// pages, mailed links (a real SMTP server) and the logout flow.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { manualKey, openAccount, postForm, totpCode } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, submitLogin } from '../helpers/oidc.js';
import { rawRequest } from '../helpers/security.js';

let mail: MailServer;
let app: TestApp;
let firstParty: oidc.Configuration;
let thirdParty: oidc.Configuration;
let firstPartyClient: { clientId: string; clientSecret?: string };
let token: string;

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

/** Every HTML page, by name, as the flows below met it. */
const pages = new Map<string, Hop>();
/** Every response met in this file (pages, JSON, errors), for the header scans of H6. */
const responses: Array<{ what: string; status: number; headers: Headers; body: string }> = [];

const PAGE_NAMES = [
  'login',
  'login with an error (wrong password)',
  'consent',
  'MFA code',
  'mfa-required',
  'logout confirmation',
  'logged-out',
  'error (unknown client at /auth)',
  'error (expired interaction)',
  'account',
  'account: set up an authenticator app',
  'account: recovery codes',
  'forgot-password',
  'notice (check your email)',
  'reset-password',
  'notice (bad reset link)',
  'verify-email',
  'notice (address confirmed)',
] as const;

function keep(name: (typeof PAGE_NAMES)[number], hop: Hop): Hop {
  pages.set(name, hop);
  return hop;
}

function record(what: string, hop: { status: number; headers: Headers; body: string }) {
  responses.push({ what, status: hop.status, headers: hop.headers, body: hop.body });
}

beforeAll(async () => {
  mail = await startMailServer();
  app = await startApp({ env: { SMTP_URL: mail.url } });
  firstPartyClient = await registerClient(app, { client_name: 'Header Tests', first_party: true });
  firstParty = await relyingParty(app, firstPartyClient);
  // No logo: a client's registered logo_uri is the one external image by design (C8).
  thirdParty = await relyingParty(app, await registerClient(app, { client_name: 'Third Party' }));
  token = await adminToken(app);

  // Sign-in, a wrong password, consent.
  const user = await createUser(app);
  const browser = new Browser();
  const request = await authRequest(thirdParty);
  const login = keep('login', await browser.follow(request.url.toString(), app.issuer));
  expect(login.status).toBe(200);
  keep('login with an error (wrong password)', await submitLogin(browser, app, login, user.email, 'not the password at all'));
  const relogin = await browser.request(login.url);
  const consent = keep('consent', await submitLogin(browser, app, relogin, user.email));
  expect(consent.body).toContain('/confirm"');

  // The account pages and an authenticator app.
  const mfaUser = await createUser(app);
  const accountBrowser = new Browser();
  keep('account', await openAccount(accountBrowser, app, mfaUser.email));
  const setup = keep('account: set up an authenticator app', await accountBrowser.request(`${app.issuer}/account/totp`));
  expect(setup.status).toBe(200);
  const codes = keep('account: recovery codes', await postForm(accountBrowser, app, setup, '/account/totp/confirm', { code: totpCode(manualKey(setup.body)) }));
  expect(codes.status).toBe(200);

  // The code page of a sign-in with the second factor.
  const mfaBrowser = new Browser();
  const mfaLogin = await mfaBrowser.follow((await authRequest(firstParty)).url.toString(), app.issuer);
  const codePage = keep('MFA code', await submitLogin(mfaBrowser, app, mfaLogin, mfaUser.email));
  expect(codePage.body).toContain('Two-step verification');

  // A client demanding the second factor of a user without one.
  const plainUser = await createUser(app);
  const requiredBrowser = new Browser();
  const requiredLogin = await requiredBrowser.follow((await authRequest(firstParty, { acr_values: 'urn:gatehouse:acr:mfa' })).url.toString(), app.issuer);
  const required = keep('mfa-required', await submitLogin(requiredBrowser, app, requiredLogin, plainUser.email));
  expect(required.status).toBe(403);

  // Logout: the confirmation page, then the signed-out page.
  const logoutBrowser = new Browser();
  const logoutRequest = await authRequest(firstParty);
  const tokens = await exchange(firstParty, await signIn(logoutBrowser, app, logoutRequest, plainUser.email), logoutRequest);
  const confirmPage = keep('logout confirmation', await logoutBrowser.request(`${app.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token! })}`, { headers: HTML }));
  expect(confirmPage.status).toBe(200);
  const confirmed = await logoutBrowser.follow(new URL(formAction(confirmPage.body, '/session/end/confirm'), app.issuer).toString(), app.issuer, {
    form: { xsrf: inputValue(confirmPage.body, 'xsrf'), logout: 'yes' },
  });
  keep('logged-out', confirmed);
  expect(confirmed.status).toBe(200);

  // Error pages.
  keep('error (unknown client at /auth)', await new Browser().request(`${app.issuer}/auth?${new URLSearchParams({
    client_id: 'no-such-client', response_type: 'code', redirect_uri: 'http://localhost:8080/callback', scope: 'openid',
  })}`, { headers: HTML }));
  keep('error (expired interaction)', await new Browser().request(`${app.issuer}/interaction/AAAAAAAAAAAAAAAAAAAAAA`, { headers: HTML }));

  // Email verification, then password reset (links go only to a verified address), by mailed links.
  const recoveryBrowser = new Browser();
  const sent = await adminRequest(app, token, 'POST', `/users/${plainUser.id}/verification-email`);
  expect(sent.status).toBe(202);
  const verify = linkIn(await mail.waitFor(plainUser.email), app.issuer, '/email/verify');
  const verifyPage = keep('verify-email', await recoveryBrowser.request(verify.link));
  keep('notice (address confirmed)', await recoveryBrowser.request(`${app.issuer}/email/verify`, {
    form: { csrf: inputValue(verifyPage.body, 'csrf'), token: inputValue(verifyPage.body, 'token') },
  }));
  const forgot = keep('forgot-password', await recoveryBrowser.request(`${app.issuer}/password/forgot`));
  keep('notice (check your email)', await recoveryBrowser.request(`${app.issuer}/password/forgot`, { form: { csrf: inputValue(forgot.body, 'csrf'), email: plainUser.email } }));
  const reset = linkIn(await mail.waitFor(plainUser.email, { after: 1 }), app.issuer, '/password/reset');
  keep('reset-password', await recoveryBrowser.request(reset.link));
  keep('notice (bad reset link)', await recoveryBrowser.request(`${app.issuer}/password/reset?token=not-a-valid-token`));

  for (const [name, hop] of pages) record(`page: ${name}`, hop);
}, 120_000);

afterAll(async () => {
  await app.destroy();
  await mail.close();
});

/** The CSP as a map of directive → sources. */
function parseCsp(header: string | null): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

/** Every URL a page loads (src attributes, <link href>, CSS url() and @import). */
function loadedUrls(html: string): string[] {
  const urls: string[] = [];
  for (const match of html.matchAll(/\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) urls.push(match[1] ?? match[2] ?? match[3]!);
  for (const tag of html.matchAll(/<link\b[^>]*>/gi)) {
    const href = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(tag[0]);
    if (href) urls.push(href[1] ?? href[2] ?? href[3]!);
  }
  for (const match of html.matchAll(/url\(\s*['"]?([^'")\s]+)/gi)) urls.push(match[1]!);
  for (const match of html.matchAll(/@import\s+['"]([^'"]+)/gi)) urls.push(match[1]!);
  return urls;
}

// ---------------------------------------------------------------------------------------
describe('H3 every HTML page: a nonce-based CSP that forbids framing, plugins and <base>, and X-Frame-Options DENY', () => {
  test('when the flows have run, then every page of the list was reached and is HTML', () => {
    expect([...pages.keys()].sort()).toEqual([...PAGE_NAMES].sort());
    for (const [name, hop] of pages) expect({ name, type: hop.headers.get('content-type') }).toEqual({ name, type: expect.stringMatching(/^text\/html/) });
  });

  test.each(PAGE_NAMES)('when the %s page is served, then its CSP has frame-ancestors, object-src and base-uri \'none\' and a nonce script-src every script uses', (name) => {
    const hop = pages.get(name)!;
    const csp = parseCsp(hop.headers.get('content-security-policy'));
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    const scriptSrc = csp.get('script-src') ?? csp.get('default-src') ?? [];
    const nonces = scriptSrc.filter((source) => /^'nonce-[A-Za-z0-9+/=_-]{16,}'$/.test(source));
    expect(nonces).toHaveLength(1);
    expect(scriptSrc.filter((source) => /^'unsafe-(inline|eval)'$|^\*$|^https?:$|^data:$/.test(source))).toEqual([]);
    const nonce = nonces[0]!.slice("'nonce-".length, -1);
    for (const script of hop.body.matchAll(/<script\b[^>]*>/gi)) expect(script[0]).toContain(`nonce="${nonce}"`);
    // No inline event handlers, which a nonce does not cover.
    expect(hop.body).not.toMatch(/\son[a-z]+\s*=/i);
  });

  test.each(PAGE_NAMES)('when the %s page is served, then X-Frame-Options is DENY', (name) => {
    expect(pages.get(name)!.headers.get('x-frame-options')).toBe('DENY');
  });

  test('when two pages are served, then each gets its own CSP nonce', () => {
    const nonceOf = (hop: Hop) => /'nonce-([^']+)'/.exec(hop.headers.get('content-security-policy') ?? '')?.[1];
    const nonces = [...pages.values()].map(nonceOf);
    expect(new Set(nonces).size).toBe(nonces.length);
  });
});

// ---------------------------------------------------------------------------------------
describe('H4 every HTML page: nosniff, no-referrer, same-origin opener, no-store, and nothing loaded from elsewhere', () => {
  test.each(PAGE_NAMES)('when the %s page is served, then nosniff, Referrer-Policy no-referrer, COOP same-origin and Cache-Control no-store are set', (name) => {
    const headers = pages.get(name)!.headers;
    expect({
      nosniff: headers.get('x-content-type-options'),
      referrer: headers.get('referrer-policy'),
      coop: headers.get('cross-origin-opener-policy'),
      noStore: /(^|,\s*)no-store\s*(,|$)/.test(headers.get('cache-control') ?? ''),
    }).toEqual({ nosniff: 'nosniff', referrer: 'no-referrer', coop: 'same-origin', noStore: true });
  });

  test.each(PAGE_NAMES)('when the %s page is served, then every src, <link href>, url() and @import is on the issuer (or a data: URI)', (name) => {
    const foreign = loadedUrls(pages.get(name)!.body).filter((url) => {
      if (/^data:/i.test(url)) return false;
      if (!/^([a-z][a-z0-9+.-]*:)?\/\//i.test(url)) return /^[a-z][a-z0-9+.-]*:/i.test(url);
      return new URL(url, app.issuer).origin !== new URL(app.issuer).origin;
    });
    expect(foreign).toEqual([]);
  });

  test('when the authorization response is sent by response_mode=form_post (an HTML page, if offered), then it carries the same headers', async () => {
    const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as { response_modes_supported?: string[] };
    if (!discovery.response_modes_supported?.includes('form_post')) return;
    const user = await createUser(app);
    const browser = new Browser();
    await signIn(browser, app, await authRequest(firstParty), user.email);
    const hop = await browser.follow((await authRequest(firstParty, { response_mode: 'form_post' })).url.toString(), app.issuer);
    record('form_post response', hop);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('name="code"');
    const csp = parseCsp(hop.headers.get('content-security-policy'));
    expect({
      frameAncestors: csp.get('frame-ancestors'),
      objectSrc: csp.get('object-src'),
      baseUri: csp.get('base-uri'),
      xfo: hop.headers.get('x-frame-options'),
      nosniff: hop.headers.get('x-content-type-options'),
      referrer: hop.headers.get('referrer-policy'),
      coop: hop.headers.get('cross-origin-opener-policy'),
      noStore: /no-store/.test(hop.headers.get('cache-control') ?? ''),
    }).toEqual({
      frameAncestors: ["'none'"], objectSrc: ["'none'"], baseUri: ["'none'"], xfo: 'DENY', nosniff: 'nosniff', referrer: 'no-referrer', coop: 'same-origin', noStore: true,
    });
  });
});

// ---------------------------------------------------------------------------------------
describe('H6 no information leaks: no product banners, TRACE and unsupported methods refused, charsets declared, generic faults', () => {
  const url = (path: string) => `${app.issuer}${path}`;

  beforeAll(async () => {
    // JSON and other non-page answers, good and bad, added to the pages above.
    const take = async (what: string, path: string, init: RequestInit = {}) => {
      const response = await fetch(url(path), { redirect: 'manual', ...init });
      record(what, { status: response.status, headers: response.headers, body: await response.text() });
    };
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(firstPartyClient.clientId)}:${encodeURIComponent(firstPartyClient.clientSecret!)}`).toString('base64')}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    await take('discovery', '/.well-known/openid-configuration');
    await take('jwks', '/jwks');
    await take('token error', '/token', { method: 'POST', headers: { ...form, authorization: basic }, body: 'grant_type=authorization_code&code=nope&redirect_uri=http://localhost:8080/callback&code_verifier=x' });
    await take('token invalid_client', '/token', { method: 'POST', headers: form, body: 'grant_type=client_credentials&client_id=nope&client_secret=nope' });
    await take('introspection', '/token/introspection', { method: 'POST', headers: { ...form, authorization: basic }, body: 'token=nope' });
    await take('userinfo without token', '/me');
    await take('unknown path', '/no-such-path');
    await take('healthz', '/healthz');
    await take('readyz', '/readyz');
    await take('admin list', '/admin/users', { headers: { authorization: `Bearer ${token}` } });
    await take('admin problem', '/admin/users/not-a-uuid', { headers: { authorization: `Bearer ${token}` } });
    await take('admin unauthenticated', '/admin/users');
    await take('admin openapi', '/admin/openapi.json');
    await take('auth without parameters (JSON)', '/auth', { headers: { accept: 'application/json' } });
  });

  test('when every response of this file is scanned, then none has X-Powered-By and none names a server product or version', () => {
    expect(responses.length).toBeGreaterThan(25);
    const banners = responses.filter((response) => response.headers.has('x-powered-by') || /\d|koa|node|express|oidc/i.test(response.headers.get('server') ?? ''));
    expect(banners.map((response) => `${response.what}: ${response.headers.get('x-powered-by')} / ${response.headers.get('server')}`)).toEqual([]);
  });

  test('when every response with a body is scanned, then each declares a Content-Type with a charset (utf-8)', () => {
    const missing = responses
      .filter((response) => response.body.length > 0)
      .filter((response) => !/;\s*charset=utf-8\b/i.test(response.headers.get('content-type') ?? ''))
      .map((response) => `${response.what} (${response.status}): ${response.headers.get('content-type')}`);
    expect(missing).toEqual([]);
  });

  test('when every response is scanned, then nosniff is on each (H4: all responses)', () => {
    expect(responses.filter((response) => response.headers.get('x-content-type-options') !== 'nosniff').map((response) => response.what)).toEqual([]);
  });

  test('when TRACE / (and TRACE on the token endpoint and a page) is sent, then 405 or 501 and nothing is echoed', async () => {
    for (const path of ['/', '/token', '/auth', '/password/forgot', '/admin/users']) {
      const answer = await rawRequest(url(path), 'TRACE', { 'x-probe': 'trace-echo-check', cookie: 'probe=trace-echo-check' });
      expect({ path, refused: [405, 501].includes(answer.status), status: answer.status }).toEqual({ path, refused: true, status: answer.status });
      expect(answer.body).not.toContain('trace-echo-check');
    }
  });

  const WRONG_METHODS: Array<[string, string]> = [
    ['PUT', '/token'],
    ['DELETE', '/token'],
    ['GET', '/token'],
    ['PATCH', '/me'],
    ['DELETE', '/me'],
    ['PUT', '/jwks'],
    ['POST', '/jwks'],
    ['DELETE', '/.well-known/openid-configuration'],
    ['PUT', '/token/introspection'],
    ['GET', '/token/introspection'],
    ['PUT', '/token/revocation'],
    ['DELETE', '/auth'],
    ['PUT', '/session/end'],
    ['DELETE', '/admin/openapi.json'],
  ];
  test.each(WRONG_METHODS)('when %s %s is sent, then 405', async (method, path) => {
    const answer = await rawRequest(url(path), method);
    expect({ status: answer.status, body: answer.body.slice(0, 200) }).toEqual({ status: 405, body: expect.any(String) });
    expect(answer.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.[jt]s:\d+/);
  });

  test('when an admin API route and a page meet an unexpected fault, then the body is generic, shows the request id of the response, and no stack or error text', async () => {
    const accounts = app.app.services.accounts as unknown as Record<string, unknown>;
    const mfa = app.app.services.mfa as unknown as Record<string, unknown>;
    const original = { listUsers: accounts['listUsers'], status: mfa['status'] };
    const fault = () => {
      throw new Error('forced fault SECRET_INTERNAL_DETAIL for H6');
    };
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    accounts['listUsers'] = fault;
    mfa['status'] = fault;
    try {
      const api = await adminRequest(app, token, 'GET', '/users');
      const page = await browser.request(url('/account'));
      for (const [what, answer] of [['admin', { status: api.status, headers: api.headers, body: api.text }], ['page', page]] as const) {
        const requestId = answer.headers.get('x-request-id');
        expect({ what, status: answer.status }).toEqual({ what, status: 500 });
        expect(requestId).toBeTruthy();
        expect(answer.body).toContain(requestId!);
        expect(answer.body).not.toContain('SECRET_INTERNAL_DETAIL');
        expect(answer.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.[jt]s:\d+|\bError\b|\bstack\b/);
      }
    } finally {
      accounts['listUsers'] = original.listUsers;
      mfa['status'] = original.status;
    }
  });
});
