// Checklist section C (C1, C2, C3, C4, C8, C9) for clients an administrator registers
// through the admin API (/admin/clients with a real admin access token), black-box over
// HTTP against the real app. Relying parties sign in with openid-client through the real
// login and consent pages; protocol refusals are read with raw requests (no redirect
// followed) so every status, header and Location is visible.
//
// C2's bulk check creates 1,000 clients through the clients service directly
// (app.app.services.clients.createClient: the code behind POST /admin/clients, without
// HTTP and the per-actor rate limit of 120 changes a minute) and 100 more over HTTP.
import { createHash, randomBytes } from 'node:crypto';
import { startApp, type TestApp } from '../helpers/app.js';
import { adminRequest, adminToken, type AdminResponse } from '../helpers/admin.js';
import { Browser, type Hop } from '../helpers/browser.js';
import { call, collectKeys, expectStatus, type Reply } from '../helpers/http.js';
import {
  POST_LOGOUT_URI, REDIRECT_URI, TEST_ACTOR, authRequest, createUser, exchange, oidc, relyingParty, signIn, submitConsent, submitLogin,
  type RegisteredClient,
} from '../helpers/oidc.js';

// ---------------------------------------------------------------------------------------
// HTTP plumbing

/** An RFC 6749 §5.2 error: this status, JSON, this error code. */
function expectOAuthError(reply: Reply, status: number, error: string): void {
  expectStatus(reply, status);
  expect(reply.body?.error).toBe(error);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json\b/);
}

function expectTokens(reply: Reply): Record<string, unknown> {
  expectStatus(reply, 200);
  expect(typeof reply.body?.access_token).toBe('string');
  return reply.body!;
}

/** RFC 9457 problem from the admin API: status, media type, code, and the offending fields. */
function expectProblem(response: AdminResponse, status: number, code: string, fields: string[] = []): void {
  expectStatus(response, status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
  expect(response.body).toMatchObject({ type: `urn:gatehouse:problem:${code}`, status });
  const named = ((response.body?.errors ?? []) as Array<{ field: string }>).map((problem) => problem.field);
  for (const field of fields) expect(named).toContain(field);
}

/** An error page: 4xx, no Location at all, optionally naming the OAuth error code. */
function expectErrorPage(hop: Hop, code?: string): void {
  expect({ status: hop.status, location: hop.location }).toEqual({ status: expect.any(Number), location: undefined });
  expect(hop.status).toBeGreaterThanOrEqual(400);
  expect(hop.status).toBeLessThan(500);
  expect(hop.headers.get('content-type')).toMatch(/^text\/html\b/);
  if (code) expect(hop.body).toContain(`Error code: ${code}`);
}

/** The parameters of an authorization response, from the query or (`fragment`) the fragment. */
function responseParams(location: string, mode: 'query' | 'fragment' = 'query'): URLSearchParams {
  const url = new URL(location);
  return mode === 'fragment' ? new URLSearchParams(url.hash.slice(1)) : url.searchParams;
}

/** A protocol error sent back to the registered redirect URI with state and iss (RFC 6749 §4.1.2.1, RFC 9207). */
function expectErrorRedirect(hop: Hop, redirectUri: string, errors: string[], state: string, mode: 'query' | 'fragment' = 'query'): URLSearchParams {
  expect([302, 303]).toContain(hop.status);
  const url = new URL(hop.location!);
  expect(`${url.origin}${url.pathname}`).toBe(redirectUri);
  const params = responseParams(hop.location!, mode);
  expect(errors).toContain(params.get('error'));
  expect(params.get('code')).toBeNull();
  expect(params.get('state')).toBe(state);
  expect(params.get('iss')).toBe(app.issuer);
  return params;
}

/** The request was accepted: the browser goes on to the interaction (login) pages. */
function expectInteraction(hop: Hop): void {
  expect({ status: hop.status, location: hop.location?.replace(/\/interaction\/[\w-]+$/, '/interaction/:uid') })
    .toEqual({ status: 303, location: `${app.issuer}/interaction/:uid` });
}

const BASE64URL_SECRET = /^[A-Za-z0-9_-]{43,}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A syntactically valid S256 challenge (RFC 7636 appendix B) for requests never redeemed. */
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeKt8zyYIlE7hG4ySzMQ';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const unique = (label: string) => `${label} ${randomBytes(6).toString('hex')}`;

// ---------------------------------------------------------------------------------------
// The Gatehouse under test

let app: TestApp;
let admin: string;
/** The same Gatehouse with NODE_ENV=production (behind a TLS proxy), for C1's production-only rules. */
let production: TestApp;
let user: { id: string; email: string };
let endpoints: { auth: string; token: string; introspection: string; revocation: string; userinfo: string; endSession: string };

beforeAll(async () => {
  [app, production] = await Promise.all([
    startApp(),
    startApp({
      env: {
        NODE_ENV: 'production', ISSUER: 'https://id.example.test', TRUST_PROXY: 'true',
        SECRET_KEY: randomBytes(32).toString('base64'), COOKIE_KEYS: randomBytes(32).toString('base64url'),
      },
    }),
  ]);
  admin = await adminToken(app);
  user = await createUser(app);
  endpoints = {
    auth: `${app.issuer}/auth`,
    token: `${app.issuer}/token`,
    introspection: `${app.issuer}/token/introspection`,
    revocation: `${app.issuer}/token/revocation`,
    userinfo: `${app.issuer}/me`,
    endSession: `${app.issuer}/session/end`,
  };
});

afterAll(async () => {
  await Promise.all([app?.destroy(), production?.destroy()]);
});

interface Created {
  client: Record<string, unknown> & { client_id: string };
  client_secret?: string;
}

/** POST /admin/clients; the client must be created. */
async function createViaAdmin(body: Record<string, unknown>, token = admin): Promise<Created> {
  const response = await adminRequest<Created>(app, token, 'POST', '/clients', body);
  expectStatus(response, 201);
  return response.body;
}

/** A code-flow client registered through the admin API, as openid-client sees it. */
async function codeClient(input: Record<string, unknown> = {}): Promise<RegisteredClient & { created: Created }> {
  const created = await createViaAdmin({
    client_name: unique('Code client'),
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [POST_LOGOUT_URI],
    ...input,
  });
  return { clientId: created.client.client_id, ...(created.client_secret ? { clientSecret: created.client_secret } : {}), created };
}

async function machineClient(input: Record<string, unknown> = {}): Promise<RegisteredClient & { created: Created }> {
  const created = await createViaAdmin({ client_name: unique('Machine client'), grant_types: ['client_credentials'], ...input });
  return { clientId: created.client.client_id, clientSecret: created.client_secret!, created };
}

async function namedClients(name: string): Promise<unknown[]> {
  const listed = await adminRequest<{ items: unknown[] }>(app, admin, 'GET', `/clients?${new URLSearchParams({ q: name, limit: '100' })}`);
  expect(listed.status).toBe(200);
  return listed.body.items;
}

/** A full sign-in with openid-client through the real pages; returns the tokens. */
async function signInTokens(client: RegisteredClient, params: Record<string, string> = {}, auth?: oidc.ClientAuth) {
  const config = await relyingParty(app, client, auth);
  const request = await authRequest(config, params);
  const callback = await signIn(new Browser(), app, request, user.email);
  return { config, tokens: await exchange(config, callback, request) };
}

const OFFLINE = { scope: 'openid offline_access', prompt: 'consent' };

function authUrl(clientId: string, overrides: Record<string, string | undefined> = {}): string {
  const params: Record<string, string | undefined> = {
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid',
    state: 'st-1',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    ...overrides,
  };
  const defined = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return `${endpoints.auth}?${new URLSearchParams(defined).toString()}`;
}

const get = (url: string, headers: Record<string, string> = {}) => new Browser().request(url, { headers });

// ---------------------------------------------------------------------------------------

describe('C1 redirect URIs are validated when an administrator registers a client', () => {
  const refused: Array<[string, string]> = [
    ['a fragment', 'https://a.example/cb#f'],
    ['plain http on a non-loopback host', 'http://a.example/cb'],
    ['the javascript: scheme', 'javascript:alert(1)'],
    ['a wildcard host', 'https://*.a.example/cb'],
    ['the data: scheme', 'data:text/html,x'],
    ['the file: scheme', 'file:///etc/passwd'],
    ['a custom scheme on a web client', 'com.example.app:/cb'],
    ['a relative URI', '/cb'],
  ];

  test.each(refused)('given a web client, when redirect_uris[0] has %s, then 400 problem+json naming redirect_uris[0] and no client exists', async (_name, uri) => {
    const name = unique('C1 redirect');
    const response = await adminRequest(app, admin, 'POST', '/clients', { client_name: name, redirect_uris: [uri] });
    expectProblem(response, 400, 'invalid_input', ['redirect_uris[0]']);
    expect(await namedClients(name)).toEqual([]);
  });

  test.each(refused)('given a web client, when post_logout_redirect_uris[0] has %s, then 400 problem+json naming post_logout_redirect_uris[0] and no client exists', async (_name, uri) => {
    const name = unique('C1 post-logout');
    const response = await adminRequest(app, admin, 'POST', '/clients', {
      client_name: name, redirect_uris: ['https://a.example/cb'], post_logout_redirect_uris: [uri],
    });
    expectProblem(response, 400, 'invalid_input', ['post_logout_redirect_uris[0]']);
    expect(await namedClients(name)).toEqual([]);
  });

  test('given a native client, when it registers an http loopback URI (127.0.0.1 and [::1]) and a reverse-domain custom scheme, then 201 with the URIs stored exactly', async () => {
    const redirectUris = ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'com.example.app:/oauth2redirect'];
    const postLogout = ['http://127.0.0.1:8080/signed-out', 'com.example.app:/signed-out'];
    const created = await createViaAdmin({
      client_name: unique('Native app'), application_type: 'native', token_endpoint_auth_method: 'none',
      redirect_uris: redirectUris, post_logout_redirect_uris: postLogout,
    });
    expect(created.client).toMatchObject({ application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogout });
    expect(created.client_secret).toBeUndefined();
    const fetched = await adminRequest(app, admin, 'GET', `/clients/${created.client.client_id}`);
    expect(fetched.body).toMatchObject({ redirect_uris: redirectUris, post_logout_redirect_uris: postLogout });
  });

  test.each([
    ['plain http on a non-loopback host', 'http://a.example/cb'],
    ['a fragment on a custom scheme', 'com.example.app:/cb#f'],
    ['the javascript: scheme', 'javascript:alert(1)'],
    ['a custom scheme that is not a reverse domain name', 'myapp:/cb'],
  ])('given a native client, when redirect_uris[0] has %s, then 400 naming redirect_uris[0]', async (_name, uri) => {
    const name = unique('C1 native');
    const response = await adminRequest(app, admin, 'POST', '/clients', {
      client_name: name, application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: [uri],
    });
    expectProblem(response, 400, 'invalid_input', ['redirect_uris[0]']);
    expect(await namedClients(name)).toEqual([]);
  });

  test('given the production profile, when a web client registers an http loopback redirect or post-logout URI, then 400 naming it; a native client may', async () => {
    const productionAdmin = await adminToken(production);
    for (const uri of ['http://localhost:8080/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb']) {
      expectProblem(await adminRequest(production, productionAdmin, 'POST', '/clients', { client_name: 'Web app', redirect_uris: [uri] }), 400, 'invalid_input', ['redirect_uris[0]']);
      expectProblem(
        await adminRequest(production, productionAdmin, 'POST', '/clients', { client_name: 'Web app', redirect_uris: ['https://a.example/cb'], post_logout_redirect_uris: [uri] }),
        400,
        'invalid_input',
        ['post_logout_redirect_uris[0]'],
      );
    }
    const native = await adminRequest(production, productionAdmin, 'POST', '/clients', {
      client_name: 'Native app', application_type: 'native', token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'com.example.app:/cb'], post_logout_redirect_uris: ['http://127.0.0.1:8080/out'],
    });
    expectStatus(native, 201);
    const listed = await adminRequest<{ items: Array<{ client_name: string }> }>(production, productionAdmin, 'GET', '/clients?limit=200');
    expect(listed.body.items.map((item) => item.client_name).filter((name) => name !== 'admin client (admin)')).toEqual(['Native app']);
  });

  test('given an existing web client, when a PATCH sets a javascript: redirect URI, then 400 naming redirect_uris[0] and the stored URIs are unchanged', async () => {
    const { clientId } = await codeClient();
    const response = await adminRequest(app, admin, 'PATCH', `/clients/${clientId}`, { redirect_uris: ['javascript:alert(1)'] });
    expectProblem(response, 400, 'invalid_input', ['redirect_uris[0]']);
    const fetched = await adminRequest(app, admin, 'GET', `/clients/${clientId}`);
    expect(fetched.body.redirect_uris).toEqual([REDIRECT_URI]);
  });
});

describe('C2 secrets and client ids are generated by the server and a secret is shown once', () => {
  function expectNoSecret(response: AdminResponse, secrets: string[]): void {
    expect(response.status).toBe(200);
    for (const secret of secrets) expect(response.text).not.toContain(secret);
    expect(collectKeys(response.body).filter((key) => /^(client_)?secret$/i.test(key))).toEqual([]);
  }

  test('given a confidential client created over the admin API, when it is read back (one, list, after PATCH, after rotation, audit trail), then its secret appears nowhere', async () => {
    const name = unique('C2 secret once');
    const created = await createViaAdmin({ client_name: name, redirect_uris: [REDIRECT_URI] });
    expect(created.client_secret).toMatch(BASE64URL_SECRET);
    expect(Object.keys(created.client)).not.toContain('client_secret');
    const id = created.client.client_id;

    expectNoSecret(await adminRequest(app, admin, 'GET', `/clients/${id}`), [created.client_secret!]);
    expectNoSecret(await adminRequest(app, admin, 'GET', `/clients?${new URLSearchParams({ q: name })}`), [created.client_secret!]);
    const patched = await adminRequest(app, admin, 'PATCH', `/clients/${id}`, { client_name: `${name} renamed` });
    expectNoSecret(patched, [created.client_secret!]);

    const rotated = await adminRequest(app, admin, 'POST', `/clients/${id}/secret`, {});
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).toMatch(BASE64URL_SECRET);
    expect(rotated.body.client_secret).not.toBe(created.client_secret);
    const both = [created.client_secret!, rotated.body.client_secret as string];
    expectNoSecret(await adminRequest(app, admin, 'GET', `/clients/${id}`), both);
    expectNoSecret(await adminRequest(app, admin, 'GET', `/audit-events?${new URLSearchParams({ target_id: id, limit: '100' })}`), both);
  });

  test('given 1,000 clients created through the clients service and 100 over the admin API, then every client_id and secret is unique, every secret has at least 43 base64url characters, and no id is shaped like a user sub', async () => {
    const ids: string[] = [];
    const secrets: string[] = [];
    // The per-actor limit is 120 changes a minute: a fresh administrator for the HTTP part.
    const bulkAdmin = await adminToken(app);
    for (let i = 0; i < 100; i += 1) {
      const created = await createViaAdmin({ client_name: `C2 bulk http ${i}`, grant_types: ['client_credentials'] }, bulkAdmin);
      ids.push(created.client.client_id);
      secrets.push(created.client_secret!);
    }
    for (let i = 0; i < 1000; i += 1) {
      const created = await app.app.services.clients.createClient({ client_name: `C2 bulk ${i}`, grant_types: ['client_credentials'] }, TEST_ACTOR);
      ids.push(created.client.client_id);
      secrets.push(created.client_secret!);
      // Keeps this process's pooled keep-alive connection in use while the in-process
      // database is busy, so the server never times it out under the next test's POST
      // (fetch does not retry a POST on a connection the server has closed).
      if (i % 100 === 99) expect((await fetch(`${app.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    }
    expect(secrets.filter((secret) => !BASE64URL_SECRET.test(secret))).toEqual([]);
    expect(new Set(secrets).size).toBe(1100);
    expect(new Set(ids).size).toBe(1100);
    expect(ids.filter((id) => secrets.includes(id))).toEqual([]);
    expect(ids.filter((id) => UUID.test(id) || id === user.id)).toEqual([]);
  }, 300_000);

  test('given an existing user, when a client is created (or replaced) with client_id equal to the user\'s sub, then 400 naming the unknown field and no client has that id', async () => {
    const name = unique('C2 chosen id');
    const response = await adminRequest(app, admin, 'POST', '/clients', { client_name: name, client_id: user.id, redirect_uris: [REDIRECT_URI] });
    expectProblem(response, 400, 'invalid_input', ['client_id']);
    expect(JSON.stringify(response.body.errors)).toContain('client_id');
    expect(await namedClients(name)).toEqual([]);
    expectProblem(await adminRequest(app, admin, 'GET', `/clients/${user.id}`), 404, 'not_found');

    const { clientId } = await codeClient();
    const replaced = await adminRequest(app, admin, 'PUT', `/clients/${clientId}`, { client_name: name, client_id: user.id, redirect_uris: [REDIRECT_URI] });
    expectProblem(replaced, 400, 'invalid_input', ['client_id']);
    expectProblem(await adminRequest(app, admin, 'GET', `/clients/${user.id}`), 404, 'not_found');
    expectOAuthError(await call(endpoints.token, { form: { grant_type: 'client_credentials', client_id: user.id, client_secret: 'x' } }), 401, 'invalid_client');
  });
});

describe('C3 each client\'s allow-lists are enforced', () => {
  test('given a client registered for authorization_code only, when it asks for client_credentials or refresh_token, then 400 unauthorized_client, and offline_access yields no refresh token', async () => {
    const client = await codeClient({ grant_types: ['authorization_code'] });
    expect(client.created.client.grant_types).toEqual(['authorization_code']);
    expectOAuthError(await call(endpoints.token, { basic: [client.clientId, client.clientSecret!], form: { grant_type: 'client_credentials' } }), 400, 'unauthorized_client');
    expectOAuthError(
      await call(endpoints.token, { basic: [client.clientId, client.clientSecret!], form: { grant_type: 'refresh_token', refresh_token: randomBytes(32).toString('base64url') } }),
      400,
      'unauthorized_client',
    );
    const { tokens } = await signInTokens(client, OFFLINE);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeUndefined();
  });

  test('given a client whose scope is "openid email", when it asks for profile at /auth, then an invalid_scope error redirect to its registered URI with state and iss', async () => {
    const client = await codeClient({ scope: 'openid email' });
    const hop = await get(authUrl(client.clientId, { scope: 'openid profile', state: 'scope-1' }));
    expectErrorRedirect(hop, REDIRECT_URI, ['invalid_scope'], 'scope-1');
    // Within its scope the same request goes on to sign-in.
    expectInteraction(await get(authUrl(client.clientId, { scope: 'openid email' })));
  });

  test('given two clients, when /auth names a redirect_uri the client did not register (a foreign one, or the other client\'s), then an error page and no redirect', async () => {
    const client = await codeClient({ redirect_uris: ['https://a.example/cb'] });
    for (const redirectUri of ['https://evil.example/cb', REDIRECT_URI]) {
      const hop = await get(authUrl(client.clientId, { redirect_uri: redirectUri }));
      expectErrorPage(hop, 'invalid_redirect_uri');
      expect(hop.status).toBe(400);
    }
  });

  test('given a client, when logout names a post_logout_redirect_uri it did not register (a foreign one, or another client\'s), then an error page and no redirect', async () => {
    const client = await codeClient({ post_logout_redirect_uris: ['https://a.example/signed-out'] });
    for (const uri of ['https://evil.example/signed-out', POST_LOGOUT_URI]) {
      const hop = await get(`${endpoints.endSession}?${new URLSearchParams({ client_id: client.clientId, post_logout_redirect_uri: uri, state: 'bye' })}`, { accept: 'text/html' });
      expectErrorPage(hop, 'invalid_request');
      expect(hop.status).toBe(400);
      expect(hop.body).not.toContain('evil.example');
    }
  });

  test('given a client_secret_post client and a client_secret_basic client, when each authenticates with the other method, then 401 invalid_client; with its own, tokens', async () => {
    const post = await machineClient({ token_endpoint_auth_method: 'client_secret_post' });
    const basic = await machineClient();
    expectOAuthError(await call(endpoints.token, { basic: [post.clientId, post.clientSecret!], form: { grant_type: 'client_credentials' } }), 401, 'invalid_client');
    expectOAuthError(
      await call(endpoints.token, { form: { grant_type: 'client_credentials', client_id: basic.clientId, client_secret: basic.clientSecret! } }),
      401,
      'invalid_client',
    );
    expectTokens(await call(endpoints.token, { form: { grant_type: 'client_credentials', client_id: post.clientId, client_secret: post.clientSecret! } }));
    expectTokens(await call(endpoints.token, { basic: [basic.clientId, basic.clientSecret!], form: { grant_type: 'client_credentials' } }));
  });

  test.each([
    ['token', 'fragment'],
    ['id_token', 'fragment'],
    ['code id_token', 'fragment'],
    ['code token', 'fragment'],
    ['none', 'query'],
  ] as const)('given a code client, when response_type=%s is requested, then an unsupported_response_type error redirect (in the %s)', async (responseType, mode) => {
    const client = await codeClient();
    const hop = await get(authUrl(client.clientId, { response_type: responseType, state: 'rt-1', nonce: 'n-1' }));
    expectErrorRedirect(hop, REDIRECT_URI, ['unsupported_response_type'], 'rt-1', mode);
  });

  test('given a code client, when response_mode=fragment (advertised in discovery) is used, then the code, state and iss come back in the fragment and the code redeems', async () => {
    const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as { response_modes_supported: string[] };
    expect(discovery.response_modes_supported).toContain('fragment');
    const client = await codeClient();
    const verifier = randomBytes(32).toString('base64url');
    const browser = new Browser();
    let hop = await browser.follow(authUrl(client.clientId, {
      response_mode: 'fragment', state: 'frag-1', code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    }), app.issuer);
    hop = await submitLogin(browser, app, hop, user.email);
    expect(hop.body).toContain('/confirm"');
    hop = await submitConsent(browser, app, hop);
    const callback = new URL(hop.location!);
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    expect(callback.search).toBe('');
    const params = responseParams(hop.location!, 'fragment');
    expect(params.get('state')).toBe('frag-1');
    expect(params.get('iss')).toBe(app.issuer);
    expectTokens(await call(endpoints.token, {
      basic: [client.clientId, client.clientSecret!],
      form: { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: verifier },
    }));
  });

  test('given a code client, when an unsupported response_mode (bogus, query.jwt without JARM) is requested, then an error redirect in the query and no code', async () => {
    const client = await codeClient();
    for (const mode of ['bogus', 'query.jwt', 'web_message']) {
      const hop = await get(authUrl(client.clientId, { response_mode: mode, state: 'rm-1' }));
      expectErrorRedirect(hop, REDIRECT_URI, ['unsupported_response_mode', 'invalid_request'], 'rm-1');
    }
  });
});

describe('C4 public clients: PKCE always, rotating refresh tokens, never client_credentials', () => {
  test('when a public client is created with client_credentials (alone, or beside authorization_code), then 400 naming grant_types and nothing is created', async () => {
    for (const body of [
      { grant_types: ['client_credentials'] },
      { grant_types: ['authorization_code', 'client_credentials'], redirect_uris: [REDIRECT_URI] },
    ]) {
      const name = unique('C4 public cc');
      const response = await adminRequest(app, admin, 'POST', '/clients', { client_name: name, token_endpoint_auth_method: 'none', ...body });
      expectProblem(response, 400, 'invalid_input', ['grant_types']);
      expect(await namedClients(name)).toEqual([]);
    }
  });

  test('given a client_credentials client, when a PATCH makes it public, then 400 naming grant_types and it still authenticates with its secret', async () => {
    const machine = await machineClient();
    const response = await adminRequest(app, admin, 'PATCH', `/clients/${machine.clientId}`, { token_endpoint_auth_method: 'none' });
    expectProblem(response, 400, 'invalid_input', ['grant_types']);
    expectTokens(await call(endpoints.token, { basic: [machine.clientId, machine.clientSecret!], form: { grant_type: 'client_credentials' } }));
  });

  test('given a public client (also one registered with require_pkce=false), when /auth has no code_challenge or uses plain, then an invalid_request error redirect', async () => {
    const pub = await codeClient({ token_endpoint_auth_method: 'none' });
    const pubNoPkce = await codeClient({ token_endpoint_auth_method: 'none', require_pkce: false });
    expect(pub.created.client_secret).toBeUndefined();
    for (const client of [pub, pubNoPkce]) {
      expectErrorRedirect(await get(authUrl(client.clientId, { code_challenge: undefined, code_challenge_method: undefined, state: 'pk-1' })), REDIRECT_URI, ['invalid_request'], 'pk-1');
      expectErrorRedirect(await get(authUrl(client.clientId, { code_challenge_method: 'plain', state: 'pk-2' })), REDIRECT_URI, ['invalid_request'], 'pk-2');
      expectInteraction(await get(authUrl(client.clientId)));
    }
  });

  test('given a public client with a refresh token, when it refreshes, then a new refresh token is issued, the old one is then invalid_grant, and that reuse ends the rotated one too', async () => {
    const pub = await codeClient({ token_endpoint_auth_method: 'none' });
    const { config, tokens } = await signInTokens(pub, OFFLINE);
    const first = tokens.refresh_token!;
    expect(first).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(config, first);
    const second = refreshed.refresh_token!;
    expect(second).toBeTruthy();
    expect(second).not.toBe(first);

    const reuse = await call(endpoints.token, { form: { grant_type: 'refresh_token', refresh_token: first, client_id: pub.clientId } });
    expectOAuthError(reuse, 400, 'invalid_grant');
    // Reuse of a rotated token revokes the grant (RFC 9700 §4.14.2).
    expectOAuthError(await call(endpoints.token, { form: { grant_type: 'refresh_token', refresh_token: second, client_id: pub.clientId } }), 400, 'invalid_grant');
  });
});

describe('C8 client display metadata is https-only and rendered escaped', () => {
  const XSS_NAME = '<img src=x onerror=alert(1)>';
  const ESCAPED_NAME = '&lt;img src=x onerror=alert(1)&gt;';

  test('given a client named with an HTML tag and a logo, when the login, consent and logout pages render, then the name appears escaped and the raw tag never does', async () => {
    const logo = 'https://logo.example/app.png';
    const client = await codeClient({ client_name: XSS_NAME, logo_uri: logo });
    const browser = new Browser();
    const login = await browser.follow(authUrl(client.clientId), app.issuer);
    expect(login.status).toBe(200);
    expect(login.body).toContain(ESCAPED_NAME);
    expect(login.body).not.toContain('<img src=x');

    const consent = await submitLogin(browser, app, login, user.email);
    expect(consent.status).toBe(200);
    expect(consent.body).toContain('/confirm"');
    expect(consent.body).toContain(`<strong>${ESCAPED_NAME}</strong>`);
    expect(consent.body).toContain(`src="${logo}"`);
    expect(consent.body).not.toContain('<img src=x');
    expect(consent.body).not.toContain('onerror=alert(1)>');

    // Signed in (the session exists once the login step is done), logout asks first.
    const logout = await browser.request(`${endpoints.endSession}?${new URLSearchParams({ client_id: client.clientId })}`, { headers: { accept: 'text/html' } });
    expect(logout.status).toBe(200);
    expect(logout.body).toContain('Sign out?');
    expect(logout.body).toContain(ESCAPED_NAME);
    expect(logout.body).not.toContain('<img src=x');
  });

  test('given a logo_uri that tries to break out of the src attribute, when the consent page renders, then the attribute stays closed and no script tag appears', async () => {
    const client = await codeClient({ client_name: unique('Logo breakout'), logo_uri: 'https://logo.example/x.png?a="><script>alert(1)</script>' });
    const browser = new Browser();
    const consent = await submitLogin(browser, app, await browser.follow(authUrl(client.clientId), app.issuer), user.email);
    expect(consent.body).toContain('/confirm"');
    expect(consent.body).not.toContain('<script>alert(1)');
    expect(consent.body).not.toContain('"><script');
    expect(consent.body).toContain('src="https://logo.example/x.png?a=&quot;&gt;&lt;script&gt;');
  });

  test.each(['logo_uri', 'policy_uri', 'tos_uri', 'client_uri'])('when %s is http: or javascript:, then 400 naming it and nothing is created', async (field) => {
    for (const value of ['http://a.example/x', 'javascript:alert(1)']) {
      const name = unique('C8 uri');
      const response = await adminRequest(app, admin, 'POST', '/clients', { client_name: name, redirect_uris: [REDIRECT_URI], [field]: value });
      expectProblem(response, 400, 'invalid_input', [field]);
      expect(await namedClients(name)).toEqual([]);
    }
  });
});

describe('C9 deleting, disabling and rotating secrets take effect at once', () => {
  async function clientWithTokens() {
    const client = await codeClient();
    const { tokens } = await signInTokens(client, OFFLINE);
    expect(tokens.refresh_token).toBeTruthy();
    return { client, tokens };
  }

  /** Every back-channel endpoint refuses the client's old credentials with 401 invalid_client. */
  async function expectLockedOut(client: RegisteredClient, refreshToken: string, accessToken: string): Promise<void> {
    const basic: [string, string] = [client.clientId, client.clientSecret!];
    expectOAuthError(await call(endpoints.token, { basic, form: { grant_type: 'refresh_token', refresh_token: refreshToken } }), 401, 'invalid_client');
    expectOAuthError(await call(endpoints.introspection, { basic, form: { token: accessToken } }), 401, 'invalid_client');
    expectOAuthError(await call(endpoints.revocation, { basic, form: { token: refreshToken } }), 401, 'invalid_client');
    // Its tokens are gone as well, not only its credentials.
    const info = await call(endpoints.userinfo, { bearer: accessToken });
    expect(info.status).toBe(401);
    // A new authorization request for it is an error page, never a redirect.
    expectErrorPage(await get(authUrl(client.clientId)), 'invalid_client');
  }

  test('given a client with live tokens, when it is deleted, then its refresh token and credentials get 401 invalid_client at /token, introspection and revocation, and its access token is dead', async () => {
    const { client, tokens } = await clientWithTokens();
    const basic: [string, string] = [client.clientId, client.clientSecret!];
    expect((await call(endpoints.introspection, { basic, form: { token: tokens.access_token } })).body?.active).toBe(true);

    const deleted = await adminRequest(app, admin, 'DELETE', `/clients/${client.clientId}`);
    expect(deleted.status).toBe(204);
    await expectLockedOut(client, tokens.refresh_token!, tokens.access_token);
    expectProblem(await adminRequest(app, admin, 'GET', `/clients/${client.clientId}`), 404, 'not_found');
  });

  test('given a client with live tokens, when it is disabled, then it is locked out at once; re-enabled, it authenticates again but its old grant stays revoked', async () => {
    const { client, tokens } = await clientWithTokens();
    const basic: [string, string] = [client.clientId, client.clientSecret!];
    const grantsBefore = await adminRequest<{ items: Array<{ client_id: string }> }>(app, admin, 'GET', `/users/${user.id}/grants`);
    expect(grantsBefore.body.items.map((grant) => grant.client_id)).toContain(client.clientId);

    const disabled = await adminRequest(app, admin, 'PATCH', `/clients/${client.clientId}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(disabled.body.client.disabled).toBe(true);
    await expectLockedOut(client, tokens.refresh_token!, tokens.access_token);
    const grantsAfter = await adminRequest<{ items: Array<{ client_id: string }> }>(app, admin, 'GET', `/users/${user.id}/grants`);
    expect(grantsAfter.body.items.map((grant) => grant.client_id)).not.toContain(client.clientId);

    const enabled = await adminRequest(app, admin, 'PATCH', `/clients/${client.clientId}`, { disabled: false });
    expect(enabled.status).toBe(200);
    expect(enabled.body.client.disabled).toBe(false);
    // It authenticates again (an unknown token is simply inactive)…
    const probe = await call(endpoints.introspection, { basic, form: { token: randomBytes(32).toString('base64url') } });
    expect({ status: probe.status, body: probe.body }).toEqual({ status: 200, body: { active: false } });
    // …but what it held before stays revoked.
    expectOAuthError(await call(endpoints.token, { basic, form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! } }), 400, 'invalid_grant');
    expect((await call(endpoints.introspection, { basic, form: { token: tokens.access_token } })).body).toEqual({ active: false });
    expect((await call(endpoints.userinfo, { bearer: tokens.access_token })).status).toBe(401);
    // And it can sign users in again.
    const again = await signInTokens(client, OFFLINE);
    expect(again.tokens.refresh_token).toBeTruthy();
  });

  const ccToken = (id: string, secret: string) => call(endpoints.token, { basic: [id, secret], form: { grant_type: 'client_credentials' } });

  test('given a client, when its secret is rotated with grace 0, then the old secret gets 401 invalid_client at once and the new one works', async () => {
    const machine = await machineClient();
    expectTokens(await ccToken(machine.clientId, machine.clientSecret!));
    const rotated = await adminRequest(app, admin, 'POST', `/clients/${machine.clientId}/secret`, { grace_period_seconds: 0 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.previous_secret_expires_at).toBeNull();
    expectOAuthError(await ccToken(machine.clientId, machine.clientSecret!), 401, 'invalid_client');
    expectTokens(await ccToken(machine.clientId, rotated.body.client_secret as string));
  });

  test('given a client, when its secret is rotated with a 2 s grace period, then the old secret works until then and gets 401 invalid_client after ~2.5 s', async () => {
    const machine = await machineClient();
    const before = Date.now();
    const rotated = await adminRequest(app, admin, 'POST', `/clients/${machine.clientId}/secret`, { grace_period_seconds: 2 });
    expect(rotated.status).toBe(200);
    const until = Date.parse(rotated.body.previous_secret_expires_at as string);
    expect(until).toBeGreaterThanOrEqual(before + 1500);
    expect(until).toBeLessThanOrEqual(Date.now() + 2500);
    expectTokens(await ccToken(machine.clientId, machine.clientSecret!));
    expectTokens(await ccToken(machine.clientId, rotated.body.client_secret as string));

    await sleep(Math.max(0, until - Date.now()) + 500);
    expectOAuthError(await ccToken(machine.clientId, machine.clientSecret!), 401, 'invalid_client');
    expectTokens(await ccToken(machine.clientId, rotated.body.client_secret as string));
  });
});
