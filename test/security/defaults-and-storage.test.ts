// Checklist F10 and J1 (/work/shared/reference/security-checklist.md): a fresh install
// has no account anyone could guess (no users at all, nothing signs in with default
// credentials, the admin API is closed), and no bearer secret the flows issue is stored
// in plain text: a dump of every row of every table (a stand-in for pg_dump) holds none
// of the codes, tokens, secrets, reset tokens, TOTP seeds or recovery codes issued.
// (test/integration/persistence.test.ts dumps four tables after a code flow; this dumps
// them all, after flows that also issue reset tokens and second factors.)
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, createAdminClient, clientCredentialsToken } from '../helpers/admin.js';
import { enrolTotp, openAccount, postForm } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue } from '../helpers/browser.js';
import { call } from '../helpers/http.js';
import { linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { POST_LOGOUT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn } from '../helpers/oidc.js';
import { dumpDatabase, sessionCookies } from '../helpers/security.js';

// ---------------------------------------------------------------------------------------
describe('F10 a fresh install has no default accounts', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp();
  });

  afterAll(async () => {
    await app.destroy();
  });

  test('when the app has just started on an empty store, then the users table is empty, no role is held by anyone, and no client exists', async () => {
    const [users, userRoles, clients, clientRoles] = await Promise.all([
      app.db.prisma.$queryRawUnsafe<Array<{ count: bigint }>>('SELECT count(*) AS count FROM users'),
      app.db.prisma.$queryRawUnsafe<Array<{ count: bigint }>>('SELECT count(*) AS count FROM user_roles'),
      app.db.prisma.$queryRawUnsafe<Array<{ count: bigint }>>('SELECT count(*) AS count FROM clients'),
      app.db.prisma.$queryRawUnsafe<Array<{ count: bigint }>>('SELECT count(*) AS count FROM client_roles'),
    ]);
    expect({ users: Number(users[0]!.count), userRoles: Number(userRoles[0]!.count), clients: Number(clients[0]!.count), clientRoles: Number(clientRoles[0]!.count) })
      .toEqual({ users: 0, userRoles: 0, clients: 0, clientRoles: 0 });
  });

  test('when the admin API is called without a token, or with a guessed one, then 401 with a Bearer challenge on every kind of route', async () => {
    for (const [method, path] of [['GET', '/users'], ['GET', '/clients'], ['POST', '/users'], ['GET', '/audit-events'], ['POST', '/keys/rotate']] as const) {
      for (const token of [undefined, 'admin', 'changeme', 'root']) {
        const answer = await adminRequest(app, token, method, path, method === 'POST' && path === '/users' ? { email: 'admin@example.com', password: 'admin' } : undefined);
        expect({ method, path, token, status: answer.status }).toEqual({ method, path, token, status: 401 });
        expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
      }
    }
  });

  test('when common default credentials are tried at the token endpoint (client credentials), then 401 invalid_client', async () => {
    for (const [id, secret] of [['admin', 'admin'], ['root', 'root'], ['gatehouse', 'gatehouse'], ['gatehouse-account', 'gatehouse-account'], ['client', 'secret']] as const) {
      const reply = await call(`${app.origin}/token`, { form: { grant_type: 'client_credentials', scope: 'admin' }, basic: [id, secret] });
      expect({ id, status: reply.status, error: reply.body?.['error'] }).toEqual({ id, status: 401, error: 'invalid_client' });
    }
  });

  test('when common default credentials are tried on the login form, then each gets the generic failure and no code, and still no user exists', async () => {
    const config = await relyingParty(app, await registerClient(app, { client_name: 'F10 app', first_party: true }));
    const pairs = [
      ['admin', 'admin'], ['admin@example.com', 'admin'], ['admin', 'password'], ['admin', 'changeme'], ['root', 'root'],
      ['root@localhost', 'root'], ['administrator', 'administrator'], ['gatehouse', 'gatehouse'], ['admin@localhost', 'admin'], ['test', 'test'],
    ];
    for (const [login, password] of pairs) {
      const browser = new Browser();
      const page = await browser.follow((await authRequest(config, { scope: 'openid' })).url.toString(), app.issuer);
      expect(page.status).toBe(200);
      const answer = await browser.request(new URL(formAction(page.body, '/login'), app.issuer).toString(), {
        form: { csrf: inputValue(page.body, 'csrf'), login: login!, password: password! },
      });
      expect({ login, status: answer.status, location: answer.location }).toEqual({ login, status: 400, location: undefined });
      expect(answer.body).toContain('The email, username or password is incorrect.');
      expect(await sessionCookies(browser, app)).toEqual([]);
    }
    expect(await app.db.prisma.user.count()).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------
describe('J1 no bearer secret is stored in plain text (every table dumped)', () => {
  let mail: MailServer;
  let app: TestApp;

  beforeAll(async () => {
    mail = await startMailServer();
    app = await startApp({ env: { SMTP_URL: mail.url } });
  });

  afterAll(async () => {
    await app.destroy();
    await mail.close();
  });

  test('when code flow, refresh, client credentials, admin tokens, a password reset link, TOTP enrolment and recovery codes have been issued, then a dump of every table contains none of them', async () => {
    const issued = new Map<string, string>();
    const keep = (what: string, value: string | undefined | null) => {
      if (!value) throw new Error(`no ${what} was issued`);
      issued.set(what, value);
    };

    const client = await registerClient(app, { client_name: 'J1 app', scope: 'openid email offline_access', first_party: true, grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] });
    keep('client secret', client.clientSecret);
    const rotated = await app.app.services.clients.rotateSecret(client.clientId, { grace_period_seconds: 60 }, { type: 'cli', id: 'j1' });
    keep('rotated client secret', rotated.client_secret);
    const config = await relyingParty(app, { clientId: client.clientId, clientSecret: issued.get('rotated client secret')! });
    const admin = await createAdminClient(app);
    keep('admin client secret', admin.clientSecret);
    keep('admin access token', (await clientCredentialsToken(app, admin)).body.access_token);

    // Sign-in, code, tokens, refresh.
    const user = await createUser(app);
    const browser = new Browser();
    const request = await authRequest(config, { scope: 'openid email offline_access', prompt: 'consent' });
    const callback = await signIn(browser, app, request, user.email);
    keep('authorization code', callback.searchParams.get('code'));
    keep('session cookie', (await sessionCookies(browser, app)).find((cookie) => !cookie.key.endsWith('.sig'))?.value);
    const tokens = await exchange(config, callback, request);
    keep('access token', tokens.access_token);
    keep('refresh token', tokens.refresh_token);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    keep('rotated refresh token', refreshed.refresh_token);
    keep('refreshed access token', refreshed.access_token);
    keep('client credentials access token', (await oidc.clientCredentialsGrant(config, {})).access_token);

    // A password reset link, asked for and left unused (the token is live in the table),
    // for a user whose address is verified: reset links go only to one.
    const resetUser = await createUser(app, { email_verified: true });
    const recovery = new Browser();
    const forgot = await recovery.request(`${app.issuer}/password/forgot`);
    await recovery.request(`${app.issuer}/password/forgot`, { form: { csrf: inputValue(forgot.body, 'csrf'), email: resetUser.email } });
    keep('password reset token', linkIn(await mail.waitFor(resetUser.email), app.issuer, '/password/reset').token);

    // An email verification link, also unused.
    const adminToken = issued.get('admin access token')!;
    expect((await adminRequest(app, adminToken, 'POST', `/users/${user.id}/verification-email`)).status).toBe(202);
    keep('email verification token', linkIn(await mail.waitFor(user.email), app.issuer, '/email/verify').token);

    // An authenticator app with its recovery codes, then a fresh set of codes.
    const account = new Browser();
    await openAccount(account, app, user.email);
    const enrolled = await enrolTotp(account, app);
    keep('TOTP seed', enrolled.secret);
    enrolled.recoveryCodes.forEach((code, index) => keep(`recovery code ${index + 1}`, code));
    const page = await account.request(`${app.issuer}/account`);
    const regenerated = await postForm(account, app, page, '/account/recovery-codes');
    expect(regenerated.status).toBe(200);
    [...regenerated.body.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].forEach((match, index) => keep(`new recovery code ${index + 1}`, match[1]));
    expect([...issued.keys()].filter((what) => what.startsWith('new recovery code'))).toHaveLength(10);

    // An initial access token for dynamic registration.
    const registration = await adminRequest(app, adminToken, 'POST', '/registration-tokens', { expires_in: 3600 });
    expect(registration.status).toBe(201);
    keep('registration initial access token', registration.body.token);

    // A logout keeps nothing either (the session is gone), but the rest must still be hashed.
    const logout = await browser.request(`${app.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI })}`, { headers: { accept: 'text/html' } });
    expect(logout.status).toBe(200);

    const { tables, text } = await dumpDatabase(app);
    expect(tables).toEqual(expect.arrayContaining(['oidc_payloads', 'clients', 'users', 'user_tokens', 'recovery_codes', 'audit_events', 'signing_keys']));
    for (const [, value] of issued) expect(value.length).toBeGreaterThanOrEqual(8);
    // Recovery codes may be stored without their dashes or in another case: look for those forms too.
    const forms = (value: string) => [...new Set([value, value.replace(/-/g, ''), value.toLowerCase(), value.replace(/-/g, '').toLowerCase()])];
    const found = [...issued].filter(([, value]) => forms(value).some((form) => text.includes(form))).map(([what]) => what);
    expect(found).toEqual([]);
    expect(text).not.toMatch(/"d"\s*:\s*"/);
    expect(text).not.toContain('PRIVATE KEY');
  }, 120_000);
});
