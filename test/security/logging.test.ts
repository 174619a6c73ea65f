// Checklist K1, K2, K4, K5 and K6 (/work/shared/reference/security-checklist.md), read
// from the app's own log: every app a test starts writes JSON lines at debug level to its
// own file (TestApp.logFile) when the run collects logs. Flows are driven over HTTP; each
// log line is matched to its request by the X-Request-Id the response carried.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { adminRequest, adminToken, createAdminClient, clientCredentialsToken } from '../helpers/admin.js';
import { enrolTotp, openAccount, totpCode, wrongCode } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { basicHeader, call } from '../helpers/http.js';
import { linkIn, startMailServer, type MailServer } from '../helpers/mail.js';
import { PASSWORD, POST_LOGOUT_URI, REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, type RegisteredClient } from '../helpers/oidc.js';
import { readLog, readLogText, sessionCookies, waitForLog, type LogLine } from '../helpers/security.js';

const USER_AGENT = 'GatehouseLogTest/1.0 (K1)';
const WRONG_PASSWORD = 'not the password at all';

/** pino levels */
const WARN = 40;
const ERROR = 50;

interface LoginAttempt {
  browser: Browser;
  request: Awaited<ReturnType<typeof authRequest>>;
  page: Hop;
  answer: Hop;
  requestId: string;
}

/** Opens the login page in a fresh browser and posts one login; keeps the POST's own answer. */
async function attemptLogin(app: TestApp, config: oidc.Configuration, login: string, password: string, userAgent = USER_AGENT): Promise<LoginAttempt> {
  const browser = new Browser();
  const request = await authRequest(config, { scope: 'openid' });
  const page = await browser.follow(request.url.toString(), app.issuer, {});
  expect(page.status).toBe(200);
  const answer = await browser.request(new URL(formAction(page.body, '/login'), app.issuer).toString(), {
    form: { csrf: inputValue(page.body, 'csrf'), login, password },
    headers: { 'user-agent': userAgent },
  });
  return { browser, request, page, answer, requestId: answer.headers.get('x-request-id')! };
}

const byRequest = (requestId: string) => (line: LogLine) => line['requestId'] === requestId;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

// ---------------------------------------------------------------------------------------
describe('K1 every authentication event is one structured log line (and an audit row)', () => {
  let app: TestApp;
  let client: RegisteredClient;
  let config: oidc.Configuration;
  let token: string;

  beforeAll(async () => {
    app = await startApp({ env: { LOG_LEVEL: 'debug', LOGIN_LOCKOUT_THRESHOLD: '3' } });
    client = await registerClient(app, { client_name: 'K1 app', first_party: true });
    config = await relyingParty(app, client);
    token = await adminToken(app);
  });

  afterAll(async () => {
    await app.destroy();
  });

  /** The one line of `event` written for the request `requestId`, with the fields every authentication event has. */
  async function eventLine(event: string, requestId: string, userId: string | undefined): Promise<LogLine> {
    const lines = await waitForLog(app, (line) => line['event'] === event && line['requestId'] === requestId);
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toEqual(expect.objectContaining({
      time: expect.stringMatching(ISO_UTC),
      event,
      clientId: client.clientId,
      ip: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$/),
      userAgent: USER_AGENT,
      requestId,
      ...(userId ? { userId } : {}),
    }));
    expect(JSON.stringify(line)).not.toContain(PASSWORD);
    expect(JSON.stringify(line)).not.toContain(WRONG_PASSWORD);
    return line;
  }

  test('when a user signs in, then a login.success line has time, event, user id, client id, IP, user agent and request id, and no password', async () => {
    const user = await createUser(app);
    const attempt = await attemptLogin(app, config, user.email, PASSWORD);
    expect(attempt.answer.status).toBe(303);
    const line = await eventLine('login.success', attempt.requestId, user.id);
    expect(line.level).toBeLessThan(WARN);
  });

  test('when a wrong password is posted, then a login.failure line (warn) names the user, client, IP, user agent and request id, never the password', async () => {
    const user = await createUser(app);
    const attempt = await attemptLogin(app, config, user.email, WRONG_PASSWORD);
    expect(attempt.answer.status).toBe(400);
    const line = await eventLine('login.failure', attempt.requestId, user.id);
    expect(line.level).toBeGreaterThanOrEqual(WARN);
  });

  test('when a name fails LOGIN_LOCKOUT_THRESHOLD (3) times, then a login.locked line follows the third failure, and the next attempt logs login.refused', async () => {
    const user = await createUser(app);
    const attempts: LoginAttempt[] = [];
    for (let i = 0; i < 3; i += 1) attempts.push(await attemptLogin(app, config, user.email, WRONG_PASSWORD));
    const locked = await eventLine('login.locked', attempts[2]!.requestId, user.id);
    expect(locked.level).toBeGreaterThanOrEqual(WARN);
    expect(locked['seconds']).toEqual(expect.any(Number));
    const refused = await attemptLogin(app, config, user.email, PASSWORD);
    expect(refused.answer.status).toBe(429);
    await eventLine('login.refused', refused.requestId, user.id);
  });

  test('when a wrong one-time code is entered after the right password, then a login.mfa_failure line names the user, client and request', async () => {
    const user = await createUser(app);
    const accountBrowser = new Browser();
    await openAccount(accountBrowser, app, user.email);
    const { secret, recoveryCodes } = await enrolTotp(accountBrowser, app);
    const attempt = await attemptLogin(app, config, user.email, PASSWORD);
    expect(attempt.answer.status).toBe(303);
    const codePage = await attempt.browser.follow(attempt.answer.location!, app.issuer);
    const wrong = await attempt.browser.request(new URL(formAction(codePage.body, '/mfa'), app.issuer).toString(), {
      form: { csrf: inputValue(codePage.body, 'csrf'), method: 'totp', code: wrongCode(secret) },
      headers: { 'user-agent': USER_AGENT },
    });
    expect(wrong.status).toBe(400);
    await eventLine('login.mfa_failure', wrong.headers.get('x-request-id')!, user.id);
    const right = await attempt.browser.request(new URL(formAction(wrong.body, '/mfa'), app.issuer).toString(), {
      // The current TOTP code was spent by the enrolment (no replay): a recovery code signs in.
      form: { csrf: inputValue(wrong.body, 'csrf'), method: 'recovery', code: recoveryCodes[0]! },
      headers: { 'user-agent': USER_AGENT },
    });
    expect(right.status).toBe(303);
    await eventLine('login.success', right.headers.get('x-request-id')!, user.id);
  });

  test('when a signed-in user logs out (RP-initiated), then a sign-out line names the user, client, IP, user agent and request id', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const request = await authRequest(config);
    const tokens = await exchange(config, await signIn(browser, app, request, user.email), request);
    const page = await browser.request(`${app.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI })}`, {
      headers: { accept: 'text/html', 'user-agent': USER_AGENT },
    });
    const done = await browser.request(new URL(formAction(page.body, '/session/end/confirm'), app.issuer).toString(), {
      form: { xsrf: inputValue(page.body, 'xsrf'), logout: 'yes' },
      headers: { 'user-agent': USER_AGENT },
    });
    expect(done.location).toBe(POST_LOGOUT_URI);
    const requestId = done.headers.get('x-request-id')!;
    const lines = await waitForLog(app, (line) => line['requestId'] === requestId && typeof line['event'] === 'string' && /end_session|logout/.test(String(line['event'])));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual(expect.objectContaining({
      time: expect.stringMatching(ISO_UTC),
      clientId: client.clientId,
      ip: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$/),
      requestId,
      userId: user.id,
      userAgent: USER_AGENT,
    }));
  });

  test('when the admin API lists the audit trail, then login.success, login.failure and login.locked rows carry IP, user agent and request id of the logged lines', async () => {
    const user = await createUser(app);
    const success = await attemptLogin(app, config, user.email, PASSWORD);
    const failure = await attemptLogin(app, config, user.email, WRONG_PASSWORD);
    for (const [action, attempt, actor] of [['login.success', success, { type: 'user', id: user.id }], ['login.failure', failure, { type: 'anonymous' }]] as const) {
      const listed = await adminRequest(app, token, 'GET', `/audit-events?action=${action}&target_id=${user.id}`);
      expect(listed.status).toBe(200);
      const rows = (listed.body.items as Array<Record<string, any>>).filter((row) => row['request_id'] === attempt.requestId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toEqual(expect.objectContaining({
        action,
        occurred_at: expect.stringMatching(ISO_UTC),
        actor: expect.objectContaining({ ...actor, ip: expect.stringMatching(/127\.0\.0\.1$/), user_agent: USER_AGENT }),
        target: { type: 'user', id: user.id },
      }));
      expect(JSON.stringify(rows)).not.toContain(PASSWORD);
      expect(JSON.stringify(rows)).not.toContain(WRONG_PASSWORD);
    }
    const locked = await adminRequest(app, token, 'GET', '/audit-events?action=login.locked');
    expect(locked.body.items.length).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------
describe('K2 every refused or revoked protocol action is a security log line', () => {
  let app: TestApp;
  let client: RegisteredClient;
  let config: oidc.Configuration;

  beforeAll(async () => {
    app = await startApp({ env: { LOG_LEVEL: 'debug', LOGIN_LOCKOUT_THRESHOLD: '2' } });
    client = await registerClient(app, { client_name: 'K2 app', first_party: true, grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access' });
    config = await relyingParty(app, client);
  });

  afterAll(async () => {
    await app.destroy();
  });

  /** A code for `client` from a real sign-in, with its PKCE verifier. */
  async function freshCode(scope = 'openid') {
    const user = await createUser(app);
    const request = await authRequest(config, { scope, ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}) });
    const callback = await signIn(new Browser(), app, request, user.email);
    return { user, code: callback.searchParams.get('code')!, verifier: request.verifier };
  }

  function tokenCall(form: Record<string, string>, credentials: [string, string] = [client.clientId, client.clientSecret!]) {
    return call(`${app.origin}/token`, { form, basic: credentials });
  }

  /** The warn-or-worse lines with an event for the request the reply answered. */
  async function securityLines(reply: { headers: Headers }): Promise<LogLine[]> {
    const requestId = reply.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    return waitForLog(app, (line) => line['requestId'] === requestId && line.level >= WARN && typeof line['event'] === 'string');
  }

  test('when an authorization code is redeemed a second time, then invalid_grant, and a warn line (invalid_grant) and a grant.revoked line are logged', async () => {
    const { code, verifier } = await freshCode();
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
    expect((await tokenCall(form)).status).toBe(200);
    const reuse = await tokenCall(form);
    expect(reuse.body?.['error']).toBe('invalid_grant');
    const lines = await securityLines(reuse);
    expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ error: 'invalid_grant', clientId: client.clientId })]));
    const revoked = await waitForLog(app, (line) => line['event'] === 'grant.revoked' && line['requestId'] === reuse.headers.get('x-request-id'));
    expect(revoked.length).toBeGreaterThan(0);
  });

  test('when a rotated refresh token is used again, then invalid_grant, and a warn line and a grant.revoked line are logged', async () => {
    const { code, verifier } = await freshCode('openid offline_access');
    const first = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
    const refreshToken = String(first.body?.['refresh_token']);
    expect(refreshToken.length).toBeGreaterThan(20);
    expect((await tokenCall({ grant_type: 'refresh_token', refresh_token: refreshToken })).status).toBe(200);
    const reuse = await tokenCall({ grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(reuse.body?.['error']).toBe('invalid_grant');
    expect(await securityLines(reuse)).toEqual(expect.arrayContaining([expect.objectContaining({ error: 'invalid_grant', clientId: client.clientId })]));
    const revoked = await waitForLog(app, (line) => line['event'] === 'grant.revoked' && line['requestId'] === reuse.headers.get('x-request-id'));
    expect(revoked.length).toBeGreaterThan(0);
  });

  test('when the PKCE verifier does not match, then invalid_grant and a warn line saying why', async () => {
    const { code } = await freshCode();
    const reply = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: 'x'.repeat(43) });
    expect(reply.body?.['error']).toBe('invalid_grant');
    const lines = await securityLines(reply);
    expect(lines).toEqual([expect.objectContaining({ error: 'invalid_grant', clientId: client.clientId })]);
    expect(JSON.stringify(lines[0])).toMatch(/PKCE|code_verifier/i);
  });

  test('when a client authenticates with a wrong secret, then 401 invalid_client and a warn line naming the client id', async () => {
    const reply = await tokenCall({ grant_type: 'client_credentials' }, [client.clientId, 'not-the-secret-at-all-0123456789']);
    expect(reply.status).toBe(401);
    expect(await securityLines(reply)).toEqual([expect.objectContaining({ error: 'invalid_client' })]);
  });

  test('when a client goes over TOKEN_RATE_LIMIT (3 a minute), then 429 and a warn line for the refusal', async () => {
    const limited = await startApp({ env: { LOG_LEVEL: 'debug', TOKEN_RATE_LIMIT: '3' } });
    try {
    const service = await createAdminClient(limited, 'none');
    let last: Awaited<ReturnType<typeof clientCredentialsToken>> | undefined;
    let refused: Response | undefined;
    for (let i = 0; i < 6 && !refused; i += 1) {
      const response = await fetch(`${limited.origin}/token`, {
        method: 'POST',
        headers: { authorization: basicHeader(service.clientId, service.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      if (response.status === 429) refused = response;
      else last = { status: response.status, body: (await response.json()) as never };
    }
    expect(last).toBeDefined();
    expect(refused?.status).toBe(429);
    const requestId = refused!.headers.get('x-request-id');
    const lines = await waitForLog(limited, (line) => line['requestId'] === requestId && line.level >= WARN && typeof line['event'] === 'string');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).toMatch(/too_many_requests|rate/i);
    } finally {
      await limited.destroy();
    }
  });

  test('when one address goes over LOGIN_RATE_LIMIT (sign-in form) or AUTHORIZATION_RATE_LIMIT (/auth), then 429 and a warn line for each refusal', async () => {
    const limited = await startApp({ env: { LOG_LEVEL: 'debug', LOGIN_RATE_LIMIT: '2', AUTHORIZATION_RATE_LIMIT: '4' } });
    try {
      const limitedConfig = await relyingParty(limited, await registerClient(limited, { client_name: 'K2 limited', first_party: true }));
      const user = await createUser(limited);
      const logins: Hop[] = [];
      const browser = new Browser();
      const page = await browser.follow((await authRequest(limitedConfig, { scope: 'openid' })).url.toString(), limited.issuer);
      const action = new URL(formAction(page.body, '/login'), limited.issuer).toString();
      for (let i = 0; i < 3; i += 1) logins.push(await browser.request(action, { form: { csrf: inputValue(page.body, 'csrf'), login: user.email, password: WRONG_PASSWORD } }));
      const loginRefused = logins.find((hop) => hop.status === 429);
      expect(loginRefused).toBeDefined();
      let authRefused: Hop | undefined;
      for (let i = 0; i < 6 && !authRefused; i += 1) {
        const hop = await new Browser().request((await authRequest(limitedConfig, { scope: 'openid' })).url.toString());
        if (hop.status === 429) authRefused = hop;
      }
      expect(authRefused).toBeDefined();
      const logged = async (hop: Hop) => {
        const requestId = hop.headers.get('x-request-id');
        return (await waitForLog(limited, (line) => line['requestId'] === requestId && line.level >= WARN && typeof line['event'] === 'string', 1000)).length;
      };
      expect({ login: await logged(loginRefused!), authorization: await logged(authRefused!) }).toEqual({ login: 1, authorization: 1 });
    } finally {
      await limited.destroy();
    }
  });

  test('when an account name reaches the lockout threshold, then a login.locked warn line is logged', async () => {
    const user = await createUser(app);
    await attemptLogin(app, config, user.email, WRONG_PASSWORD);
    const second = await attemptLogin(app, config, user.email, WRONG_PASSWORD);
    const lines = await securityLines(second.answer);
    expect(lines.map((line) => line['event'])).toEqual(expect.arrayContaining(['login.failure', 'login.locked']));
  });

  test('when a private_key_jwt client assertion is signed with a key the client did not register, then 401 invalid_client and a warn line about the signature', async () => {
    const registered = await generateKeyPair('ES256', { extractable: true });
    const foreign = await generateKeyPair('ES256');
    const publicJwk = { ...(await exportJWK(registered.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const pk = await registerClient(app, {
      client_name: 'K2 private_key_jwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] },
      grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [],
    });
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ iss: pk.clientId, sub: pk.clientId, aud: `${app.issuer}/token`, jti: randomUUID(), iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(foreign.privateKey);
    const reply = await call(`${app.origin}/token`, {
      form: { grant_type: 'client_credentials', client_id: pk.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion },
    });
    expect(reply.status).toBe(401);
    const lines = await securityLines(reply);
    expect(lines).toEqual([expect.objectContaining({ error: 'invalid_client', clientId: pk.clientId })]);
    expect(JSON.stringify(lines[0])).toMatch(/signature|verif/i);
    expect(JSON.stringify(lines)).not.toContain(assertion);
  });

  test('when the end-session endpoint gets an id_token_hint signed by a foreign key, then it is refused and a warn line is logged', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const request = await authRequest(config, { scope: 'openid' });
    const tokens = await exchange(config, await signIn(browser, app, request, user.email), request);
    const [header, payload] = tokens.id_token!.split('.') as [string, string];
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>)
      .setProtectedHeader(JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg: string })
      .sign(privateKey);
    const hop = await browser.request(`${app.issuer}/session/end?${new URLSearchParams({ id_token_hint: forged, post_logout_redirect_uri: POST_LOGOUT_URI })}`, { headers: { accept: 'text/html' } });
    expect(hop.status).toBeGreaterThanOrEqual(400);
    expect(hop.location).toBeUndefined();
    const lines = await securityLines(hop);
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(forged);
  });
});

// ---------------------------------------------------------------------------------------
describe('K4 no secret the flows issue or use ever reaches the log (debug level)', () => {
  let mail: MailServer;
  let app: TestApp;
  const secrets = new Map<string, string>();
  const keep = (what: string, value: string | undefined) => {
    if (!value) throw new Error(`no ${what} to keep`);
    secrets.set(what, value);
  };

  beforeAll(async () => {
    mail = await startMailServer();
    app = await startApp({ env: { LOG_LEVEL: 'debug', SMTP_URL: mail.url } });
    keep('SMTP password', decodeURIComponent(new URL(mail.url).password));
  });

  afterAll(async () => {
    await app.destroy();
    await mail.close();
  });

  test('when code flow with PKCE and refresh, client credentials, introspection, revocation, userinfo, failed logins, logout, admin calls, password reset and MFA have run, then no secret value appears in the log', async () => {
    const admin = await createAdminClient(app);
    keep('admin client secret', admin.clientSecret);
    const adminAccess = (await clientCredentialsToken(app, admin)).body.access_token;
    keep('admin access token', adminAccess);

    // Users and a client through the admin API.
    const userPassword = `K4 pass ${randomUUID()}`;
    keep('user password', userPassword);
    const created = await adminRequest(app, adminAccess, 'POST', '/users', { email: `k4.${Date.now()}@example.com`, password: userPassword, name: 'K4 User', email_verified: true });
    expect(created.status).toBe(201);
    const email = created.body.email as string;
    const clientCreated = await adminRequest(app, adminAccess, 'POST', '/clients', {
      client_name: 'K4 app', redirect_uris: [REDIRECT_URI], post_logout_redirect_uris: [POST_LOGOUT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], scope: 'openid email offline_access', first_party: true,
    });
    expect(clientCreated.status).toBe(201);
    const client = { clientId: clientCreated.body.client.client_id as string, clientSecret: clientCreated.body.client_secret as string };
    keep('client secret', client.clientSecret);
    const rotated = await adminRequest(app, adminAccess, 'POST', `/clients/${client.clientId}/secret`, { grace_period_seconds: 60 });
    expect(rotated.status).toBe(200);
    keep('rotated client secret', rotated.body.client_secret);
    const config = await relyingParty(app, client);

    // Failed logins: a wrong password and an unknown name.
    const wrongPassword = `K4 wrong ${randomUUID()}`;
    keep('wrong password', wrongPassword);
    expect((await attemptLogin(app, config, email, wrongPassword)).answer.status).toBe(400);
    expect((await attemptLogin(app, config, `nobody.${Date.now()}@example.com`, wrongPassword)).answer.status).toBe(400);

    // Code flow with PKCE, refresh, userinfo, introspection, revocation.
    const browser = new Browser();
    const request = await authRequest(config, { scope: 'openid email offline_access', prompt: 'consent' });
    const callback = await signIn(browser, app, request, email, { password: userPassword });
    keep('authorization code', callback.searchParams.get('code')!);
    keep('PKCE verifier', request.verifier);
    keep('session cookie', (await sessionCookies(browser, app)).find((cookie) => !cookie.key.endsWith('.sig'))?.value);
    const tokens = await exchange(config, callback, request);
    keep('access token', tokens.access_token);
    keep('refresh token', tokens.refresh_token);
    keep('ID token', tokens.id_token);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    keep('rotated refresh token', refreshed.refresh_token);
    keep('refreshed access token', refreshed.access_token);
    await oidc.fetchUserInfo(config, refreshed.access_token, tokens.claims()!.sub);
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(true);
    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    const service = await oidc.clientCredentialsGrant(config, {});
    keep('client credentials token', service.access_token);

    // Logout.
    const page = await browser.request(`${app.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token! })}`, { headers: { accept: 'text/html' } });
    const xsrf = inputValue(page.body, 'xsrf');
    await browser.follow(new URL(formAction(page.body, '/session/end/confirm'), app.issuer).toString(), app.issuer, { form: { xsrf, logout: 'yes' } });

    // Password reset by mail.
    const recovery = new Browser();
    const forgot = await recovery.request(`${app.issuer}/password/forgot`);
    await recovery.request(`${app.issuer}/password/forgot`, { form: { csrf: inputValue(forgot.body, 'csrf'), email } });
    const { link, token } = linkIn(await mail.waitFor(email), app.issuer, '/password/reset');
    keep('password reset token', token);
    const resetPage = await recovery.request(link);
    const newPassword = `K4 new ${randomUUID()}`;
    keep('new password', newPassword);
    const reset = await recovery.request(`${app.issuer}/password/reset`, {
      form: { csrf: inputValue(resetPage.body, 'csrf'), token: inputValue(resetPage.body, 'token'), password: newPassword, confirm: newPassword },
    });
    expect(reset.status).toBe(200);

    // An authenticator app, a code and a recovery code.
    const account = new Browser();
    await openAccount(account, app, email, newPassword);
    const enrolled = await enrolTotp(account, app);
    keep('TOTP seed', enrolled.secret);
    enrolled.recoveryCodes.forEach((code, index) => keep(`recovery code ${index + 1}`, code));
    const mfaLogin = await attemptLogin(app, config, email, newPassword);
    const codePage = await mfaLogin.browser.follow(mfaLogin.answer.location!, app.issuer);
    // The code the enrolment just confirmed with (six digits: checked below as a field value only).
    const code = totpCode(enrolled.secret);
    const done = await mfaLogin.browser.follow(new URL(formAction(codePage.body, '/mfa'), app.issuer).toString(), app.issuer, {
      form: { csrf: inputValue(codePage.body, 'csrf'), method: 'recovery', code: enrolled.recoveryCodes[0]! },
    });
    expect(done.location?.startsWith(REDIRECT_URI)).toBe(true);

    const log = await readLogText(app);
    expect(log.split('\n').length).toBeGreaterThan(50);
    const found = [...secrets].filter(([, value]) => log.includes(value) || log.includes(encodeURIComponent(value)));
    expect(found.map(([what]) => what)).toEqual([]);
    // A TOTP code is six digits and may appear by chance in a number; it must never appear as a field value.
    expect(log).not.toMatch(new RegExp(`"${code}"`));
  }, 120_000);
});

// ---------------------------------------------------------------------------------------
describe('K5 CR/LF, ANSI escapes and JSON in user input never break or forge a log line', () => {
  let app: TestApp;
  let config: oidc.Configuration;

  beforeAll(async () => {
    app = await startApp({ env: { LOG_LEVEL: 'debug' } });
    config = await relyingParty(app, await registerClient(app, { client_name: 'K5 app', first_party: true }));
  });

  afterAll(async () => {
    await app.destroy();
  });

  /** A request written byte for byte, so header values can carry what fetch refuses to send. */
  function rawHttp(lines: string[]): Promise<string> {
    const url = new URL(app.origin);
    return new Promise((resolve) => {
      const socket = net.connect(Number(url.port), url.hostname, () => socket.end(`${lines.join('\r\n')}\r\n\r\n`));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('close', () => resolve(answer));
      socket.on('error', () => resolve(answer));
    });
  }

  test('when a login is posted with username a\\r\\n{"event":"admin_login"} (and ANSI escapes), and a user agent full of JSON metacharacters, then every log line is one JSON object and none has event admin_login', async () => {
    const user = await createUser(app);
    const forgedName = 'a\r\n{"event":"admin_login","level":30,"msg":"admin signed in"}\u001b[31m\u001b[2K\u001b[1A';
    const jsonAgent = 'Mozilla/5.0 {"event":"admin_login"} \\" }\\n ] , "level": 60';
    const attempt = await attemptLogin(app, config, forgedName, 'whatever password here', jsonAgent);
    expect(attempt.answer.status).toBe(400);
    const realUser = await attemptLogin(app, config, user.email, 'wrong password\r\n{"event":"admin_login"}\u001b[0m', jsonAgent);
    expect(realUser.answer.status).toBe(400);
    // The same in the state and client_id of an authorization request.
    await call(`${app.issuer}/auth?${new URLSearchParams({ client_id: 'x\r\n{"event":"admin_login"}\u001b[31m', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 's\r\n{"event":"admin_login"}\u001b[31m' })}`, { headers: { 'user-agent': jsonAgent } });

    await waitForLog(app, (line) => line['requestId'] === realUser.requestId && line['event'] === 'login.failure');
    const text = await readLogText(app);
    const rawLines = text.split('\n').filter(Boolean);
    const parsed = await readLog(app);
    expect(parsed).toHaveLength(rawLines.length);
    for (const line of parsed) expect(line !== null && typeof line === 'object' && !Array.isArray(line)).toBe(true);
    expect(parsed.filter((line) => line['event'] === 'admin_login')).toEqual([]);
    expect(parsed.filter((line) => line.msg === 'admin signed in' || line.level === 60)).toEqual([]);
    // No raw control character reaches the file: ESC and CR only ever appear escaped.
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    // The user agent was logged as the value of its field, intact.
    const failure = parsed.find((line) => line['requestId'] === realUser.requestId && line['event'] === 'login.failure');
    expect(failure?.['userAgent']).toBe(jsonAgent);
  });

  test('when raw requests carry CR/LF (folded or bare) or ANSI escapes inside header values (user agent, request id), then they are refused with 400 and the log stays one JSON object per line', async () => {
    const host = new URL(app.origin).host;
    const answers = [
      await rawHttp(['GET /.well-known/openid-configuration HTTP/1.1', `Host: ${host}`, 'User-Agent: a', ' {"event":"admin_login"}', 'Connection: close']),
      await rawHttp(['GET /jwks HTTP/1.1', `Host: ${host}`, 'User-Agent: a\n{"event":"admin_login"}', 'Connection: close']),
      await rawHttp(['GET /healthz HTTP/1.1', `Host: ${host}`, 'User-Agent: \u001b[31m{"event":"admin_login"}\u001b[0m', 'Connection: close']),
      await rawHttp(['GET /healthz HTTP/1.1', `Host: ${host}`, 'X-Request-Id: abcdefgh\u001b[31m', 'Connection: close']),
    ];
    expect(answers.map((answer) => answer.split('\r\n')[0])).toEqual(answers.map(() => 'HTTP/1.1 400 Bad Request'));
    const parsed = await readLog(app);
    expect(parsed.filter((line) => line['event'] === 'admin_login')).toEqual([]);
    expect(await readLogText(app)).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });
});

// ---------------------------------------------------------------------------------------
describe('K6 an unexpected error is logged with its stack and the request id the client is shown', () => {
  let app: TestApp;
  let config: oidc.Configuration;
  let token: string;

  beforeAll(async () => {
    app = await startApp({ env: { LOG_LEVEL: 'debug' } });
    config = await relyingParty(app, await registerClient(app, { client_name: 'K6 app', first_party: true }));
    token = await adminToken(app);
  });

  afterAll(async () => {
    await app.destroy();
  });

  /** Replaces `service.method` with one that throws a marked error for the duration of `run`. */
  async function withFault<T>(service: object, method: string, marker: string, run: () => Promise<T>): Promise<T> {
    const target = service as Record<string, unknown>;
    const original = target[method];
    target[method] = async () => {
      throw new Error(`forced fault ${marker}`);
    };
    try {
      return await run();
    } finally {
      target[method] = original;
    }
  }

  /** The answer shows only a generic message and its request id; the log has the error, its stack and that id. */
  async function expectGenericAndLogged(answer: { status: number; headers: Headers; body: string }, marker: string) {
    expect(answer.status).toBe(500);
    const requestId = answer.headers.get('x-request-id')!;
    expect(requestId).toBeTruthy();
    expect(answer.body).toContain(requestId);
    expect(answer.body).not.toContain(marker);
    expect(answer.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.[jt]s:\d+|\bError\b|\bstack\b/);
    const lines = await waitForLog(app, (line) => line.level >= ERROR && JSON.stringify(line).includes(marker));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.map((line) => ({ requestId: line['requestId'], hasStack: /forced fault .*\n\s+at /.test(String((line['err'] as { stack?: unknown } | undefined)?.stack ?? '')) })))
      .toEqual(lines.map(() => ({ requestId, hasStack: true })));
  }

  test('when an admin API route meets an unexpected error, then a generic problem with the request id, and the log has the stack and the same id', async () => {
    const marker = `K6-admin-${randomUUID()}`;
    const answer = await withFault(app.app.services.accounts, 'listUsers', marker, () => adminRequest(app, token, 'GET', '/users'));
    expect(answer.body).toEqual(expect.objectContaining({ status: 500, request_id: answer.headers.get('x-request-id') }));
    await expectGenericAndLogged({ status: answer.status, headers: answer.headers, body: answer.text }, marker);
  });

  test('when the account page meets an unexpected error, then a generic page with the request id, and the log has the stack and the same id', async () => {
    const user = await createUser(app);
    const browser = new Browser();
    await openAccount(browser, app, user.email);
    const marker = `K6-account-${randomUUID()}`;
    const page = await withFault(app.app.services.mfa, 'status', marker, () => browser.request(`${app.issuer}/account`));
    await expectGenericAndLogged(page, marker);
  });

  test('when the sign-in form meets an unexpected error, then a generic page with the request id, and the log has the stack and the same id', async () => {
    const user = await createUser(app);
    const marker = `K6-login-${randomUUID()}`;
    const attempt = await withFault(app.app.services.accounts, 'authenticate', marker, () => attemptLogin(app, config, user.email, PASSWORD));
    await expectGenericAndLogged(attempt.answer, marker);
  });

  test('when the password-reset page meets an unexpected error, then a generic page with the request id, and the log has the stack and the same id', async () => {
    const marker = `K6-reset-${randomUUID()}`;
    const page = await withFault(app.app.services.userTokens, 'check', marker, () => new Browser().request(`${app.issuer}/password/reset?token=${'a'.repeat(43)}`));
    await expectGenericAndLogged(page, marker);
  });
});
