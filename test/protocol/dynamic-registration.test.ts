// Dynamic client registration (RFC 7591) and its management (RFC 7592) at /reg, black-box
// over HTTP against the real app: checklist C7 (gated by an initial access token an
// administrator issues through /admin/registration-tokens), Gatehouse's registration
// policy (the C1/C4/C8 rules plus nothing only an administrator may grant), how a
// self-registered client looks in the admin API and the audit trail, and a real sign-in
// by such a client with openid-client through the login and consent pages.
import { randomBytes } from 'node:crypto';
import { startApp, type TestApp } from '../helpers/app.js';
import { adminRequest, adminToken, type AdminResponse } from '../helpers/admin.js';
import { Browser } from '../helpers/browser.js';
import { call as httpCall, collectKeys, expectStatus, type CallInit, type Reply as HttpReply } from '../helpers/http.js';
import {
  REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, submitConsent, submitLogin,
  type RegisteredClient,
} from '../helpers/oidc.js';

// ---------------------------------------------------------------------------------------
// HTTP plumbing

/** Bodies here are read field by field, deep into the JSON: typed loosely on purpose. */
type Reply = HttpReply<Record<string, any>>;

const call = (url: string, init?: CallInit): Promise<Reply> => httpCall<Record<string, any>>(url, init);

/** An RFC 6750 §3 refusal of a bearer token: 401, invalid_token, a Bearer challenge. */
function expectInvalidToken(reply: Reply, options: { challengeNamesError: boolean }): void {
  expectStatus(reply, 401);
  expect(reply.body?.error).toBe('invalid_token');
  const challenge = reply.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(/^Bearer\b/);
  if (options.challengeNamesError) expect(challenge).toMatch(/error="invalid_token"/);
  expect(reply.headers.get('cache-control')).toMatch(/\bno-store\b/);
}

/** An RFC 7591 §3.2.2 error: 400, JSON, this error code. */
function expectRegistrationError(reply: Reply, errors: string[]): void {
  expectStatus(reply, 400);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(errors).toContain(reply.body?.error);
  expect(typeof reply.body?.error_description).toBe('string');
}

function expectOAuthError(reply: Reply, status: number, error: string): void {
  expectStatus(reply, status);
  expect(reply.body?.error).toBe(error);
}

/** Neither the secret's value nor any member named like a secret appears in an admin API answer. */
function expectNoSecret(response: AdminResponse, secret: string): void {
  expect(response.status).toBe(200);
  expect(response.text).not.toContain(secret);
  expect(collectKeys(response.body).filter((key) => /^(client_)?secret$/i.test(key))).toEqual([]);
}

const BASE64URL_SECRET = /^[A-Za-z0-9_-]{43,}$/;
const UNREVIEWED_NOTICE = 'This application registered itself and has not been reviewed by your administrator.';

// ---------------------------------------------------------------------------------------
// The Gatehouse under test

let app: TestApp;
let admin: string;
let user: { id: string; email: string };
let regEndpoint: string;

beforeAll(async () => {
  // Above the default, so the registrations of the tests before the burst test fit in one minute.
  app = await startApp({ env: { REGISTRATION_RATE_LIMIT: '100' } });
  admin = await adminToken(app);
  user = await createUser(app);
  const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as { registration_endpoint: string };
  regEndpoint = discovery.registration_endpoint;
});

afterAll(async () => {
  await app?.destroy();
});

interface InitialAccessToken {
  id: string;
  token: string;
  created_at: string | null;
  expires_at: string | null;
  policies: string[];
}

async function newIat(body: Record<string, unknown> = {}): Promise<InitialAccessToken> {
  const response = await adminRequest<InitialAccessToken>(app, admin, 'POST', '/registration-tokens', body);
  expectStatus(response, 201);
  return response.body;
}

function register(body: Record<string, unknown>, token: string | undefined): Promise<Reply> {
  return call(regEndpoint, { json: body, ...(token !== undefined ? { bearer: token } : {}) });
}

interface Registration {
  client_id: string;
  client_secret?: string;
  registration_access_token: string;
  registration_client_uri: string;
  [key: string]: unknown;
}

const webClient = (extra: Record<string, unknown> = {}) => ({ client_name: `Self-registered ${randomBytes(4).toString('hex')}`, redirect_uris: [REDIRECT_URI], ...extra });

/** A registration that must succeed. */
async function registered(iat: InitialAccessToken, body: Record<string, unknown> = webClient()): Promise<Registration> {
  const reply = await register(body, iat.token);
  expectStatus(reply, 201);
  return reply.body as Registration;
}

/** Every self-registered client id, through the admin API's paged listing. */
async function dynamicClientIds(): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: Record<string, string> = { dynamic: 'true', limit: '200', ...(cursor ? { cursor } : {}) };
    const page: AdminResponse<{ items: Array<{ client_id: string }>; next_cursor: string | null }> = await adminRequest(app, admin, 'GET', `/clients?${new URLSearchParams(query)}`);
    expect(page.status).toBe(200);
    ids.push(...page.body.items.map((item) => item.client_id));
    cursor = page.body.next_cursor;
  } while (cursor);
  return ids.sort();
}

interface AuditEvent {
  action: string;
  actor: { type: string; id: string };
  target: { type: string; id: string };
  after: unknown;
}

async function auditFor(targetId: string): Promise<{ response: AdminResponse; events: AuditEvent[] }> {
  const response = await adminRequest<{ items: AuditEvent[] }>(app, admin, 'GET', `/audit-events?${new URLSearchParams({ target_id: targetId, limit: '100' })}`);
  expect(response.status).toBe(200);
  return { response, events: response.body.items };
}

async function registerEventCount(): Promise<number> {
  const response = await adminRequest<{ items: unknown[] }>(app, admin, 'GET', `/audit-events?${new URLSearchParams({ action: 'client.register', limit: '200' })}`);
  expect(response.status).toBe(200);
  return response.body.items.length;
}

/** Runs `attempt` and checks it created no client and wrote no client.register event. */
async function expectNothingCreated(attempt: () => Promise<void>): Promise<void> {
  const [clientsBefore, eventsBefore] = [await dynamicClientIds(), await registerEventCount()];
  await attempt();
  expect(await dynamicClientIds()).toEqual(clientsBefore);
  expect(await registerEventCount()).toBe(eventsBefore);
}

const tokenEndpoint = () => `${app.issuer}/token`;
const introspectionEndpoint = () => `${app.issuer}/token/introspection`;

/** Whether the client authenticates: a probe at introspection (an unknown token is simply inactive). */
async function authenticates(clientId: string, secret: string): Promise<Reply> {
  return call(introspectionEndpoint(), { basic: [clientId, secret], form: { token: randomBytes(32).toString('base64url') } });
}

// ---------------------------------------------------------------------------------------

describe('C7 POST /reg is gated by an initial access token', () => {
  test('when POST /reg carries no token, then 401 invalid_token with a Bearer challenge and nothing is created', async () => {
    await expectNothingCreated(async () => {
      expectInvalidToken(await register(webClient(), undefined), { challengeNamesError: false });
    });
  });

  test('when POST /reg carries a made-up token, an admin API access token or a registration access token, then 401 invalid_token naming the error in WWW-Authenticate and nothing is created', async () => {
    const live = await registered(await newIat());
    await expectNothingCreated(async () => {
      for (const token of [randomBytes(32).toString('base64url'), 'garbage', admin, live.registration_access_token]) {
        expectInvalidToken(await register(webClient(), token), { challengeNamesError: true });
      }
    });
  });

  test('when POST /reg carries a valid initial access token, then 201 with a server-chosen client_id (a chosen one equal to a user\'s sub is ignored), a secret, a registration access token and the client\'s URI', async () => {
    const iat = await newIat();
    const reply = await register(webClient({ client_id: user.id }), iat.token);
    expect(reply.status).toBe(201);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(reply.headers.get('cache-control')).toMatch(/\bno-store\b/);
    const body = reply.body as Registration;
    expect(body.client_id).toMatch(/^[\w-]+$/);
    expect(body.client_id).not.toBe(user.id);
    expect(body.client_secret).toMatch(BASE64URL_SECRET);
    expect(body.registration_access_token).toMatch(/^[\w-]{20,}$/);
    expect(body.registration_client_uri).toBe(`${app.issuer}/reg/${body.client_id}`);
    expect(body.redirect_uris).toEqual([REDIRECT_URI]);
    expect((await adminRequest(app, admin, 'GET', `/clients/${user.id}`)).status).toBe(404);
    expect((await authenticates(body.client_id, body.client_secret!)).body).toEqual({ active: false });
  });

  test('when one initial access token registers several clients, then each succeeds with its own id and secret (oidc-provider does not consume it)', async () => {
    const iat = await newIat();
    const clients = [await registered(iat), await registered(iat), await registered(iat)];
    expect(new Set(clients.map((client) => client.client_id)).size).toBe(3);
    expect(new Set(clients.map((client) => client.client_secret)).size).toBe(3);
  });

  test('when the initial access token is revoked through the admin API, then POST /reg gets 401, the token is no longer listed and the revocation is audited; clients registered with it keep working', async () => {
    const iat = await newIat();
    const earlier = await registered(iat);
    const listed = await adminRequest<{ items: Array<{ id: string }> }>(app, admin, 'GET', '/registration-tokens');
    expect(listed.body.items.map((item) => item.id)).toContain(iat.id);
    expect(listed.text).not.toContain(iat.token);

    const revoked = await adminRequest(app, admin, 'DELETE', `/registration-tokens/${encodeURIComponent(iat.id)}`);
    expect(revoked.status).toBe(204);
    await expectNothingCreated(async () => {
      expectInvalidToken(await register(webClient(), iat.token), { challengeNamesError: true });
    });
    const after = await adminRequest<{ items: Array<{ id: string }> }>(app, admin, 'GET', '/registration-tokens');
    expect(after.body.items.map((item) => item.id)).not.toContain(iat.id);
    expect((await adminRequest(app, admin, 'DELETE', `/registration-tokens/${encodeURIComponent(iat.id)}`)).status).toBe(404);
    const { events } = await auditFor(iat.id);
    expect(events.map((event) => event.action)).toEqual(['registration_token.revoke', 'registration_token.create']);
    expect(JSON.stringify(events)).not.toContain(iat.token);

    expect((await authenticates(earlier.client_id, earlier.client_secret!)).body).toEqual({ active: false });
    expect((await call(earlier.registration_client_uri, { bearer: earlier.registration_access_token })).status).toBe(200);
  });

  test('when the initial access token has expired, then POST /reg gets 401 and nothing is created', async () => {
    const iat = await newIat({ expires_in: 60 });
    await registered(iat);
    // Waiting out the 60 s minimum is too slow: its stored expiry is moved into the past.
    const past = new Date(Date.now() - 1000);
    const row = await app.db.prisma.oidcPayload.findUniqueOrThrow({ where: { model_id: { model: 'InitialAccessToken', id: iat.id } } });
    await app.db.prisma.oidcPayload.update({
      where: { model_id: { model: 'InitialAccessToken', id: iat.id } },
      data: { expiresAt: past, payload: { ...(row.payload as Record<string, unknown>), exp: Math.floor(past.getTime() / 1000) } },
    });
    await expectNothingCreated(async () => {
      expectInvalidToken(await register(webClient(), iat.token), { challengeNamesError: true });
    });
  });

  test('when an initial access token is created, then the response says when it was created and when it expires', async () => {
    const before = Date.now();
    const iat = await newIat({ expires_in: 3600 });
    const after = Date.now();
    expect(iat.policies).toEqual(['gatehouse-dynamic']);
    expect(iat.created_at).not.toBeNull();
    expect(iat.expires_at).not.toBeNull();
    expect(Date.parse(iat.created_at!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(Date.parse(iat.created_at!)).toBeLessThanOrEqual(after);
    expect(Date.parse(iat.expires_at!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
    expect(Date.parse(iat.expires_at!)).toBeLessThanOrEqual(after + 3600_000 + 1000);
  });
});

describe('the registration policy applies to self-registered clients', () => {
  let iat: InitialAccessToken;

  beforeAll(async () => {
    iat = await newIat();
  });

  test.each([
    ['a fragment', 'https://a.example/cb#f'],
    ['plain http on a non-loopback host', 'http://a.example/cb'],
    ['the javascript: scheme', 'javascript:alert(1)'],
    ['a wildcard host', 'https://*.a.example/cb'],
    ['a custom scheme on a web client', 'com.example.app:/cb'],
  ])('when redirect_uris has %s, then 400 invalid_redirect_uri and nothing is created', async (_name, uri) => {
    await expectNothingCreated(async () => {
      expectRegistrationError(await register(webClient({ redirect_uris: [uri] }), iat.token), ['invalid_redirect_uri']);
    });
  });

  test('when a redirect URI is refused, then the error_description says what is wrong with it (not an authorization-time "did not match")', async () => {
    const reply = await register(webClient({ redirect_uris: ['https://a.example/cb#f'] }), iat.token);
    expectRegistrationError(reply, ['invalid_redirect_uri']);
    expect(reply.body?.error_description).not.toMatch(/did not match any of the client's registered redirect_uris/);
    expect(reply.body?.error_description).toMatch(/fragment/);
  });

  test('when post_logout_redirect_uris has a fragment or plain http, then 400 and nothing is created', async () => {
    await expectNothingCreated(async () => {
      for (const uri of ['https://a.example/out#f', 'http://a.example/out']) {
        expectRegistrationError(await register(webClient({ post_logout_redirect_uris: [uri] }), iat.token), ['invalid_redirect_uri', 'invalid_client_metadata']);
      }
    });
  });

  test('when a native client registers loopback and reverse-domain redirect URIs as a public client, then 201 with no secret (the rules refuse only what they must)', async () => {
    const reply = await register(webClient({
      application_type: 'native', token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'com.example.app:/oauth2redirect'],
    }), iat.token);
    expectStatus(reply, 201);
    expect(reply.body?.client_secret).toBeUndefined();
    expect(reply.body?.redirect_uris).toEqual(['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'com.example.app:/oauth2redirect']);
    expect((await adminRequest(app, admin, 'GET', `/clients/${reply.body?.client_id}`)).body).toMatchObject({ application_type: 'native', dynamic: true });
  });

  test.each([
    ['first_party: true', { first_party: true }],
    ['gatehouse_roles', { gatehouse_roles: ['admin'] }],
    ['roles', { roles: ['admin'] }],
    ['require_pkce: false', { require_pkce: false }],
    ['gatehouse_dynamic: false', { gatehouse_dynamic: false }],
    ['an admin API scope', { scope: 'openid admin' }],
  ])('when the registration asks for %s, then 400 invalid_client_metadata and nothing is created', async (_name, extra) => {
    await expectNothingCreated(async () => {
      expectRegistrationError(await register(webClient(extra), iat.token), ['invalid_client_metadata']);
    });
  });

  test.each(['logo_uri', 'policy_uri', 'tos_uri', 'client_uri'])('when %s is http:, then 400 invalid_client_metadata and nothing is created', async (field) => {
    await expectNothingCreated(async () => {
      expectRegistrationError(await register(webClient({ [field]: 'http://a.example/x' }), iat.token), ['invalid_client_metadata']);
    });
  });

  test('when jwks_uri is http:, then 400 invalid_client_metadata and nothing is created', async () => {
    await expectNothingCreated(async () => {
      expectRegistrationError(
        await register(webClient({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://a.example/jwks.json' }), iat.token),
        ['invalid_client_metadata'],
      );
    });
  });

  test('when a public client asks for client_credentials, then 400 invalid_client_metadata and nothing is created', async () => {
    await expectNothingCreated(async () => {
      for (const extra of [
        { token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
        { token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'client_credentials'] },
      ]) {
        expectRegistrationError(await register(webClient(extra), iat.token), ['invalid_client_metadata']);
      }
    });
  });
});

describe('a self-registered client in the admin API and at sign-in', () => {
  test('when a client registers itself, then GET /admin/clients/{id} shows it with dynamic: true and no secret, and the audit trail has client.register by actor type registration', async () => {
    const reg = await registered(await newIat(), webClient({ client_name: 'Listed self-registered' }));
    const view = await adminRequest(app, admin, 'GET', `/clients/${reg.client_id}`);
    expectNoSecret(view, reg.client_secret!);
    expect(view.text).not.toContain(reg.registration_access_token);
    expect(view.body).toMatchObject({
      client_id: reg.client_id, client_name: 'Listed self-registered', dynamic: true, first_party: false, require_pkce: true, disabled: false, roles: [],
      redirect_uris: [REDIRECT_URI],
    });

    const { response, events } = await auditFor(reg.client_id);
    expect(events.map((event) => event.action)).toEqual(['client.register']);
    expect(events[0]).toMatchObject({ actor: { type: 'registration', id: reg.client_id }, target: { type: 'client', id: reg.client_id } });
    expect(response.text).not.toContain(reg.client_secret!);
    expect(response.text).not.toContain(reg.registration_access_token);
  });

  test('when a self-registered client signs a user in with openid-client (code + PKCE), then the consent page warns it is unreviewed and the tokens are valid; an administrator\'s client gets no such warning', async () => {
    const reg = await registered(await newIat(), webClient({ client_name: 'Dyn <App>' }));
    const client: RegisteredClient = { clientId: reg.client_id, clientSecret: reg.client_secret! };
    const config = await relyingParty(app, client);
    const request = await authRequest(config);
    expect(request.url.searchParams.get('code_challenge_method')).toBe('S256');

    const browser = new Browser();
    let hop = await browser.follow(request.url.toString(), app.issuer);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('/login"');
    hop = await submitLogin(browser, app, hop, user.email);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('/confirm"');
    expect(hop.body).toContain(UNREVIEWED_NOTICE);
    expect(hop.body).toContain('<strong>Dyn &lt;App&gt;</strong>');
    hop = await submitConsent(browser, app, hop);
    expect(hop.location?.startsWith(`${REDIRECT_URI}?`)).toBe(true);

    const tokens = await exchange(config, new URL(hop.location!), request);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    expect([claims.aud].flat()).toContain(reg.client_id);
    expect(claims.iss).toBe(app.issuer);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info.email).toBe(user.email);

    // The same consent step for a client an administrator registered has no warning.
    const reviewed = await registerClient(app, { client_name: 'Reviewed app' });
    const reviewedConfig = await relyingParty(app, reviewed);
    const reviewedRequest = await authRequest(reviewedConfig);
    const consent = await browser.follow(reviewedRequest.url.toString(), app.issuer);
    expect(consent.body).toContain('/confirm"');
    expect(consent.body).not.toContain('registered itself');
  });
  test('when a self-registered client_credentials client asks for the admin API, then 400 (invalid_scope or invalid_target) and no token', async () => {
    const reg = await registered(await newIat(), { client_name: 'Self-registered service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    const ask = (form: Record<string, string>) => call(tokenEndpoint(), { basic: [reg.client_id, reg.client_secret!], form: { grant_type: 'client_credentials', ...form } });
    const requests: Array<Record<string, string>> = [{ scope: 'admin' }, { scope: 'admin:read' }, { scope: 'admin', resource: `${app.issuer}/admin` }, { resource: `${app.issuer}/admin` }];
    for (const form of requests) {
      const reply = await ask(form);
      expectStatus(reply, 400);
      expect(['invalid_scope', 'invalid_target']).toContain(reply.body?.error);
      expect(reply.body?.access_token).toBeUndefined();
    }
    // Without the admin API it is an ordinary service client.
    expectStatus(await ask({}), 200);
  });
});

describe('RFC 7592: a self-registered client manages its own registration', () => {
  let iat: InitialAccessToken;

  beforeAll(async () => {
    iat = await newIat();
  });

  test('when the client reads registration_client_uri with its registration access token, then 200 with its metadata; without it or with another, 401', async () => {
    const reg = await registered(iat, webClient({ client_name: 'Reader' }));
    const read = await call(reg.registration_client_uri, { bearer: reg.registration_access_token });
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toMatch(/\bno-store\b/);
    expect(read.body).toMatchObject({
      client_id: reg.client_id, client_name: 'Reader', redirect_uris: [REDIRECT_URI],
      registration_client_uri: reg.registration_client_uri, registration_access_token: reg.registration_access_token,
    });
    expectInvalidToken(await call(reg.registration_client_uri), { challengeNamesError: false });
    expectInvalidToken(await call(reg.registration_client_uri, { bearer: 'garbage' }), { challengeNamesError: true });
    expectInvalidToken(await call(reg.registration_client_uri, { bearer: iat.token }), { challengeNamesError: true });
  });

  test('when the client updates its name with PUT, then 200, the registration access token rotates (the old one gets 401), the change shows in the admin API and its secret still works', async () => {
    const reg = await registered(iat, webClient({ client_name: 'Before update' }));
    const update = await call(reg.registration_client_uri, {
      method: 'PUT', bearer: reg.registration_access_token,
      json: { client_id: reg.client_id, client_name: 'After update', redirect_uris: [REDIRECT_URI] },
    });
    expectStatus(update, 200);
    expect(update.body?.client_name).toBe('After update');
    const rotated = update.body?.registration_access_token as string;
    expect(rotated).toMatch(/^[\w-]{20,}$/);
    expect(rotated).not.toBe(reg.registration_access_token);

    expectInvalidToken(await call(reg.registration_client_uri, { bearer: reg.registration_access_token }), { challengeNamesError: true });
    const reread = await call(reg.registration_client_uri, { bearer: rotated });
    expect(reread.status).toBe(200);
    expect(reread.body?.client_name).toBe('After update');
    expect((await adminRequest(app, admin, 'GET', `/clients/${reg.client_id}`)).body).toMatchObject({ client_name: 'After update', dynamic: true });
    expect((await authenticates(reg.client_id, reg.client_secret!)).body).toEqual({ active: false });
  });

  test('when the client PUTs back the metadata its read returned (less the four fields RFC 7592 §2.2 forbids) with a new name, then 200', async () => {
    const reg = await registered(iat, webClient({ client_name: 'Round trip' }));
    const read = await call(reg.registration_client_uri, { bearer: reg.registration_access_token });
    expect(read.status).toBe(200);
    const {
      registration_access_token: _rat, registration_client_uri: _uri, client_secret_expires_at: _expires, client_id_issued_at: _issued,
      ...metadata
    } = read.body!;
    const update = await call(reg.registration_client_uri, {
      method: 'PUT', bearer: reg.registration_access_token, json: { ...metadata, client_name: 'Round trip renamed' },
    });
    expectStatus(update, 200);
    expect(update.body?.client_name).toBe('Round trip renamed');
  });

  test('when an update asks for what only an administrator may grant, then 400 invalid_client_metadata and the client is unchanged', async () => {
    const reg = await registered(iat, webClient({ client_name: 'No escalation' }));
    let rat = reg.registration_access_token;
    // One legitimate update first, so the escalations also run with a rotated token.
    const first = await call(reg.registration_client_uri, {
      method: 'PUT', bearer: rat, json: { client_id: reg.client_id, client_name: 'No escalation', redirect_uris: [REDIRECT_URI] },
    });
    expect(first.status).toBe(200);
    rat = first.body?.registration_access_token as string;
    for (const extra of [{ first_party: true }, { gatehouse_roles: ['admin'] }, { require_pkce: false }, { scope: 'openid admin' }]) {
      const reply = await call(reg.registration_client_uri, {
        method: 'PUT', bearer: rat, json: { client_id: reg.client_id, client_name: 'Escalated', redirect_uris: [REDIRECT_URI], ...extra },
      });
      expectRegistrationError(reply, ['invalid_client_metadata']);
    }
    expectRegistrationError(await call(reg.registration_client_uri, {
      method: 'PUT', bearer: rat, json: { client_id: reg.client_id, redirect_uris: ['https://a.example/cb#f'] },
    }), ['invalid_redirect_uri']);
    const view = await adminRequest(app, admin, 'GET', `/clients/${reg.client_id}`);
    expect(view.body).toMatchObject({ client_name: 'No escalation', first_party: false, require_pkce: true, roles: [], redirect_uris: [REDIRECT_URI] });
    expect(view.body.scope).toBeUndefined();
  });

  test('when the client deletes itself, then 204, the admin API says 404, its credentials get invalid_client and its registration access token 401', async () => {
    const reg = await registered(iat);
    const deleted = await call(reg.registration_client_uri, { method: 'DELETE', bearer: reg.registration_access_token });
    expect(deleted.status).toBe(204);
    expect((await adminRequest(app, admin, 'GET', `/clients/${reg.client_id}`)).status).toBe(404);
    expectOAuthError(
      await call(tokenEndpoint(), { basic: [reg.client_id, reg.client_secret!], form: { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI } }),
      401,
      'invalid_client',
    );
    expectOAuthError(await authenticates(reg.client_id, reg.client_secret!), 401, 'invalid_client');
    expectInvalidToken(await call(reg.registration_client_uri, { bearer: reg.registration_access_token }), { challengeNamesError: true });
  });

  test('given a client an administrator created, when /reg/{its id} is read, updated or deleted (with no token, or another client\'s registration access token), then 401 and the client is unchanged and still works', async () => {
    const created = await adminRequest(app, admin, 'POST', '/clients', { client_name: 'Admin-owned', redirect_uris: [REDIRECT_URI] });
    expect(created.status).toBe(201);
    const id = created.body.client.client_id as string;
    const secret = created.body.client_secret as string;
    const uri = `${app.issuer}/reg/${id}`;
    const attempts: Array<{ method: string; json?: unknown }> = [
      { method: 'GET' },
      { method: 'PUT', json: { client_id: id, client_name: 'Hijacked', redirect_uris: ['https://evil.example/cb'] } },
      { method: 'DELETE' },
    ];
    for (const attempt of attempts) {
      expectInvalidToken(await call(uri, { method: attempt.method, json: attempt.json }), { challengeNamesError: false });
      // A registration access token of another (self-registered) client; each try burns one.
      const other = await registered(iat);
      expectInvalidToken(await call(uri, { method: attempt.method, json: attempt.json, bearer: other.registration_access_token }), { challengeNamesError: true });
    }
    const view = await adminRequest(app, admin, 'GET', `/clients/${id}`);
    expect(view.body).toMatchObject({ client_name: 'Admin-owned', redirect_uris: [REDIRECT_URI], dynamic: false });
    expect((await authenticates(id, secret)).body).toEqual({ active: false });
    const { events } = await auditFor(id);
    expect(events.map((event) => event.action)).toEqual(['client.create']);
  });

  test('when a client registers, updates and deletes itself, then /admin/audit-events has client.register, client.registration_update and client.registration_delete by actor type registration, without its secret', async () => {
    const reg = await registered(iat, webClient({ client_name: 'Audited' }));
    const update = await call(reg.registration_client_uri, {
      method: 'PUT', bearer: reg.registration_access_token, json: { client_id: reg.client_id, client_name: 'Audited again', redirect_uris: [REDIRECT_URI] },
    });
    expect(update.status).toBe(200);
    const deleted = await call(reg.registration_client_uri, { method: 'DELETE', bearer: update.body?.registration_access_token as string });
    expect(deleted.status).toBe(204);

    const { response, events } = await auditFor(reg.client_id);
    expect(events.map((event) => event.action)).toEqual(['client.registration_delete', 'client.registration_update', 'client.register']);
    for (const event of events) {
      expect(event).toMatchObject({ actor: { type: 'registration', id: reg.client_id }, target: { type: 'client', id: reg.client_id } });
    }
    expect(events[1]!.after).toMatchObject({ client_name: 'Audited again' });
    expect(response.text).not.toContain(reg.client_secret!);
    expect(response.text).not.toContain(reg.registration_access_token);
  });
});

// Last in the file: once a limit exists, a burst must not starve the tests above.
describe('C7 registration is rate-limited', () => {
  test('when one address registers clients in a burst beyond REGISTRATION_RATE_LIMIT per minute, then /reg answers 429 with Retry-After', async () => {
    const iat = await newIat();
    const limit = app.config.registrationPerMinute;
    const statuses: number[] = [];
    let limited: Reply | undefined;
    for (let i = 0; i <= limit && !limited; i += 1) {
      const reply = await register(webClient(), iat.token);
      statuses.push(reply.status);
      if (reply.status === 429) limited = reply;
      else expect(reply.status).toBe(201);
    }
    expect({ registered: statuses.filter((status) => status === 201).length, limited: limited?.status })
      .toEqual({ registered: expect.any(Number), limited: 429 });
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
  }, 120_000);
});
