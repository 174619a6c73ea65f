// The self-service account pages over real HTTP: signing in through the built-in account
// client, CSRF on every form (403 and nothing changed), changing the password (the
// current one required; every other session and grant ends), a recent sign-in before
// second-factor changes (checklist E8), turning the second factor off and making new
// recovery codes, the sessions the user can sign out, and the apps they can disconnect.
import { enrolTotp, openAccount, postForm, totpCode } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { PASSWORD, REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, submitLogin } from '../helpers/oidc.js';
import { silentAuth } from '../helpers/security.js';

let app: TestApp;
let config: oidc.Configuration;

beforeAll(async () => {
  app = await startApp();
  const client = await registerClient(app, { client_name: 'Account Tests', first_party: true });
  config = await relyingParty(app, client);
});

afterAll(async () => {
  await app.destroy();
});

const storedHash = async (id: string) => (await app.db.prisma.user.findUniqueOrThrow({ where: { id } })).passwordHash;
const totpState = async (id: string) => {
  const row = await app.db.prisma.user.findUniqueOrThrow({ where: { id } });
  return { secret: row.totpSecret, confirmedAt: row.totpConfirmedAt };
};

/** Moves the browser sessions of a user's last sign-in an hour into the past. */
async function ageSignIn(userId: string) {
  await app.db.prisma.$executeRaw`
    UPDATE oidc_payloads SET payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - 3600))
    WHERE model = 'Session' AND account_id = ${userId}`;
}

function expectSentToSignIn(hop: Hop, options: { reauthenticate?: boolean } = {}) {
  expect(hop.status).toBe(303);
  const target = new URL(hop.location!);
  expect(target.origin + target.pathname).toBe(`${app.issuer}/auth`);
  expect(target.searchParams.get('client_id')).toBe('gatehouse-account');
  expect(target.searchParams.get('redirect_uri')).toBe(`${app.issuer}/account/callback`);
  expect(target.searchParams.get('prompt')).toBe(options.reauthenticate ? 'login' : null);
}

describe('signing in to the account page', () => {
  test('when a browser without a session opens /account, then it is sent to sign in, and comes back to its account page', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    expectSentToSignIn(await browser.request(`${app.issuer}/account`));
    const page = await openAccount(browser, app, user.email);
    expect(page.body).toContain(user.email);
    expect(page.body).toContain('href="/session/end"');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // The account client's code was destroyed on the callback: nobody can redeem it.
    const codes = await app.db.prisma.$queryRaw<Array<{ n: bigint }>>`
      SELECT count(*) AS n FROM oidc_payloads WHERE model = 'AuthorizationCode' AND client_id = 'gatehouse-account'`;
    expect(Number(codes[0]!.n)).toBe(0);
  });

  test('when the callback is called with a state this browser did not start, then it is refused and no page is shown', async () => {
    const browser = new Browser();
    const hop = await browser.request(`${app.issuer}/account/callback?code=x&state=forged`);
    expect(hop.status).toBe(400);
    expect(hop.location).toBeUndefined();
  });
});

describe('CSRF on the account forms', () => {
  let user: Awaited<ReturnType<typeof createUser>>;
  let browser: Browser;
  let page: Hop;

  beforeAll(async () => {
    user = await createUser(app);
    browser = new Browser();
    await openAccount(browser, app, user.email);
    await enrolTotp(browser, app);
    page = await openAccount(browser, app, user.email);
  });

  test('when the password form is posted without a token, with a wrong one, or with another session\'s, then 403 and the password stays', async () => {
    const before = await storedHash(user.id);
    const other = new Browser();
    const otherPage = await openAccount(other, app, (await createUser(app)).email);
    const fields = { current_password: PASSWORD, new_password: 'a brand new passphrase 1' };
    const url = `${app.issuer}/account/password`;
    for (const csrf of [undefined, 'wrong', inputValue(otherPage.body, 'csrf')]) {
      const hop = await browser.request(url, { form: { ...(csrf === undefined ? {} : { csrf }), ...fields } });
      expect(hop.status).toBe(403);
      expect(hop.location).toBeUndefined();
    }
    expect(await storedHash(user.id)).toBe(before);
  });

  test('when the second-factor forms are posted with a wrong token, then 403 and the second factor and recovery codes stay', async () => {
    const before = await totpState(user.id);
    const codesBefore = await app.db.prisma.recoveryCode.findMany({ where: { userId: user.id }, orderBy: { codeHash: 'asc' } });
    for (const path of ['/account/totp/disable', '/account/recovery-codes']) {
      const hop = await browser.request(`${app.issuer}${path}`, { form: { csrf: 'wrong' } });
      expect(hop.status).toBe(403);
    }
    expect(await totpState(user.id)).toEqual(before);
    expect(before.confirmedAt).not.toBeNull();
    expect(await app.db.prisma.recoveryCode.findMany({ where: { userId: user.id }, orderBy: { codeHash: 'asc' } })).toEqual(codesBefore);
    // The page's own token does work (the refusals above were about the token).
    expect((await postForm(browser, app, page, '/account/recovery-codes')).status).toBe(200);
  });
});

describe('changing the password', () => {
  test('when the current password is wrong or the new one breaks the rules, then 400 and nothing changes', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const before = await storedHash(user.id);
    const wrong = await postForm(browser, app, page, '/account/password', { current_password: 'not my password', new_password: 'a brand new passphrase 2' });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('The current password is incorrect.');
    const short = await postForm(browser, app, page, '/account/password', { current_password: PASSWORD, new_password: 'short' });
    expect(short.status).toBe(400);
    expect(short.body).toContain('at least 8 characters');
    expect(await storedHash(user.id)).toBe(before);
  });

  test('when the current password is right, then the new one works, the old one does not, every other session and grant ends, and this session stays', async () => {
    const user = await createUser(app);
    // Elsewhere: signed in to a client (a grant) and to the account page in another browser.
    const elsewhere = new Browser();
    await signIn(elsewhere, app, await authRequest(config), user.email);
    await openAccount(elsewhere, app, user.email);
    expect((await app.app.services.accounts.listGrants(user.id)).length).toBeGreaterThan(0);

    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const newPassword = 'a brand new passphrase 3';
    const changed = await postForm(browser, app, page, '/account/password', { current_password: PASSWORD, new_password: newPassword });
    expect(changed.status).toBe(303);
    expect(changed.location).toBe(`${app.issuer}/account?done=password`);

    const after = await browser.request(`${app.issuer}/account?done=password`);
    expect(after.status).toBe(200);
    expect(after.body).toContain('Your password was changed.');
    expectSentToSignIn(await elsewhere.request(`${app.issuer}/account`));
    expect(await app.app.services.accounts.listSessions(user.id)).toHaveLength(1);
    expect(await app.app.services.accounts.listGrants(user.id)).toHaveLength(0);
    expect((await app.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).passwordChangedAt).not.toBeNull();
    expect((await app.app.services.audit.list({ target_id: user.id, action: 'user.change_password' })).items).toHaveLength(1);

    expect(await app.app.services.accounts.authenticate(user.email, PASSWORD)).toBeUndefined();
    expect((await app.app.services.accounts.authenticate(user.email, newPassword))?.id).toBe(user.id);
  });
});

describe('the second factor on the account page', () => {
  test('when the sign-in is older than ten minutes, then setting up or turning off the second factor first asks to sign in again', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    await ageSignIn(user.id);
    expectSentToSignIn(await browser.request(`${app.issuer}/account/totp`), { reauthenticate: true });
    expect((await totpState(user.id)).secret).toBeNull();

    // After signing in again, the set-up page comes back.
    const login = await browser.follow(`${app.issuer}/account/totp`, app.issuer);
    const setup = await submitLogin(browser, app, login, user.email);
    expect(setup.status).toBe(200);
    expect(setup.body).toContain('Set up an authenticator app');

    const enrolled = await enrolTotp(browser, app);
    await ageSignIn(user.id);
    const page = await browser.request(`${app.issuer}/account`);
    expectSentToSignIn(await postForm(browser, app, page, '/account/totp/disable'), { reauthenticate: true });
    expect((await totpState(user.id)).confirmedAt).not.toBeNull();
    expect(enrolled.recoveryCodes).toHaveLength(10);
  });

  test('when a wrong code is entered at set-up, then it stays off; with the right code it is on and the page shows ten recovery codes', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    const setup = await browser.request(`${app.issuer}/account/totp`);
    const secret = /<code id="manual-key">([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!.replace(/ /g, '');
    const wrong = await postForm(browser, app, setup, '/account/totp/confirm', { code: totpCode(secret, 600) });
    expect(wrong.status).toBe(400);
    expect((await totpState(user.id)).confirmedAt).toBeNull();
    // The same seed is offered again, so what was scanned stays valid.
    expect(wrong.body).toContain(setup.body.match(/<code id="manual-key">[^<]+<\/code>/)![0]);
    const done = await postForm(browser, app, wrong, '/account/totp/confirm', { code: totpCode(secret) });
    expect(done.status).toBe(200);
    expect([...done.body.matchAll(/<li><code>/g)]).toHaveLength(10);
    expect((await totpState(user.id)).confirmedAt).not.toBeNull();
    const overview = await browser.request(`${app.issuer}/account`);
    expect(overview.body).toContain('Recovery codes left: <strong>10</strong>');
  });

  test('when new recovery codes are made, then the old ones stop working; when the second factor is turned off, then sign-in needs the password only', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    const enrolled = await enrolTotp(browser, app);
    const page = await browser.request(`${app.issuer}/account`);
    const regenerated = await postForm(browser, app, page, '/account/recovery-codes');
    const fresh = [...regenerated.body.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].map((match) => match[1]!);
    expect(fresh).toHaveLength(10);
    expect(fresh.some((code) => enrolled.recoveryCodes.includes(code))).toBe(false);
    const actor = { type: 'user', id: user.id } as const;
    expect(await app.app.services.mfa.useRecoveryCode(user.id, enrolled.recoveryCodes[0]!, actor)).toBe(false);
    expect(await app.app.services.mfa.useRecoveryCode(user.id, fresh[0]!, actor)).toBe(true);

    const off = await postForm(browser, app, await browser.request(`${app.issuer}/account`), '/account/totp/disable');
    expect(off.status).toBe(303);
    expect(await totpState(user.id)).toEqual({ secret: null, confirmedAt: null });
    expect(await app.db.prisma.recoveryCode.count({ where: { userId: user.id } })).toBe(0);
    const actions = (await app.app.services.audit.list({ target_id: user.id })).items.map((event) => event.action);
    expect(actions).toEqual(expect.arrayContaining(['user.mfa_recovery_codes_regenerate', 'user.mfa_disable']));

    // A new sign-in elsewhere goes straight back to the client after the password.
    const other = new Browser();
    const request = await authRequest(config);
    const login = await other.follow(request.url.toString(), app.issuer);
    const hop = await submitLogin(other, app, login, user.email);
    expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);
    expect(formAction(login.body, '/login')).toContain('/interaction/');
  });
});

describe('guessing the current password on the account page (a stolen session)', () => {
  const THRESHOLD = 3;
  let strict: TestApp;
  let strictConfig: oidc.Configuration;

  beforeAll(async () => {
    strict = await startApp({ env: { LOGIN_LOCKOUT_THRESHOLD: String(THRESHOLD) } });
    strictConfig = await relyingParty(strict, await registerClient(strict, { first_party: true }));
  });

  afterAll(async () => {
    await strict.destroy();
  });

  test('when the current password is wrong LOGIN_LOCKOUT_THRESHOLD times, then the next try gets 429 with Retry-After even with the right one, the sign-in page is locked too, and each failure is recorded', async () => {
    const user = await createUser(strict);
    const browser = new Browser();
    const page = await openAccount(browser, strict, user.email);
    const before = (await strict.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).passwordHash;
    for (let i = 0; i < THRESHOLD; i += 1) {
      const wrong = await postForm(browser, strict, page, '/account/password', { current_password: `not my password ${i}`, new_password: 'a brand new passphrase 4' });
      expect(wrong.status).toBe(400);
      expect(wrong.body).toContain('The current password is incorrect.');
    }
    const refused = await postForm(browser, strict, page, '/account/password', { current_password: PASSWORD, new_password: 'a brand new passphrase 4' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body).toContain('Too many wrong passwords');
    expect((await strict.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).passwordHash).toBe(before);

    // The same account counter: the sign-in page refuses the right password as well.
    const other = new Browser();
    const login = await other.follow((await authRequest(strictConfig)).url.toString(), strict.issuer);
    const signInAnswer = await submitLogin(other, strict, login, user.email);
    expect(signInAnswer.status).toBe(429);
    expect(signInAnswer.location).toBeUndefined();

    const audit = (action: string) => strict.app.services.audit.list({ target_id: user.id, action });
    expect((await audit('login.failure')).items).toHaveLength(THRESHOLD);
    expect((await audit('login.locked')).items.length).toBeGreaterThan(0);
    expect(JSON.stringify((await audit('login.failure')).items)).not.toContain('not my password');
  });

  test('when the new password breaks the rules, then nothing is counted against the account', async () => {
    const user = await createUser(strict);
    const browser = new Browser();
    const page = await openAccount(browser, strict, user.email);
    for (let i = 0; i < THRESHOLD + 2; i += 1) {
      const short = await postForm(browser, strict, page, '/account/password', { current_password: `not my password ${i}`, new_password: 'short' });
      expect(short.status).toBe(400);
      expect(short.body).toContain('at least 8 characters');
    }
    const changed = await postForm(browser, strict, page, '/account/password', { current_password: PASSWORD, new_password: 'a brand new passphrase 5' });
    expect(changed.status).toBe(303);
  });
});

describe('changing a sign-in factor ends the user\'s other sessions (ASVS 7.4.3)', () => {
  /** Signs `browser` in to the test client: password, then (when asked) a recovery code. */
  async function signInElsewhere(browser: Browser, email: string, recoveryCode?: string) {
    const login = await browser.follow((await authRequest(config)).url.toString(), app.issuer);
    let hop = await submitLogin(browser, app, login, email);
    if (recoveryCode) {
      expect(hop.body).toContain('<h1>Two-step verification</h1>');
      hop = await browser.follow(new URL(formAction(hop.body, '/mfa'), app.issuer).toString(), app.issuer, {
        form: { csrf: inputValue(hop.body, 'csrf'), method: 'recovery', code: recoveryCode },
      });
    }
    expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);
    expect(await silentAuth(browser, app, config)).toMatchObject({ error: null });
  }

  test('when the user turns on the authenticator app, then another browser\'s session ends (login_required), this one stays, and the grants stay', async () => {
    const user = await createUser(app);
    const elsewhere = new Browser();
    await signInElsewhere(elsewhere, user.email);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    await enrolTotp(browser, app);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
    expect((await browser.request(`${app.issuer}/account`)).status).toBe(200);
    expect(await app.app.services.accounts.listSessions(user.id)).toHaveLength(1);
    // Only sessions: the applications' grants and tokens are the password change's to end.
    expect((await app.app.services.accounts.listGrants(user.id)).length).toBeGreaterThan(0);
    const confirmed = await app.app.services.audit.list({ target_id: user.id, action: 'user.mfa_confirm' });
    expect(confirmed.items[0]!.after).toMatchObject({ sessions_ended: 1 });
  });

  test('when the user makes new recovery codes, and when they turn the app off, then each time another browser\'s session ends and this one stays', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    const enrolled = await enrolTotp(browser, app);

    const elsewhere = new Browser();
    await signInElsewhere(elsewhere, user.email, enrolled.recoveryCodes[0]);
    const regenerated = await postForm(browser, app, await browser.request(`${app.issuer}/account`), '/account/recovery-codes');
    expect(regenerated.status).toBe(200);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
    const fresh = [...regenerated.body.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].map((match) => match[1]!);

    await signInElsewhere(elsewhere, user.email, fresh[0]);
    const off = await postForm(browser, app, await browser.request(`${app.issuer}/account`), '/account/totp/disable');
    expect(off.status).toBe(303);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
    const page = await browser.request(`${app.issuer}/account?done=totp-off`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Two-step verification is off.');
  });
});

describe('where you are signed in (checklist E8)', () => {
  /** Signs `browser` in to the test client and checks prompt=none works there. */
  async function signInElsewhere(browser: Browser, email: string) {
    await signIn(browser, app, await authRequest(config), email);
    expect(await silentAuth(browser, app, config)).toMatchObject({ error: null });
  }

  const sessionRows = (userId: string) => app.db.prisma.oidcPayload.findMany({ where: { model: 'Session', accountId: userId } });

  test('when the user is signed in in two browsers, then the page lists both, marks this one, names the app used, and shows no session id', async () => {
    const user = await createUser(app);
    const elsewhere = new Browser();
    await signInElsewhere(elsewhere, user.email);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    expect(page.body).toContain('<h2>Where you are signed in</h2>');
    expect(page.body.match(/<strong>This browser<\/strong>/g)).toHaveLength(1);
    expect(page.body.match(/Another browser/g)).toHaveLength(1);
    expect(page.body).toContain('Used for: Account Tests');
    expect(page.body.match(/action="\/account\/sessions\/end"/g)).toHaveLength(1);
    const rows = await sessionRows(user.id);
    expect(rows).toHaveLength(2);
    // The id is the session cookie's value: it must never reach a page. The other
    // session is named by its uid, the handle its sign-out form posts.
    for (const row of rows) expect(page.body).not.toContain(row.id);
    expect(rows.filter((row) => page.body.includes(`name="session" value="${row.uid}"`))).toHaveLength(1);
  });

  test('when another session is signed out, then its prompt=none gets login_required and its grants end, this one still works, and the user is the audited actor', async () => {
    const user = await createUser(app);
    const elsewhere = new Browser();
    await signInElsewhere(elsewhere, user.email);
    const otherUid = (await sessionRows(user.id))[0]!.uid!;
    const testClientGrants = async () => (await app.app.services.accounts.listGrants(user.id)).filter((grant) => grant.client_id === config.clientMetadata().client_id);
    expect(await testClientGrants()).toHaveLength(1);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);

    const ended = await postForm(browser, app, page, '/account/sessions/end', { session: otherUid });
    expect(ended.status).toBe(303);
    expect(ended.location).toBe(`${app.issuer}/account?done=session-ended`);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
    // The grant made in the other session ended with it.
    expect(await testClientGrants()).toHaveLength(0);
    expect(await silentAuth(browser, app, config)).toMatchObject({ error: null });
    const after = await browser.request(`${app.issuer}/account?done=session-ended`);
    expect(after.body).toContain('That session was signed out.');
    expect(after.body).not.toContain('Another browser');

    const audited = (await app.app.services.audit.list({ target_id: user.id, action: 'user.revoke_session' })).items;
    expect(audited).toHaveLength(1);
    expect(audited[0]!.actor).toMatchObject({ type: 'user', id: user.id, ip: expect.any(String) });
  });

  test('when the page\'s own session is named, then it is refused and the session stays', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const own = (await sessionRows(user.id))[0]!.uid!;
    // The page offers no such form; a forged one is refused.
    expect(page.body).not.toContain('action="/account/sessions/end"');
    const refused = await browser.request(`${app.issuer}/account/sessions/end`, { form: { csrf: inputValue(page.body, 'csrf'), session: own } });
    expect(refused.status).toBe(400);
    expect((await browser.request(`${app.issuer}/account`)).status).toBe(200);
  });

  test('when "sign out everywhere else" is used, then every other browser gets login_required and this one stays signed in', async () => {
    const user = await createUser(app);
    const others = [new Browser(), new Browser()];
    for (const other of others) await signInElsewhere(other, user.email);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    const ended = await postForm(browser, app, page, '/account/sessions/end-others');
    expect(ended.status).toBe(303);
    for (const other of others) expect(await silentAuth(other, app, config)).toEqual({ code: null, error: 'login_required' });
    expect(await app.app.services.accounts.listSessions(user.id)).toHaveLength(1);
    expect((await browser.request(`${app.issuer}/account`)).status).toBe(200);
    expect(await silentAuth(browser, app, config)).toMatchObject({ error: null });
    const audited = (await app.app.services.audit.list({ target_id: user.id, action: 'user.revoke_other_sessions' })).items;
    expect(audited[0]!.actor).toMatchObject({ type: 'user', id: user.id });
  });

  test('when the sign-out forms are posted without the CSRF token, then 403 and every session stays', async () => {
    const user = await createUser(app);
    const elsewhere = new Browser();
    await signInElsewhere(elsewhere, user.email);
    const otherUid = (await sessionRows(user.id))[0]!.uid!;
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    expect((await browser.request(`${app.issuer}/account/sessions/end`, { form: { session: otherUid } })).status).toBe(403);
    expect((await browser.request(`${app.issuer}/account/sessions/end-others`, { form: { csrf: 'wrong' } })).status).toBe(403);
    expect(await silentAuth(elsewhere, app, config)).toMatchObject({ error: null });
    expect(await app.app.services.accounts.listSessions(user.id)).toHaveLength(2);
  });

  test('when the sign-in is older than ten minutes, then signing out another session still needs no new sign-in', async () => {
    const user = await createUser(app);
    const elsewhere = new Browser();
    await signInElsewhere(elsewhere, user.email);
    const browser = new Browser();
    const page = await openAccount(browser, app, user.email);
    await ageSignIn(user.id);
    expect((await postForm(browser, app, page, '/account/sessions/end-others')).status).toBe(303);
    expect(await silentAuth(elsewhere, app, config)).toEqual({ code: null, error: 'login_required' });
  });
});

describe('connected apps (checklist E8)', () => {
  let thirdParty: oidc.Configuration;
  let thirdPartyId: string;

  beforeAll(async () => {
    const client = await registerClient(app, {
      client_name: 'Photo Printer',
      logo_uri: 'https://photos.example/logo.png',
      scope: 'openid email offline_access',
    });
    thirdPartyId = client.clientId;
    thirdParty = await relyingParty(app, client);
  });

  /** Signs in to the third-party client in `browser`, agreeing on its consent page; returns its tokens. */
  async function connect(browser: Browser, email: string) {
    const request = await authRequest(thirdParty, { scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await exchange(thirdParty, await signIn(browser, app, request, email), request);
    expect(tokens.refresh_token).toBeTruthy();
    return tokens;
  }

  const consentRow = (userId: string) => app.db.prisma.consent.findUnique({ where: { userId_clientId: { userId, clientId: thirdPartyId } } });

  test('when the user has let an app in, then the page lists it with its name, logo and what it may do in plain words, and not the account page itself', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await connect(browser, user.email);
    const page = await openAccount(browser, app, user.email);
    expect(page.body).toContain('<h2>Connected apps</h2>');
    expect(page.body).toContain('<strong>Photo Printer</strong>');
    expect(page.body).toContain('src="https://photos.example/logo.png"');
    expect(page.body).toContain('See your email address and whether it is verified');
    expect(page.body).toContain('Stay connected when you are not using it');
    expect(page.body).toContain(`name="client" value="${thirdPartyId}"`);
    expect(page.body).not.toContain('value="gatehouse-account"');
  });

  test('when access is removed, then its refresh token gets invalid_grant, the consent is forgotten and the next authorization shows the consent page again', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const tokens = await connect(browser, user.email);
    expect(await consentRow(user.id)).not.toBeNull();
    const page = await openAccount(browser, app, user.email);
    const removed = await postForm(browser, app, page, '/account/apps/remove', { client: thirdPartyId });
    expect(removed.status).toBe(303);
    expect(removed.location).toBe(`${app.issuer}/account?done=app-removed`);

    await expect(oidc.refreshTokenGrant(thirdParty, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(thirdParty, tokens.access_token)).toEqual({ active: false });
    expect(await consentRow(user.id)).toBeNull();
    // Still signed in, but the app must ask again: the consent page, not a redirect.
    const again = await browser.follow((await authRequest(thirdParty, { scope: 'openid email' })).url.toString(), app.issuer);
    expect(again.status).toBe(200);
    expect(again.body).toContain('<h1>Allow access?</h1>');
    expect((await browser.request(`${app.issuer}/account`)).body).not.toContain('<strong>Photo Printer</strong>');

    const audited = (await app.app.services.audit.list({ target_id: user.id, action: 'user.revoke_client_access' })).items;
    expect(audited).toHaveLength(1);
    expect(audited[0]!.actor).toMatchObject({ type: 'user', id: user.id, ip: expect.any(String) });
  });

  test('when "remove access" is posted without the CSRF token, then 403 and the app keeps its tokens and consent', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const tokens = await connect(browser, user.email);
    await openAccount(browser, app, user.email);
    for (const form of [{ client: thirdPartyId }, { client: thirdPartyId, csrf: 'wrong' }] as Array<Record<string, string>>) {
      expect((await browser.request(`${app.issuer}/account/apps/remove`, { form })).status).toBe(403);
    }
    expect(await consentRow(user.id)).not.toBeNull();
    expect((await oidc.refreshTokenGrant(thirdParty, tokens.refresh_token!)).access_token).toBeTruthy();
  });
});
