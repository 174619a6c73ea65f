// The profile on the account page over real HTTP: the names a user edits become their
// claims (page, ID token, userinfo) by the admin API's rules, refused values are said by
// the field in the page's language, every form needs its CSRF token, and a new email
// address needs a recent sign-in (checklist E8), is stored unverified, gets a confirmation
// link, and is announced to the old address; an address in use is refused naming no one.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { openAccount, postForm } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, type Hop } from '../helpers/browser.js';
import { linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { PASSWORD, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, submitLogin } from '../helpers/oidc.js';

let mail: MailServer;
let app: TestApp;
let config: oidc.Configuration;

beforeAll(async () => {
  mail = await startMailServer();
  app = await startApp({ env: { SMTP_URL: mail.url, MAIL_FROM: 'Gatehouse <accounts@example.com>' } });
  const client = await registerClient(app, { client_name: 'Profile Tests', first_party: true, scope: 'openid profile email' });
  config = await relyingParty(app, client);
});

afterAll(async () => {
  await app.destroy();
  await mail.close();
});

const stored = (id: string) => app.db.prisma.user.findUniqueOrThrow({ where: { id } });

/** Moves the browser sessions of a user's last sign-in an hour into the past. */
async function ageSignIn(userId: string) {
  await app.db.prisma.$executeRaw`
    UPDATE oidc_payloads SET payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - 3600))
    WHERE model = 'Session' AND account_id = ${userId}`;
}

/** The value attribute of the input with this id, as the page shows it. */
const fieldValue = (page: Hop, id: string) => new RegExp(`<input id="${id}"[^>]*\\svalue="([^"]*)"`).exec(page.body)?.[1];

describe('the profile on the account page', () => {
  test('when the name is edited, then the page shows it, and the next sign-in with the profile scope gets it in the ID token and at userinfo', async () => {
    const user = await createUser(app, { name: 'Ada Byron', claims: { locale: 'en-GB' } });
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    expect(fieldValue(page, 'name')).toBe('Ada Byron');
    expect(page.body).toMatch(/<input id="given_name"[^>]*autocomplete="given-name"/);
    expect(page.body).toMatch(/<input id="family_name"[^>]*autocomplete="family-name"/);
    expect(page.body).toMatch(/<input id="nickname"[^>]*autocomplete="nickname"/);

    const saved = await postForm(browser, app, page, '/account/profile', { name: '  Ada Lovelace ', given_name: 'Ada', family_name: 'Lovelace', nickname: '' });
    expect(saved.status).toBe(303);
    expect(saved.location).toBe(`${app.issuer}/account?done=profile`);
    const after = await browser.request(saved.location!);
    expect(after.body).toContain('Your profile was saved.');
    expect(fieldValue(after, 'name')).toBe('Ada Lovelace');
    expect(fieldValue(after, 'family_name')).toBe('Lovelace');
    // The claims the page does not edit stay; an empty field sets nothing.
    expect((await stored(user.id)).claims).toEqual({ name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', locale: 'en-GB' });

    const request = await authRequest(config, { scope: 'openid profile email' });
    const tokens = await exchange(config, await signIn(new Browser(), app, request, user.email), request);
    expect(tokens.claims()).toMatchObject({ sub: user.id, name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' });
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(userinfo).toMatchObject({ name: 'Ada Lovelace', family_name: 'Lovelace' });

    // Audited as a change of the user, made by the user, from this browser.
    const [entry] = (await app.app.services.audit.list({ target_id: user.id, action: 'user.update' })).items;
    expect(entry?.actor).toMatchObject({ type: 'user', id: user.id, ip: expect.any(String) });
  });

  test('when a field is cleared, then its claim is removed', async () => {
    const user = await createUser(app, { name: 'Grace Hopper', claims: { nickname: 'Amazing Grace' } });
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const saved = await postForm(browser, app, page, '/account/profile', { name: 'Grace Hopper', given_name: '', family_name: '', nickname: ' ' });
    expect(saved.status).toBe(303);
    expect((await stored(user.id)).claims).toEqual({ name: 'Grace Hopper' });
  });

  test('when the name has 301 characters, then it is refused with a message by the field, in the page\'s language, and nothing changes', async () => {
    const user = await createUser(app, { name: 'Before' });
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const before = await stored(user.id);
    const tooLong = 'n'.repeat(301);
    const refused = await postForm(browser, app, page, '/account/profile', { name: tooLong, given_name: 'Kept Out', family_name: '', nickname: '' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatch(/<input id="name"[^>]*aria-invalid="true" aria-describedby="name-error">\s*<p class="error" role="alert" id="name-error">Use at most 300 characters\.<\/p>/);
    // What was typed comes back to be corrected; the other fields have no message.
    expect(fieldValue(refused, 'name')).toBe(tooLong);
    expect(fieldValue(refused, 'given_name')).toBe('Kept Out');
    expect(refused.body).not.toContain('id="given_name-error"');

    const german = await browser.request(`${app.issuer}/account/profile`, {
      form: { csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1]!, name: tooLong },
      headers: { 'accept-language': 'de' },
    });
    expect(german.status).toBe(400);
    expect(german.body).toContain('<p class="error" role="alert" id="name-error">Verwenden Sie höchstens 300 Zeichen.</p>');

    const after = await stored(user.id);
    expect(after.claims).toEqual(before.claims);
    expect(after.updatedAt).toEqual(before.updatedAt);
  });

  test('when the profile or email form is posted without a CSRF token or with a wrong one, then 403 and nothing changes', async () => {
    const user = await createUser(app, { name: 'Unchanged' });
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    const before = await stored(user.id);
    for (const csrf of [undefined, 'wrong']) {
      const token: Record<string, string> = csrf === undefined ? {} : { csrf };
      expect((await browser.request(`${app.issuer}/account/profile`, { form: { ...token, name: 'Changed' } })).status).toBe(403);
      expect((await browser.request(`${app.issuer}/account/email`, { form: { ...token, email: `csrf.${Date.now()}@example.com` } })).status).toBe(403);
    }
    const after = await stored(user.id);
    expect(after).toEqual(before);
  });
});

describe('changing the email address on the account page', () => {
  test('when the sign-in is older than ten minutes, then the change first asks to sign in again, and the address stays', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    await ageSignIn(user.id);
    const newAddress = `stale.${Date.now()}@example.com`;
    const hop = await postForm(browser, app, page, '/account/email', { email: newAddress });
    expect(hop.status).toBe(303);
    const target = new URL(hop.location!);
    expect(target.origin + target.pathname).toBe(`${app.issuer}/auth`);
    expect(target.searchParams.get('client_id')).toBe('gatehouse-account');
    expect(target.searchParams.get('prompt')).toBe('login');
    expect((await stored(user.id)).email).toBe(user.email);
    expect(mail.to(newAddress)).toHaveLength(0);

    // Signing in again brings the account page back, and the change then goes through.
    const login = await browser.follow(hop.location!, app.issuer);
    const again = await submitLogin(browser, app, login, user.email);
    expect(again.status).toBe(200);
    expect(again.body).toContain('<h1>Your account</h1>');
    expect((await postForm(browser, app, again, '/account/email', { email: newAddress })).location).toBe(`${app.issuer}/account?done=email`);
    expect((await stored(user.id)).email).toBe(newAddress);
  });

  test('when the sign-in is fresh, then the address changes unverified, a confirmation link goes to the new address, a notice to the old one, and it is audited', async () => {
    const user = await createUser(app, { email_verified: true });
    const oldAddress = user.email;
    const newAddress = `New.Address.${Date.now()}@Example.com`;
    const normalized = newAddress.toLowerCase();
    const browser = new Browser();
    const page = await openAccount(browser, app, oldAddress);
    expect(page.body).toMatch(/<input id="email"[^>]*autocomplete="email"/);

    const changed = await postForm(browser, app, page, '/account/email', { email: ` ${newAddress} ` });
    expect(changed.status).toBe(303);
    expect(changed.location).toBe(`${app.issuer}/account?done=email`);
    const row = await stored(user.id);
    expect(row.email).toBe(normalized);
    expect(row.emailVerified).toBe(false);
    const after = await browser.request(changed.location!);
    expect(after.body).toContain('Open the link we sent to the new address to confirm it.');
    expect(after.body).toContain(`Your email address is <strong>${normalized}</strong>. It is not confirmed yet.`);

    const verification = await mail.waitFor(normalized);
    expect(verification.text).toMatch(/^Subject: Confirm your email address/m);
    expect(linkIn(verification, app.issuer, '/email/verify').token).toHaveLength(43);

    const notice = await mail.waitFor(oldAddress);
    expect(notice.to).toEqual([oldAddress]);
    expect(notice.text).toMatch(/^Subject: Your email address was changed/m);
    expect(notice.text).toContain('The email address of your account was changed.');
    expect(notice.text).not.toMatch(/[?&]token=/);
    // The new address gets the link only; the notice is for the owner of the old one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mail.to(normalized)).toHaveLength(1);
    expect(mail.to(oldAddress)).toHaveLength(1);

    const [entry] = (await app.app.services.audit.list({ target_id: user.id, action: 'user.change_email' })).items;
    expect(entry).toMatchObject({
      actor: { type: 'user', id: user.id },
      before: { email: oldAddress, email_verified: true },
      after: { email: normalized, email_verified: false },
    });
    // Signing in now takes the new address; the old one names no account.
    expect((await app.app.services.accounts.authenticate(normalized, PASSWORD))?.id).toBe(user.id);
    expect(await app.app.services.accounts.authenticate(oldAddress, PASSWORD)).toBeUndefined();
  });

  test('when the address belongs to another account, then it is refused without saying whose, and nothing changes or is mailed', async () => {
    const other = await createUser(app, { name: 'Grace Owner' });
    const user = await createUser(app);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const before = await stored(user.id);
    const sentBefore = mail.received.length;

    const refused = await postForm(browser, app, page, '/account/email', { email: other.email.toUpperCase() });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatch(/<p class="error" role="alert" id="email-error">This email address cannot be used\. Choose another one\.<\/p>/);
    expect(refused.body).not.toContain('Grace Owner');
    expect(refused.body).not.toContain(other.id);
    expect(refused.body).not.toContain('already exists');
    expect(await stored(user.id)).toEqual(before);
    expect((await app.app.services.audit.list({ target_id: user.id, action: 'user.change_email' })).items).toHaveLength(0);

    const invalid = await postForm(browser, app, page, '/account/email', { email: 'not an address' });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toContain('id="email-error">Enter an email address such as name@example.com.</p>');
    expect(await stored(user.id)).toEqual(before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mail.received.length).toBe(sentBefore);
  });
});
