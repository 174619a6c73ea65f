// Device authorization grant (RFC 8628), end to end: a "TV" (openid-client's
// initiateDeviceAuthorization / pollDeviceAuthorizationGrant) asks for a code; a second
// HTTP session (the scripted browser, on the person's phone) enters the user code at
// /device, signs in and consents on the usual pages; the TV's polling gets the tokens.
// Polling errors, friendly pages for wrong codes, the admin API and the per-IP limit on
// user-code entry are checked over HTTP too.
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { formAction, inputValue, type Hop } from '../helpers/browser.js';
import { Browser, createUser, oidc, registerClient, relyingParty, submitConsent, submitLogin, type RegisteredClient } from '../helpers/oidc.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const USER_CODE_LIMIT = 40;

let app: TestApp;
let user: Awaited<ReturnType<typeof createUser>>;
let device: RegisteredClient;
let config: oidc.Configuration;

async function deviceClient(target: TestApp, input: Record<string, unknown> = {}): Promise<RegisteredClient> {
  return registerClient(target, {
    client_name: 'Living-room TV',
    redirect_uris: [],
    post_logout_redirect_uris: [],
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    token_endpoint_auth_method: 'none',
    ...input,
  });
}

/** One poll at the token endpoint, by hand, to see each answer. */
async function poll(target: TestApp, client: RegisteredClient, deviceCode: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${target.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: client.clientId }),
  });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

/** The user-code page, then the code entered; returns the answer to the entry. */
async function enterCode(target: TestApp, browser: Browser, userCode: string): Promise<Hop> {
  const page = await browser.request(`${target.issuer}/device`);
  expect(page.status).toBe(200);
  return browser.request(new URL(formAction(page.body, '/device'), target.issuer).toString(), {
    form: { xsrf: inputValue(page.body, 'xsrf'), user_code: userCode },
  });
}

/** Enter the code, confirm it, sign in, decide on consent; returns the last page. */
async function approveOnPhone(target: TestApp, userCode: string, decision: 'confirm' | 'abort' = 'confirm', email = user.email): Promise<Hop> {
  const browser = new Browser();
  const confirmPage = await enterCode(target, browser, userCode);
  expect(confirmPage.status).toBe(200);
  expect(confirmPage.body).toContain(userCode);
  let hop = await browser.follow(new URL(formAction(confirmPage.body, '/device'), target.issuer).toString(), target.issuer, {
    form: { xsrf: inputValue(confirmPage.body, 'xsrf'), user_code: inputValue(confirmPage.body, 'user_code'), confirm: 'yes' },
  });
  expect(hop.body).toContain('/login"');
  hop = await submitLogin(browser, target, hop, email);
  expect(hop.body).toContain('/confirm"');
  return submitConsent(browser, target, hop, decision);
}

beforeAll(async () => {
  app = await startApp({ env: { DEVICE_USER_CODE_RATE_LIMIT: String(USER_CODE_LIMIT) } });
  user = await createUser(app, { name: 'Ada' });
  device = await deviceClient(app);
  config = await relyingParty(app, device);
});

afterAll(async () => {
  await app?.destroy();
});

describe('RFC 8628 device authorization grant', () => {
  test('when discovery is read, then the device endpoint and grant type are advertised', async () => {
    const metadata = await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata['device_authorization_endpoint']).toBe(`${app.issuer}/device/auth`);
    expect(metadata['grant_types_supported']).toContain(DEVICE_GRANT);
  });

  test('when a person enters the code on a second device, signs in and consents, then the polling device gets tokens', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri).toBe(`${app.issuer}/device`);

    const before = await poll(app, device, started.device_code);
    expect(before).toEqual({ status: 400, body: expect.objectContaining({ error: 'authorization_pending' }) });

    const done = await approveOnPhone(app, started.user_code);
    expect(done.status).toBe(200);
    expect(done.body).toContain('Device connected');
    expect(done.body).toContain('Living-room TV');
    expect(done.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(done.headers.get('cache-control')).toBe('no-store');

    const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
    expect(tokens.claims()?.sub).toBe(user.id);
    expect(tokens.claims()?.['name']).toBe('Ada');
    expect(typeof tokens.access_token).toBe('string');
    expect(typeof tokens.refresh_token).toBe('string');

    // The device code is single-use.
    const again = await poll(app, device, started.device_code);
    expect(again).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
  }, 60_000);

  test('when the device polls again at once, then slow_down; after the interval, authorization_pending again', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    expect((await poll(app, device, started.device_code)).body['error']).toBe('authorization_pending');
    expect(await poll(app, device, started.device_code)).toEqual({ status: 400, body: expect.objectContaining({ error: 'slow_down' }) });
    await new Promise((resolve) => setTimeout(resolve, 5_200));
    expect((await poll(app, device, started.device_code)).body['error']).toBe('authorization_pending');
  }, 30_000);

  test('when the person denies access on the consent page, then the device gets access_denied and the page says so', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile' });
    // Someone who has not consented to this client before, so the consent page is shown.
    const other = await createUser(app);
    const denied = await approveOnPhone(app, started.user_code, 'abort', other.email);
    expect(denied.status).toBe(200);
    expect(denied.body).toMatch(/cancelled|denied/);
    expect(denied.body).not.toContain('Device connected');
    await expect(oidc.pollDeviceAuthorizationGrant(config, started)).rejects.toMatchObject({ error: 'access_denied' });
  }, 60_000);

  test('when the person cancels on the code confirmation page, then the device gets access_denied', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const browser = new Browser();
    const confirmPage = await enterCode(app, browser, started.user_code);
    const cancelled = await browser.request(new URL(formAction(confirmPage.body, '/device'), app.issuer).toString(), {
      form: { xsrf: inputValue(confirmPage.body, 'xsrf'), user_code: inputValue(confirmPage.body, 'user_code'), abort: 'yes' },
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toContain('The sign-in was cancelled');
    expect(await poll(app, device, started.device_code)).toEqual({ status: 400, body: expect.objectContaining({ error: 'access_denied' }) });
  });

  test('when a wrong user code is entered, then a friendly page asks again, with a labelled input and the code kept', async () => {
    const hop = await enterCode(app, new Browser(), 'BCDF-GHJK');
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('That code is not valid');
    expect(hop.body).toContain('role="alert"');
    expect(hop.body).toMatch(/<label for="user_code">/);
    expect(hop.body).toMatch(/id="user_code" name="user_code"[^>]*value="BCDF-GHJK"/);
    expect(hop.body).not.toMatch(/<script/);
    expect(hop.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
  });

  test('when the code is entered in lower case without the dash, then it is accepted', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const hop = await enterCode(app, new Browser(), started.user_code.replace('-', '').toLowerCase());
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('Check that your device shows this code');
    expect(hop.body).toContain(started.user_code);
  });

  test('when the form comes without its anti-forgery value, then it is refused with a page, never a 500', async () => {
    const browser = new Browser();
    await browser.request(`${app.issuer}/device`);
    const hop = await browser.request(`${app.issuer}/device`, { form: { xsrf: 'forged', user_code: 'BCDF-GHJK' } });
    expect(hop.status).toBe(400);
    expect(hop.body).toContain('This form has expired');
    expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  });

  test('when a client without the device grant asks for a device code, then unauthorized_client', async () => {
    const webApp = await registerClient(app, { token_endpoint_auth_method: 'none' });
    const response = await fetch(`${app.issuer}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: webApp.clientId, scope: 'openid' }),
    });
    expect(response.status).toBe(400);
    expect((await response.json() as { error: string }).error).toMatch(/^(unauthorized_client|invalid_request)$/);
  });
});

describe('device clients through the admin API', () => {
  test('when an admin creates a public device client without redirect URIs, then it is stored with the grant and documented', async () => {
    const token = await adminToken(app);
    const created = await adminRequest(app, token, 'POST', '/clients', {
      client_name: 'CLI', grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none',
    });
    expect(created.status).toBe(201);
    expect(created.body.client.grant_types).toEqual([DEVICE_GRANT]);
    expect(created.body.client_secret).toBeUndefined();
    const spec = await adminRequest(app, token, 'GET', '/openapi.json');
    expect(JSON.stringify(spec.body)).toContain(DEVICE_GRANT);
  });

  test('when a device client asks for refresh_token, then it is allowed; refresh_token alone is still refused', async () => {
    const token = await adminToken(app);
    const alone = await adminRequest(app, token, 'POST', '/clients', { client_name: 'x', grant_types: ['refresh_token'], token_endpoint_auth_method: 'none' });
    expect(alone.status).toBe(400);
    const withDevice = await adminRequest(app, token, 'POST', '/clients', {
      client_name: 'x', grant_types: [DEVICE_GRANT, 'refresh_token'], token_endpoint_auth_method: 'none',
    });
    expect(withDevice.status).toBe(201);
  });
});

describe('expired device codes', () => {
  let shortLived: TestApp;
  let client: RegisteredClient;

  beforeAll(async () => {
    shortLived = await startApp({ env: { DEVICE_CODE_TTL: '2' } });
    client = await deviceClient(shortLived);
  });

  afterAll(async () => {
    await shortLived?.destroy();
  });

  test('when the device code has expired, then polling gets expired_token and the person is told the code expired', async () => {
    const rp = await relyingParty(shortLived, client);
    const started = await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' });
    expect(started.expires_in).toBeLessThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await poll(shortLived, client, started.device_code)).toEqual({ status: 400, body: expect.objectContaining({ error: 'expired_token' }) });
    const hop = await enterCode(shortLived, new Browser(), started.user_code);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('That code has expired');
  }, 30_000);
});

describe('rate limit on user-code entry (guessing codes)', () => {
  test('when one address keeps entering codes, then it gets a 429 page with Retry-After', async () => {
    const browser = new Browser();
    let hop: Hop | undefined;
    for (let i = 0; i <= USER_CODE_LIMIT && hop?.status !== 429; i += 1) hop = await enterCode(app, browser, 'BCDF-GHJK');
    expect(hop?.status).toBe(429);
    expect(Number(hop?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(hop?.body).toContain('Too many attempts');
    expect(hop?.headers.get('content-type')).toMatch(/^text\/html/);
  }, 60_000);
});
