// Security notices (checklist F3): a change to the password or the sign-in factors mails
// the account's address a short notice, received here by a real SMTP server, that says
// what changed and how to react, carries no secret, and never holds the change up.
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { enrolTotp, openAccount, postForm, totpCode } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser } from '../helpers/browser.js';
import { startMailServer, type MailServer, type ReceivedMail } from '../helpers/mail.js';
import { PASSWORD, TEST_ACTOR, createUser } from '../helpers/oidc.js';

const NEW_PASSWORD = 'a freshly chosen passphrase 7';

let mail: MailServer;
let app: TestApp;

beforeAll(async () => {
  mail = await startMailServer();
  app = await startApp({ env: { SMTP_URL: mail.url, MAIL_FROM: 'Gatehouse <accounts@example.com>' } });
});

afterAll(async () => {
  await app.destroy();
  await mail.close();
});

/** The one notice `email` receives: waits for it, then makes sure no second one follows. */
async function onlyNotice(email: string): Promise<ReceivedMail> {
  const notice = await mail.waitFor(email);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(mail.to(email)).toHaveLength(1);
  return notice;
}

function expectNoticeShape(notice: ReceivedMail, subject: string) {
  expect(notice.text).toMatch(new RegExp(`^Subject: ${subject}`, 'm'));
  expect(notice.text).toContain('If this was not you, reset your password now:');
  expect(notice.text).toContain(`${app.issuer}/password/forgot`);
  // No link carries a token of any kind.
  expect(notice.text).not.toMatch(/[?&]token=/);
}

describe('security notices', () => {
  test('when the password is changed on the account page, then exactly one notice goes to the user\'s address, with the time and IP address and neither password', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const changed = await postForm(browser, app, page, '/account/password', { current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(changed.status).toBe(303);
    const notice = await onlyNotice(user.email);
    expect(notice.to).toEqual([user.email]);
    expectNoticeShape(notice, 'Your password was changed');
    expect(notice.text).toContain('The password of your account was changed.');
    expect(notice.text).toMatch(/When: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT/);
    expect(notice.text).toContain('IP address: 127.0.0.1');
    expect(notice.text).not.toContain(PASSWORD);
    expect(notice.text).not.toContain(NEW_PASSWORD);
  });

  test('when two-step verification is turned on, then exactly one notice says so, without the seed, a code or a recovery code', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    const enrolled = await enrolTotp(browser, app);
    const notice = await onlyNotice(user.email);
    expectNoticeShape(notice, 'Two-step verification was turned on');
    const compact = notice.text.replace(/[\s=-]/g, '');
    expect(compact).not.toContain(enrolled.secret);
    for (const code of enrolled.recoveryCodes) expect(compact).not.toContain(code.replace(/-/g, ''));
    for (const offset of [-30, 0, 30]) expect(notice.text).not.toContain(totpCode(enrolled.secret, offset));
  });

  test('when an administrator sets a password or removes the second factor, then the notice says an administrator did it and gives no address', async () => {
    const user = await createUser(app);
    await app.app.services.accounts.setPassword(user.id, { password: NEW_PASSWORD }, { ...TEST_ACTOR, ip: '192.0.2.10' });
    const notice = await onlyNotice(user.email);
    expectNoticeShape(notice, 'Your password was changed');
    expect(notice.text).toContain('An administrator set a new password for your account.');
    expect(notice.text).not.toContain('192.0.2.10');
    expect(notice.text).not.toContain(NEW_PASSWORD);

    await app.app.services.mfa.reset(user.id, TEST_ACTOR);
    const second = await mail.waitFor(user.email, { after: 1 });
    expectNoticeShape(second, 'Two-step verification was removed');
  });

  test('when nothing about how the user signs in changes (opening the account page, signing in), then no notice is sent', async () => {
    const user = await createUser(app);
    await openAccount(new Browser(), app, user.email);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mail.to(user.email)).toEqual([]);
  });
});

describe('a failing mail server', () => {
  let broken: Server;
  let brokenApp: TestApp;

  beforeAll(async () => {
    // Answers every connection with "service not available" and hangs up.
    broken = createServer((socket) => socket.end('554 5.3.2 No service here\r\n'));
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const port = (broken.address() as AddressInfo).port;
    brokenApp = await startApp({ env: { SMTP_URL: `smtp://127.0.0.1:${port}/?tls=none` } });
  });

  afterAll(async () => {
    await brokenApp.destroy();
    await new Promise<void>((resolve) => broken.close(() => resolve()));
  });

  test('when the notice cannot be sent, then the password change still succeeds and the new password works', async () => {
    const user = await createUser(brokenApp);
    const browser = new Browser();
    const page = await openAccount(browser, brokenApp, user.email);
    const changed = await postForm(browser, brokenApp, page, '/account/password', { current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(changed.status).toBe(303);
    expect((await browser.request(`${brokenApp.issuer}/account?done=password`)).body).toContain('Your password was changed.');
    expect((await brokenApp.app.services.accounts.authenticate(user.email, NEW_PASSWORD))?.id).toBe(user.id);
  });
});
