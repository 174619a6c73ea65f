// Password reset by a mailed, single-use, expiring link (checklist F4, F9, B12), driven
// as a person does it: the forgot-password form, the mail received by a real SMTP server,
// the link, the new-password form. Database checks read the tables directly.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { Browser, inputValue, type Hop } from '../helpers/browser.js';
import { linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { PASSWORD, TEST_ACTOR, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn } from '../helpers/oidc.js';

const NEW_PASSWORD = 'a freshly chosen passphrase';

let mail: MailServer;
let app: TestApp;
let config: oidc.Configuration;

beforeAll(async () => {
  mail = await startMailServer();
  app = await startApp({ env: { SMTP_URL: mail.url, MAIL_FROM: 'Gatehouse <accounts@example.com>' } });
  const client = await registerClient(app, { first_party: true, scope: 'openid email offline_access' });
  config = await relyingParty(app, client);
});

afterAll(async () => {
  await app.destroy();
  await mail.close();
});

const url = (path: string) => `${app.issuer}${path}`;
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
/** A page's body with its per-response CSP nonce blanked, for comparing two answers. */
const comparable = (hop: Hop) => hop.body.replace(/nonce="[^"]*"/g, 'nonce=""');

/** Opens the forgot-password form in `browser` and submits `email`. */
async function askForReset(browser: Browser, email: string): Promise<Hop> {
  const page = await browser.request(url('/password/forgot'));
  expect(page.status).toBe(200);
  return browser.request(url('/password/forgot'), { form: { csrf: inputValue(page.body, 'csrf'), email } });
}

/** Asks for a reset of `email` and returns the link from the mail that arrives. */
async function resetLink(email: string): Promise<{ link: string; token: string }> {
  const before = mail.to(email).length;
  const answer = await askForReset(new Browser(), email);
  expect(answer.status).toBe(200);
  return linkIn(await mail.waitFor(email, { after: before }), app.issuer, '/password/reset');
}

/** Opens a reset link in `browser` and submits the new-password form. */
async function chooseNewPassword(browser: Browser, link: string, password = NEW_PASSWORD, confirm = password): Promise<Hop> {
  const page = await browser.request(link);
  expect(page.status).toBe(200);
  return browser.request(url('/password/reset'), {
    form: { csrf: inputValue(page.body, 'csrf'), token: inputValue(page.body, 'token'), password, confirm },
  });
}

/** Reset links go only to verified addresses (F9): every user here has one unless a test says otherwise. */
const verifiedUser = () => createUser(app, { email_verified: true });

const passwordHash = async (userId: string) => (await app.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).passwordHash;

function expectFriendlyPage(hop: Hop, status: number) {
  expect(hop.status).toBe(status);
  expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  expect(hop.body).toMatch(/<h1>[^<]+<\/h1>/);
  expect(hop.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.[jt]s:\d+|\b(Type|Syntax|Reference|Zod)?Error\b/);
  expect(hop.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(hop.headers.get('cache-control')).toBe('no-store');
}

async function signsIn(email: string, password: string): Promise<boolean> {
  try {
    const request = await authRequest(config, { scope: 'openid email' });
    return Boolean((await signIn(new Browser(), app, request, email, { password })).searchParams.get('code'));
  } catch {
    return false;
  }
}

describe('asking for a reset', () => {
  test('when an existing address asks, then one mail to that address carries a link to the reset page, and the page says only that a link was sent if an account exists', async () => {
    const user = await verifiedUser();
    const answer = await askForReset(new Browser(), user.email);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('If an account exists for that address');
    expect(answer.headers.get('x-frame-options')).toBe('DENY');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const received = await mail.waitFor(user.email);
    expect(received.to).toEqual([user.email]);
    expect(received.from).toBe('accounts@example.com');
    expect(received.text).toMatch(/^Subject: Reset your password/m);
    const { link, token } = linkIn(received, app.issuer, '/password/reset');
    expect(link).toBe(`${app.issuer}/password/reset?token=${token}`);
    // 256 bits, base64url.
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test('when an unknown address asks, then the page and status are the same as for an existing one, and no mail is sent', async () => {
    const user = await verifiedUser();
    const unknown = `nobody.${Date.now()}@example.com`;
    const forUnknown = await askForReset(new Browser(), unknown);
    const forKnown = await askForReset(new Browser(), user.email);
    expect(forUnknown.status).toBe(forKnown.status);
    expect(comparable(forUnknown)).toBe(comparable(forKnown));
    // Mail is sent after the answer: once the known address's mail is in, give the
    // unknown one's (if there were any) time to arrive too.
    await mail.waitFor(user.email);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mail.to(unknown)).toEqual([]);
  });

  test('when a disabled account\'s address asks, then the answer is the same and no mail is sent', async () => {
    const user = await verifiedUser();
    await app.app.services.accounts.setDisabled(user.id, true, TEST_ACTOR);
    const answer = await askForReset(new Browser(), user.email);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('If an account exists for that address');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mail.to(user.email)).toEqual([]);
  });

  test('when the account\'s address is not verified, then the page and status are the same as for a verified one, no mail is sent and nothing is issued (F9)', async () => {
    const unverified = await createUser(app);
    expect(unverified.email_verified).toBe(false);
    const verified = await verifiedUser();
    const forUnverified = await askForReset(new Browser(), unverified.email);
    const forVerified = await askForReset(new Browser(), verified.email);
    expect(forUnverified.status).toBe(200);
    expect(comparable(forUnverified)).toBe(comparable(forVerified));
    // Mail is sent after the answer: once the verified address's mail is in, give the
    // other one's (if there were any) time to arrive too.
    await mail.waitFor(verified.email);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mail.to(unverified.email)).toEqual([]);
    expect(await app.db.prisma.userToken.count({ where: { userId: unverified.id } })).toBe(0);
    expect((await app.app.services.audit.list({ target_id: unverified.id, action: 'user.request_password_reset' })).items).toHaveLength(0);
  });

  test('when the address is not an email address, then the form comes back with a message (400), and nothing is sent', async () => {
    const answer = await askForReset(new Browser(), 'not an address');
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('Enter the email address of your account.');
    expect(answer.body).toContain('autocomplete="email"');
  });

  test('when the sign-in page is shown, then it links to the forgot-password page, which leads back to that sign-in', async () => {
    const browser = new Browser();
    const request = await authRequest(config, { scope: 'openid email' });
    const login = await browser.follow(request.url.toString(), app.issuer);
    const uid = /\/interaction\/([^/"]+)\/login"/.exec(login.body)![1]!;
    const href = /<a href="([^"]+)">Forgot your password\?<\/a>/.exec(login.body)![1]!;
    const forgot = await browser.request(url(href.replace(/&amp;/g, '&')));
    expect(forgot.status).toBe(200);
    expect(forgot.body).toContain(`href="/interaction/${uid}"`);
    const sent = await browser.request(url('/password/forgot'), {
      form: { csrf: inputValue(forgot.body, 'csrf'), email: `nobody.${Date.now()}@example.com`, return: inputValue(forgot.body, 'return') },
    });
    expect(sent.body).toContain(`href="/interaction/${uid}"`);
    // The way back still shows that sign-in.
    const back = await browser.request(url(`/interaction/${uid}`));
    expect(back.status).toBe(200);
    expect(back.body).toContain(`/interaction/${uid}/login`);
  });

  test('when the return link names anything but a sign-in page of this server, then it is left out', async () => {
    const page = await new Browser().request(url('/password/forgot?return=https%3A%2F%2Fevil.example%2F'));
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('evil.example');
  });
});

describe('using the link', () => {
  test('when the link is used, then the new password signs in and the old one does not; a second use gets a friendly 400 page', async () => {
    const user = await verifiedUser();
    const { link, token } = await resetLink(user.email);
    const done = await chooseNewPassword(new Browser(), link);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your password has been changed');
    expect(await signsIn(user.email, NEW_PASSWORD)).toBe(true);
    expect(await signsIn(user.email, PASSWORD)).toBe(false);

    const again = await new Browser().request(link);
    expectFriendlyPage(again, 400);
    expect(again.body).toContain('This link no longer works');
    expect(again.body).toContain('href="/password/forgot"');
    // Posting the used token directly is refused the same way.
    const browser = new Browser();
    const form = await browser.request(url('/password/forgot'));
    const repost = await browser.request(url('/password/reset'), { form: { csrf: inputValue(form.body, 'csrf'), token, password: 'yet another passphrase', confirm: 'yet another passphrase' } });
    expectFriendlyPage(repost, 400);
    expect(await signsIn(user.email, NEW_PASSWORD)).toBe(true);
  });

  test('when the link is opened, then the form is shown and the token is not used up (opening it twice still works)', async () => {
    const user = await verifiedUser();
    const { link } = await resetLink(user.email);
    const first = await new Browser().request(link);
    expect(first.status).toBe(200);
    expect(first.body).toContain('autocomplete="new-password"');
    expect(first.body).toContain(user.email);
    expect((await new Browser().request(link)).status).toBe(200);
    expect((await chooseNewPassword(new Browser(), link)).status).toBe(200);
  });

  test('when a reset succeeds, then the user\'s old sessions, refresh tokens and access tokens are dead', async () => {
    const user = await verifiedUser();
    const browser = new Browser();
    const first = await authRequest(config, { scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await exchange(config, await signIn(browser, app, first, user.email), first);
    expect(tokens.refresh_token).toBeTruthy();
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true });

    const { link } = await resetLink(user.email);
    expect((await chooseNewPassword(new Browser(), link)).status).toBe(200);

    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
    const silent = await authRequest(config, { scope: 'openid email', prompt: 'none' });
    const hop = await browser.follow(silent.url.toString(), app.issuer);
    expect(new URL(hop.location!).searchParams.get('error')).toBe('login_required');
  });

  test('when the token has expired, then the link and the form are refused and the password is unchanged', async () => {
    const user = await verifiedUser();
    const { link, token } = await resetLink(user.email);
    const browser = new Browser();
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    await app.db.prisma.$executeRaw`UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE user_id = ${user.id}::uuid`;
    const hash = await passwordHash(user.id);
    expectFriendlyPage(await new Browser().request(link), 400);
    const post = await browser.request(url('/password/reset'), { form: { csrf: inputValue(page.body, 'csrf'), token, password: NEW_PASSWORD, confirm: NEW_PASSWORD } });
    expectFriendlyPage(post, 400);
    expect(post.body).toContain('expired');
    expect(await passwordHash(user.id)).toBe(hash);
  });

  test('when a new link is asked for, then the older unused one stops working', async () => {
    const user = await verifiedUser();
    const older = await resetLink(user.email);
    const newer = await resetLink(user.email);
    expect(newer.token).not.toBe(older.token);
    expectFriendlyPage(await new Browser().request(older.link), 400);
    expect((await chooseNewPassword(new Browser(), newer.link)).status).toBe(200);
  });

  test('when the same link is submitted many times at once, then exactly one succeeds', async () => {
    const user = await verifiedUser();
    const { link } = await resetLink(user.email);
    const browsers = await Promise.all(Array.from({ length: 5 }, async () => {
      const browser = new Browser();
      const page = await browser.request(link);
      return { browser, csrf: inputValue(page.body, 'csrf'), token: inputValue(page.body, 'token') };
    }));
    const answers = await Promise.all(browsers.map(({ browser, csrf, token }, i) =>
      browser.request(url('/password/reset'), { form: { csrf, token, password: `${NEW_PASSWORD} ${i}`, confirm: `${NEW_PASSWORD} ${i}` } })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400, 400, 400, 400]);
  });

  // Two instances need a shared PostgreSQL (TEST_DATABASE_URL); the embedded store is one process's.
  (usingPostgres ? test : test.skip)('when the same link is submitted at once to two instances sharing the database, then exactly one succeeds', async () => {
    const other = await startApp({ env: { SMTP_URL: mail.url }, shareStoreWith: app });
    try {
      const user = await verifiedUser();
      const { link } = await resetLink(user.email);
      const browser = new Browser();
      const page = await browser.request(link);
      const fields = { csrf: inputValue(page.body, 'csrf'), token: inputValue(page.body, 'token') };
      const answers = await Promise.all([app, other, app, other].map((instance, i) =>
        browser.request(`${instance.issuer}/password/reset`, { form: { ...fields, password: `${NEW_PASSWORD} ${i}`, confirm: `${NEW_PASSWORD} ${i}` } })));
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400, 400, 400]);
    } finally {
      await other.stop();
    }
  });

  test('when the new password breaks the password rules or the two entries differ, then the form says why and the link keeps working', async () => {
    const user = await verifiedUser();
    const { link } = await resetLink(user.email);
    const short = await chooseNewPassword(new Browser(), link, 'short');
    expect(short.status).toBe(400);
    expect(short.body).toContain('The new password must be at least 8 characters long.');
    expect(short.body).toContain('name="token"');
    const mismatch = await chooseNewPassword(new Browser(), link, NEW_PASSWORD, `${NEW_PASSWORD}!`);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('The two passwords do not match.');
    expect((await chooseNewPassword(new Browser(), link)).status).toBe(200);
  });

  test('when the account\'s address changes after the link was sent, then the link is refused (links go only to the current address)', async () => {
    const user = await verifiedUser();
    const { link } = await resetLink(user.email);
    await app.app.services.accounts.updateUser(user.id, { email: `moved.${Date.now()}@example.com` }, TEST_ACTOR);
    const page = await new Browser().request(link);
    expectFriendlyPage(page, 400);
    expect(page.body).toContain('no longer the one on the account');
  });

  test('when a malformed or missing token is given, then a friendly 400 page answers, never a 500', async () => {
    for (const path of ['/password/reset', '/password/reset?token=', '/password/reset?token=abc', '/password/reset?token=a&token=b', `/password/reset?token=${'x'.repeat(5000)}`]) {
      expectFriendlyPage(await new Browser().request(url(path)), 400);
    }
    // Not even percent-encoded UTF-8: refused at the edge, still with a page.
    const garbled = await new Browser().request(url('/password/reset?token=%ZZ'));
    expect(garbled.status).toBe(400);
    expect(garbled.headers.get('content-type')).toMatch(/^text\/html/);
    expect(garbled.body).toMatch(/<h1>[^<]+<\/h1>/);
  });
});

describe('anti-CSRF', () => {
  test('when the reset form is posted without its token, with a wrong one, or from a browser without the cookie, then 403 and the password is unchanged', async () => {
    const user = await verifiedUser();
    const { link, token } = await resetLink(user.email);
    const browser = new Browser();
    const page = await browser.request(link);
    const csrf = inputValue(page.body, 'csrf');
    const hash = await passwordHash(user.id);
    const fields = { token, password: NEW_PASSWORD, confirm: NEW_PASSWORD };

    expectFriendlyPage(await browser.request(url('/password/reset'), { form: fields }), 403);
    expectFriendlyPage(await browser.request(url('/password/reset'), { form: { ...fields, csrf: `${csrf.slice(0, -2)}AA` } }), 403);
    // The right value, but from a browser without the cookie it is bound to.
    expectFriendlyPage(await new Browser().request(url('/password/reset'), { form: { ...fields, csrf } }), 403);
    expect(await passwordHash(user.id)).toBe(hash);
    // Nothing was used up.
    expect((await browser.request(url('/password/reset'), { form: { ...fields, csrf } })).status).toBe(200);
    expect(await passwordHash(user.id)).not.toBe(hash);
  });

  test('when the forgot-password form is posted without a valid token, then 403 and no mail is sent', async () => {
    const user = await verifiedUser();
    const browser = new Browser();
    await browser.request(url('/password/forgot'));
    expectFriendlyPage(await browser.request(url('/password/forgot'), { form: { email: user.email } }), 403);
    expectFriendlyPage(await browser.request(url('/password/forgot'), { form: { email: user.email, csrf: 'forged' } }), 403);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mail.to(user.email)).toEqual([]);
  });

  test('when the form cookie is set, then it is HttpOnly and SameSite=Lax', async () => {
    const page = await new Browser().request(url('/password/forgot'));
    const cookies = page.headers.getSetCookie().filter((cookie) => cookie.startsWith('gatehouse.form'));
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(cookie).toMatch(/httponly/i);
    for (const cookie of cookies) expect(cookie).toMatch(/samesite=lax/i);
  });
});

describe('what is stored and recorded', () => {
  test('when user_tokens is dumped, then it holds the SHA-256 of the mailed token and never the token', async () => {
    const user = await verifiedUser();
    const { token } = await resetLink(user.email);
    const dump = JSON.stringify(await app.db.prisma.$queryRaw`SELECT * FROM user_tokens`);
    expect(dump).not.toContain(token);
    expect(dump).toContain(sha256(token));
    const row = await app.db.prisma.userToken.findFirstOrThrow({ where: { userId: user.id, usedAt: null } });
    expect(row).toMatchObject({ purpose: 'password_reset', email: user.email, tokenHash: sha256(token) });
    // 30 minutes, by the database clock.
    const minutes = (row.expiresAt.getTime() - row.createdAt.getTime()) / 60_000;
    expect(minutes).toBeCloseTo(30, 1);
  });

  test('when a reset is asked for and completed, then both are in the audit trail with address, user agent and request id, and the token is not', async () => {
    const user = await verifiedUser();
    const browser = new Browser();
    const page = await browser.request(url('/password/forgot'));
    const asked = await browser.request(url('/password/forgot'), {
      form: { csrf: inputValue(page.body, 'csrf'), email: user.email },
      headers: { 'user-agent': 'reset-test/1.0' },
    });
    const { link, token } = linkIn(await mail.waitFor(user.email), app.issuer, '/password/reset');
    expect((await chooseNewPassword(browser, link)).status).toBe(200);

    const events = await app.app.services.audit.list({ target_id: user.id });
    const requested = events.items.find((event) => event.action === 'user.request_password_reset');
    const completed = events.items.find((event) => event.action === 'user.reset_password');
    expect(requested).toMatchObject({ actor: { ip: expect.any(String), user_agent: 'reset-test/1.0' }, request_id: asked.headers.get('x-request-id') });
    expect(completed).toMatchObject({ actor: { type: 'user', id: user.id, ip: expect.any(String) }, request_id: expect.any(String) });
    expect(JSON.stringify(events)).not.toContain(token);
    // Unknown addresses leave no record.
    await askForReset(new Browser(), `nobody.${Date.now()}@example.com`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = await app.app.services.audit.list({ action: 'user.request_password_reset', limit: 200 });
    expect(all.items.every((event) => event.target.type === 'user' && event.target.id.length === 36)).toBe(true);
  });
});

describe('rate limits', () => {
  test('when one IP address asks for more resets than PASSWORD_RESET_RATE_LIMIT per hour, then it gets a friendly 429 with Retry-After', async () => {
    const limited = await startApp({ env: { SMTP_URL: mail.url, PASSWORD_RESET_RATE_LIMIT: '2' } });
    try {
      const browser = new Browser();
      const page = await browser.request(`${limited.issuer}/password/forgot`);
      const post = (i: number) => browser.request(`${limited.issuer}/password/forgot`, { form: { csrf: inputValue(page.body, 'csrf'), email: `someone${i}@example.com` } });
      expect((await post(1)).status).toBe(200);
      expect((await post(2)).status).toBe(200);
      const third = await post(3);
      expect(third.status).toBe(429);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(third.body).toContain('Too many requests');
    } finally {
      await limited.destroy();
    }
  });
});
