// Email verification by a mailed, single-use link: sent when an administrator asks
// (POST /admin/users/{id}/verification-email), confirmed on a page with a form, visible
// afterwards as email_verified in ID tokens and at userinfo. Also the development
// transport: without SMTP_URL, mail becomes files in MAIL_DIR.
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, inputValue, type Hop } from '../helpers/browser.js';
import { decodeQuotedPrintable, linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { TEST_ACTOR, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn } from '../helpers/oidc.js';

let mail: MailServer;
let app: TestApp;
let config: oidc.Configuration;
let token: string;

beforeAll(async () => {
  mail = await startMailServer();
  app = await startApp({ env: { SMTP_URL: mail.url } });
  const client = await registerClient(app, { first_party: true, scope: 'openid email' });
  config = await relyingParty(app, client);
  token = await adminToken(app);
});

afterAll(async () => {
  await app.destroy();
  await mail.close();
});

const url = (target: string) => `${app.issuer}${target}`;
const sendVerification = (userId: string, bearer = token) => adminRequest(app, bearer, 'POST', `/users/${userId}/verification-email`);

async function verificationLink(userId: string, email: string): Promise<{ link: string; token: string }> {
  const before = mail.to(email).length;
  const sent = await sendVerification(userId);
  expect(sent.status).toBe(202);
  return linkIn(await mail.waitFor(email, { after: before }), app.issuer, '/email/verify');
}

/** Opens the link and presses Confirm. */
async function confirm(browser: Browser, link: string): Promise<Hop> {
  const page = await browser.request(link);
  expect(page.status).toBe(200);
  return browser.request(url('/email/verify'), { form: { csrf: inputValue(page.body, 'csrf'), token: inputValue(page.body, 'token') } });
}

const emailVerified = async (userId: string) => (await app.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).emailVerified;

function expectFriendlyPage(hop: Hop, status: number) {
  expect(hop.status).toBe(status);
  expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  expect(hop.body).toMatch(/<h1>[^<]+<\/h1>/);
  expect(hop.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.[jt]s:\d+|\b(Type|Syntax|Reference|Zod)?Error\b/);
  expect(hop.headers.get('cache-control')).toBe('no-store');
}

describe('verifying an address', () => {
  test('when an administrator sends a verification email and the user confirms, then email_verified is true in the database, the ID token and userinfo', async () => {
    const user = await createUser(app);
    const sent = await sendVerification(user.id);
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ sent_to: user.email, expires_at: expect.any(String) });
    const hours = (Date.parse(sent.body.expires_at) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);

    const received = await mail.waitFor(user.email);
    expect(received.text).toMatch(/^Subject: Confirm your email address/m);
    const { link } = linkIn(received, app.issuer, '/email/verify');

    // Opening the link (as a mail scanner would) changes nothing.
    const page = await new Browser().request(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain(user.email);
    expect(await emailVerified(user.id)).toBe(false);

    const done = await confirm(new Browser(), link);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Email address confirmed');
    expect(await emailVerified(user.id)).toBe(true);

    const request = await authRequest(config, { scope: 'openid email' });
    const tokens = await exchange(config, await signIn(new Browser(), app, request, user.email), request);
    expect(tokens.claims()).toMatchObject({ sub: user.id, email: user.email, email_verified: true });
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(userinfo).toMatchObject({ email: user.email, email_verified: true });
  });

  test('when the link is confirmed a second time, then a friendly 400 page answers', async () => {
    const user = await createUser(app);
    const { link } = await verificationLink(user.id, user.email);
    const browser = new Browser();
    const page = await browser.request(link);
    const form = { csrf: inputValue(page.body, 'csrf'), token: inputValue(page.body, 'token') };
    expect((await browser.request(url('/email/verify'), { form })).status).toBe(200);
    const again = await browser.request(url('/email/verify'), { form });
    expectFriendlyPage(again, 400);
    expect(again.body).toContain('This link no longer works');
    expectFriendlyPage(await new Browser().request(link), 400);
  });

  test('when the user\'s address changed after the link was sent, then the link is refused and the new address stays unverified', async () => {
    const user = await createUser(app);
    const { link } = await verificationLink(user.id, user.email);
    const browser = new Browser();
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    await app.app.services.accounts.updateUser(user.id, { email: `changed.${Date.now()}@example.com` }, TEST_ACTOR);

    const opened = await new Browser().request(link);
    expectFriendlyPage(opened, 400);
    expect(opened.body).toContain('no longer the one on the account');
    const posted = await browser.request(url('/email/verify'), { form: { csrf: inputValue(page.body, 'csrf'), token: inputValue(page.body, 'token') } });
    expectFriendlyPage(posted, 400);
    expect(await emailVerified(user.id)).toBe(false);
  });

  test('when the token has expired, then it is refused', async () => {
    const user = await createUser(app);
    const { link } = await verificationLink(user.id, user.email);
    await app.db.prisma.$executeRaw`UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE user_id = ${user.id}::uuid`;
    expectFriendlyPage(await new Browser().request(link), 400);
    expect(await emailVerified(user.id)).toBe(false);
  });

  test('when the confirm form is posted without a valid anti-CSRF token, then 403 and the address stays unverified', async () => {
    const user = await createUser(app);
    const { link, token: mailed } = await verificationLink(user.id, user.email);
    const browser = new Browser();
    await browser.request(link);
    expectFriendlyPage(await browser.request(url('/email/verify'), { form: { token: mailed } }), 403);
    expectFriendlyPage(await browser.request(url('/email/verify'), { form: { token: mailed, csrf: 'x'.repeat(43) } }), 403);
    expect(await emailVerified(user.id)).toBe(false);
    expect((await confirm(browser, link)).status).toBe(200);
  });

  test('when a verification is sent and confirmed, then both are audited with the request\'s details and without the token', async () => {
    const user = await createUser(app);
    const { link, token: mailed } = await verificationLink(user.id, user.email);
    expect((await confirm(new Browser(), link)).status).toBe(200);
    const events = await app.app.services.audit.list({ target_id: user.id });
    expect(events.items.find((event) => event.action === 'user.send_verification_email')).toMatchObject({ actor: { type: 'client' }, after: { email: user.email } });
    expect(events.items.find((event) => event.action === 'user.verify_email')).toMatchObject({
      actor: { type: 'user', id: user.id, ip: expect.any(String) },
      request_id: expect.any(String),
      after: { email: user.email, email_verified: true },
    });
    expect(JSON.stringify(events)).not.toContain(mailed);
  });
});

describe('the admin API', () => {
  test('when a user is created with email_verified false, then no mail is sent by itself', async () => {
    const email = `created.${Date.now()}@example.com`;
    const created = await adminRequest(app, token, 'POST', '/users', { email, password: 'correct horse battery staple' });
    expect(created.status).toBe(201);
    expect(created.body.email_verified).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mail.to(email)).toEqual([]);
  });

  test('when the address is already verified, the user does not exist, or the token is only admin:read, then 409, 404 and 403', async () => {
    const verified = await createUser(app, { email_verified: true });
    expect((await sendVerification(verified.id)).status).toBe(409);
    expect((await sendVerification('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const reader = await adminToken(app, 'admin:read');
    const user = await createUser(app);
    expect((await sendVerification(user.id, reader)).status).toBe(403);
    expect(mail.to(user.email)).toEqual([]);
  });
});

describe('development mail transport', () => {
  test('when SMTP_URL is not set outside production, then each message is written as a file in MAIL_DIR that only its owner can read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-mail-'));
    const local = await startApp({ env: { MAIL_DIR: dir } });
    try {
      const user = await local.app.services.accounts.createUser({ email: `files.${Date.now()}@example.com`, password: 'correct horse battery staple' }, TEST_ACTOR);
      const sent = await adminRequest(local, await adminToken(local), 'POST', `/users/${user.id}/verification-email`);
      expect(sent.status).toBe(202);
      const files = (await readdir(dir)).filter((name) => name.endsWith('.eml'));
      expect(files).toHaveLength(1);
      const file = path.join(dir, files[0]!);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const message = decodeQuotedPrintable(await readFile(file, 'utf8'));
      expect(message).toContain(`To: ${user.email}`);
      const { link } = linkIn({ text: message }, local.issuer, '/email/verify');
      expect((await new Browser().request(link)).status).toBe(200);
    } finally {
      await local.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
