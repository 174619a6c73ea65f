// Checklist G1–G5 and K3 against the admin API, black-box over HTTP with real tokens:
// G1 every route from the OpenAPI document refuses missing, bad, expired, wrong-audience,
// revoked and orphaned tokens and ignores cookies, CORS closed unless configured; G2 read
// vs write scopes, and who may obtain them at /token or through a login; G4 strict JSON
// bodies; G5 no secrets in any response and capped pages; K3 the audit trail is written
// for every change, cannot be changed, and changes are rate-limited; G3 the separate
// admin listener.
//
// Three Gatehouses: `main` for most checks, `short` with 1 s client-credentials tokens and
// a CORS allow-list, `limited` with ADMIN_RATE_LIMIT=100 and the admin API on its own port.
import { createHash, randomBytes } from 'node:crypto';
import { ADMIN_ROUTES } from '../../src/admin/routes.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import {
  adminRequest, basicAuthorization, clientCredentialsToken, createAdminClient, expectProblem, fillPath, problemFields, readAdminResponse,
  type AdminCredentials, type AdminResponse,
} from '../helpers/admin.js';
import { Browser, PASSWORD, REDIRECT_URI, TEST_ACTOR, createUser, registerClient, submitConsent, submitLogin } from '../helpers/oidc.js';

const REALM_CHALLENGE = 'Bearer realm="gatehouse-admin"';
const CONSOLE_ORIGIN = 'https://console.example';
const EVIL_ORIGIN = 'https://evil.example';

// ---------------------------------------------------------------------------------------
// Every admin response of this file is kept for the G5 grep at the end.

interface Recorded {
  operation: string;
  status: number;
  text: string;
}
const recorded: Recorded[] = [];

const routePatterns = ADMIN_ROUTES.map((route) => ({
  method: route.method.toUpperCase(),
  operationId: route.operationId,
  pattern: new RegExp(`^/admin${route.path.replace(/\{\w+\}/g, '[^/]+')}$`),
}));

function operationOf(method: string, url: string): string {
  const path = new URL(url, 'http://x').pathname;
  if (path === '/admin/openapi.json') return 'openapi';
  return routePatterns.find((route) => route.method === method && route.pattern.test(path))?.operationId ?? `${method} ${path}`;
}

async function call<T = any>(target: TestApp, token: string | undefined, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<AdminResponse<T>> {
  const response = await adminRequest<T>(target, token, method, path, body, headers);
  recorded.push({ operation: operationOf(method, `/admin${path}`), status: response.status, text: response.text });
  return response;
}

/** A request with a raw body and headers of the test's choosing (content types, sizes, bytes). */
async function raw(target: TestApp, token: string, method: string, path: string, body: string | Uint8Array, contentType: string | undefined): Promise<AdminResponse> {
  const response = await readAdminResponse(await fetch(`${target.adminOrigin}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(contentType ? { 'content-type': contentType } : {}) },
    body: body as RequestInit['body'],
  }));
  recorded.push({ operation: operationOf(method, `/admin${path}`), status: response.status, text: response.text });
  return response;
}

function ok(response: AdminResponse, status = 200): any {
  expect({ status: response.status, text: response.text.slice(0, 300) }).toEqual({ status, text: expect.any(String) });
  return response.body;
}

async function issue(target: TestApp, credentials: AdminCredentials, params: Record<string, string>): Promise<string> {
  const { status, body } = await clientCredentialsToken(target, credentials, params);
  expect({ status, body }).toEqual({ status: 200, body: expect.objectContaining({ access_token: expect.any(String) }) });
  return body.access_token!;
}

// ---------------------------------------------------------------------------------------
// The operations of the OpenAPI document, and concrete requests for each.

interface Operation {
  method: string;
  template: string;
  operationId: string;
  scope: string;
  hasBody: boolean;
}

let operations: Operation[] = [];

/** A body each operation would accept, so a refusal is about the credential and nothing else. */
const BODIES: Record<string, unknown> = {
  createClient: { client_name: 'Intruder', grant_types: ['client_credentials'], roles: ['admin'] },
  replaceClient: { client_name: 'Hacked' },
  updateClient: { client_name: 'Hacked', roles: ['admin'] },
  rotateClientSecret: { grace_period_seconds: 0 },
  createUser: { email: 'intruder@example.com', password: PASSWORD, roles: ['admin'] },
  updateUser: { roles: ['admin'] },
  setUserPassword: { password: 'the intruder password 1' },
  createRole: { name: 'intruder-role' },
  updateRole: { name: 'hacked-role' },
  createRegistrationToken: { expires_in: 3600 },
  createApi: { identifier: 'https://intruder.example/api' },
  updateApi: { name: 'Hacked' },
};

interface Fixtures {
  clientId: string;
  clientSecret: string;
  userId: string;
  userEmail: string;
  role: string;
  registrationTokenId: string;
  apiId: string;
}
const fx = {} as Fixtures;

/** `/clients/{client}`, `/users/{user}`, `/roles/{role}` → the fixtures' paths. */
function at(path: string): string {
  return path.replace('{client}', fx.clientId).replace('{user}', fx.userId).replace('{role}', encodeURIComponent(fx.role));
}

/** Where a route has no fixture here (one added to the table later), its {id} names nothing. */
const NO_FIXTURE = 'no-fixture-for-this-route';

function pathOf(op: Operation): string {
  const id = op.template.startsWith('/clients') ? fx.clientId
    : op.template.startsWith('/users') ? fx.userId
      : op.template.startsWith('/registration-tokens') ? fx.registrationTokenId
        : op.template.startsWith('/apis') ? fx.apiId : NO_FIXTURE;
  return fillPath(op.template, { id, name: fx.role, session: 'no-such-session', grant: 'no-such-grant' });
}

function send(target: TestApp, op: Operation, token: string | undefined, headers?: Record<string, string>): Promise<AdminResponse> {
  return call(target, token, op.method, pathOf(op), op.hasBody ? (BODIES[op.operationId] ?? {}) : undefined, headers);
}

/**
 * Sends every operation and collects what deviates from `check` (a message, or undefined
 * when the answer is right), so one failure lists every offending route.
 */
async function everyOperation(
  target: TestApp,
  ops: Operation[],
  request: (op: Operation) => Promise<AdminResponse>,
  check: (response: AdminResponse, op: Operation) => string | undefined,
): Promise<void> {
  expect(ops.length).toBeGreaterThan(0);
  const failures: string[] = [];
  for (const op of ops) {
    const response = await request(op);
    const problem = check(response, op);
    if (problem) failures.push(`${op.method} ${op.template} (${op.operationId}): ${problem} — ${response.status} ${response.text.slice(0, 160)}`);
  }
  expect(failures).toEqual([]);
}

function isProblem(response: AdminResponse, status: number): string | undefined {
  if (response.status !== status) return `status ${response.status}, expected ${status}`;
  if (!/^application\/problem\+json\b/.test(response.headers.get('content-type') ?? '')) return `content-type ${response.headers.get('content-type')}`;
  const body = response.body as { status?: unknown; type?: unknown } | undefined;
  if (body?.status !== status || typeof body.type !== 'string') return 'not a problem document';
  return undefined;
}

/** 401 with a Bearer challenge; `error` is the RFC 6750 error code the challenge must carry, or none for a bare challenge. */
function unauthorized(error: 'invalid_token' | 'none') {
  return (response: AdminResponse): string | undefined => {
    const problem = isProblem(response, 401);
    if (problem) return problem;
    const challenge = response.headers.get('www-authenticate') ?? '';
    if (!challenge.startsWith('Bearer realm=')) return `WWW-Authenticate ${challenge}`;
    if (error === 'none' && challenge !== REALM_CHALLENGE) return `WWW-Authenticate ${challenge}, expected a bare challenge`;
    if (error !== 'none' && !challenge.includes(`error="${error}"`)) return `WWW-Authenticate ${challenge}, expected error="${error}"`;
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------

let main: TestApp;
let short: TestApp;
let limited: TestApp;
let adminCreds: AdminCredentials;
let adminTok: string;
let readCreds: AdminCredentials;
let readTok: string;

/** What the fixtures look like through the API, plus the newest audit event: any change shows here. */
async function snapshot(): Promise<Record<string, unknown>> {
  const get = async (path: string) => ok(await call(main, adminTok, 'GET', path));
  return {
    client: await get(`/clients/${fx.clientId}`),
    user: await get(`/users/${fx.userId}`),
    role: await get(`/roles/${encodeURIComponent(fx.role)}`),
    roles: (await get('/roles')).items.map((role: any) => role.name),
    intruders: (await get('/users?q=intruder')).items,
    registrationTokens: (await get('/registration-tokens')).items.map((token: any) => token.id),
    api: await get(`/apis/${fx.apiId}`),
    keys: (await get('/keys')).items.map((key: any) => `${key.kid}:${key.status}`),
    newestAuditEvent: (await get('/audit-events?limit=1')).items[0]?.id,
  };
}

beforeAll(async () => {
  const started = await Promise.allSettled([
    // Limits would get in the way of the hundreds of requests below; K3 tests them on `limited`.
    startApp({ env: { ADMIN_RATE_LIMIT: '100000', ADMIN_IP_RATE_LIMIT: '100000' } }),
    startApp({ env: { CLIENT_CREDENTIALS_TTL: '1', ADMIN_CORS_ORIGINS: CONSOLE_ORIGIN, ADMIN_IP_RATE_LIMIT: '100000' } }),
    startApp({ env: { ADMIN_RATE_LIMIT: '100', ADMIN_PORT: '0' } }),
  ]);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    // Stop the ones that did start, or their servers keep jest from exiting.
    await Promise.all(started.map((result) => (result.status === 'fulfilled' ? result.value.destroy() : undefined)));
    throw failed.reason;
  }
  [main, short, limited] = started.map((result) => (result as PromiseFulfilledResult<TestApp>).value) as [TestApp, TestApp, TestApp];
  adminCreds = await createAdminClient(main, 'admin');
  adminTok = await issue(main, adminCreds, { scope: 'admin' });
  readCreds = await createAdminClient(main, 'admin:read');
  readTok = await issue(main, readCreds, { scope: 'admin:read' });

  const document = ok(await call(main, undefined, 'GET', '/openapi.json'));
  operations = Object.entries(document.paths as Record<string, Record<string, any>>).flatMap(([template, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      template,
      operationId: operation.operationId as string,
      scope: (operation.security as Array<{ oauth2: string[] }>)[0]!.oauth2[0]!,
      hasBody: operation.requestBody !== undefined,
    })));

  const client = ok(await call(main, adminTok, 'POST', '/clients', { client_name: 'Fixture', redirect_uris: [REDIRECT_URI] }), 201);
  fx.clientId = client.client.client_id;
  fx.clientSecret = client.client_secret;
  const user = ok(await call(main, adminTok, 'POST', '/users', { email: `fixture.${Date.now()}@example.com`, password: PASSWORD, name: 'Fixture' }), 201);
  fx.userId = user.id;
  fx.userEmail = user.email;
  fx.role = ok(await call(main, adminTok, 'POST', '/roles', { name: 'fixture-role' }), 201).name;
  fx.registrationTokenId = ok(await call(main, adminTok, 'POST', '/registration-tokens', {}), 201).id;
  fx.apiId = ok(await call(main, adminTok, 'POST', '/apis', { identifier: 'https://api.fixture.example', name: 'Fixture API', scopes: [{ name: 'things:read' }] }), 201).id;
});

afterAll(async () => {
  await Promise.all([main?.destroy(), short?.destroy(), limited?.destroy()]);
});

// ---------------------------------------------------------------------------------------

describe('G1 every admin route needs a valid admin access token; no cookies; CORS closed', () => {
  let before: Record<string, unknown>;

  beforeAll(async () => {
    before = await snapshot();
  });

  test('given the OpenAPI document, when its operations are counted, then it holds every route of the route table', () => {
    expect(operations.map((op) => `${op.method} ${op.template}`).sort())
      .toEqual(ADMIN_ROUTES.map((route) => `${route.method.toUpperCase()} ${route.path}`).sort());
  });

  test('given no Authorization header, when each route is called, then 401 problem with a bare Bearer realm challenge', async () => {
    await everyOperation(main, operations, (op) => send(main, op, undefined), unauthorized('none'));
  });

  test('given a garbage token, when each route is called, then 401 with error="invalid_token"', async () => {
    await everyOperation(main, operations, (op) => send(main, op, 'garbage-token-that-was-never-issued'), unauthorized('invalid_token'));
  });

  test.each([
    ['the admin client\'s id and secret as Basic credentials (a static key)', () => basicAuthorization(adminCreds.clientId, adminCreds.clientSecret)],
    ['another scheme with a valid token', () => `Token ${adminTok}`],
    ['Bearer without a token', () => 'Bearer'],
    ['a valid token with trailing junk', () => `Bearer ${adminTok} extra`],
    ['a valid token with one character more', () => `Bearer ${adminTok}x`],
    ['a token with characters outside RFC 6750 b64token', () => `Bearer ${adminTok.slice(0, 10)}"<>`],
  ])('given %s, when each route is called, then 401 with error="invalid_token"', async (_label, header) => {
    await everyOperation(main, operations, (op) => send(main, op, undefined, { authorization: header() }), unauthorized('invalid_token'));
  });

  test('given an expired admin token, when each route is called, then 401 with error="invalid_token"', async () => {
    const credentials = await createAdminClient(short, 'admin');
    const { status, body } = await clientCredentialsToken(short, credentials, { scope: 'admin' });
    expect({ status, expires_in: body.expires_in }).toEqual({ status: 200, expires_in: 1 });
    const expired = body.access_token!;
    expect((await call(short, expired, 'GET', '/roles')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await everyOperation(short, operations, (op) => send(short, op, expired), unauthorized('invalid_token'));
  });

  test('given client-credentials tokens that are not for the admin API (no admin scope), when each route is called, then 401 with error="invalid_token"', async () => {
    const plain = await createAdminClient(main, 'none');
    const notForAdmin = await issue(main, plain, {});
    // The admin client itself, asking for no admin scope, gets no admin token either.
    const adminWithoutScope = await issue(main, adminCreds, {});
    for (const wrongAudience of [notForAdmin, adminWithoutScope]) {
      await everyOperation(main, operations, (op) => send(main, op, wrongAudience), unauthorized('invalid_token'));
    }
  });

  describe('given a user holding the admin role who signed in to an ordinary client', () => {
    let browser: Browser;
    let userAccessToken: string;

    beforeAll(async () => {
      const boss = await createUser(main, { roles: ['admin'] });
      const client = await registerClient(main);
      browser = new Browser();
      const tokens = await signInThrough(main, client, boss.email, 'openid profile', browser);
      expect(tokens.status).toBe(200);
      userAccessToken = tokens.body.access_token!;
      expect((await fetch(`${main.origin}/me`, { headers: { authorization: `Bearer ${userAccessToken}` } })).status).toBe(200);
    });

    test('when each route is called with that user\'s access token (audience userinfo), then 401 with error="invalid_token"', async () => {
      await everyOperation(main, operations, (op) => send(main, op, userAccessToken), unauthorized('invalid_token'));
    });

    test('when each route is called with only that user\'s session cookies, then 401 with a bare challenge: cookies are ignored', async () => {
      const cookie = await browser.jar.getCookieString(main.issuer);
      expect(cookie).toMatch(/_session=/);
      await everyOperation(main, operations, (op) => send(main, op, undefined, { cookie, origin: EVIL_ORIGIN }), unauthorized('none'));
    });
  });

  test('given an admin token revoked at /token/revocation, when each route is called, then 401', async () => {
    const revoked = await issue(main, adminCreds, { scope: 'admin' });
    expect((await call(main, revoked, 'GET', '/roles')).status).toBe(200);
    const response = await fetch(`${main.origin}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basicAuthorization(adminCreds.clientId, adminCreds.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: revoked }),
    });
    expect(response.status).toBe(200);
    await everyOperation(main, operations, (op) => send(main, op, revoked), unauthorized('invalid_token'));
  });

  test('given the access token in the query string instead of the header, when a route is called, then 401', async () => {
    const response = await call(main, undefined, 'GET', `/clients?access_token=${adminTok}`);
    expect(unauthorized('none')(response)).toBeUndefined();
  });

  test('given an admin token of a client that was then disabled or deleted, when each route is called, then 401', async () => {
    const disabled = await createAdminClient(main, 'admin');
    const disabledToken = await issue(main, disabled, { scope: 'admin' });
    const deleted = await createAdminClient(main, 'admin');
    const deletedToken = await issue(main, deleted, { scope: 'admin' });
    expect((await call(main, deletedToken, 'GET', '/roles')).status).toBe(200);
    expect((await call(main, disabledToken, 'GET', '/roles')).status).toBe(200);

    ok(await call(main, adminTok, 'PATCH', `/clients/${disabled.clientId}`, { disabled: true }));
    ok(await call(main, adminTok, 'DELETE', `/clients/${deleted.clientId}`), 204);
    before = await snapshot();
    await everyOperation(main, operations, (op) => send(main, op, deletedToken), unauthorized('invalid_token'));
    await everyOperation(main, operations, (op) => send(main, op, disabledToken), unauthorized('invalid_token'));
  });

  test('given a path below /admin that is no route, or a method a route does not take, when called, then a 404 or 405 (with Allow) problem document', async () => {
    expectProblem(await call(main, adminTok, 'GET', '/no-such-route'), 404, 'not_found');
    expectProblem(await call(main, undefined, 'GET', '/clients/x/no-such-thing'), 404, 'not_found');
    const wrongMethod = await call(main, adminTok, 'PATCH', '/keys', {});
    expectProblem(wrongMethod, 405, 'method_not_allowed');
    expect(wrongMethod.headers.get('allow')).toMatch(/\bGET\b/);
  });

  test('given all the refused calls above, when the fixtures and the audit trail are read, then nothing changed', async () => {
    expect(await snapshot()).toEqual(before);
  });

  describe('CORS', () => {
    const preflight = (target: TestApp, origin: string) => fetch(`${target.adminOrigin}/admin/clients`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });

    test('given no allow-list, when a request or preflight comes from another origin, then no Access-Control-Allow-Origin', async () => {
      const response = await call(main, adminTok, 'GET', '/clients', undefined, { origin: EVIL_ORIGIN });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      const options = await preflight(main, EVIL_ORIGIN);
      expect(options.headers.get('access-control-allow-origin')).toBeNull();
      expect(options.headers.get('access-control-allow-credentials')).toBeNull();
    });

    test('given ADMIN_CORS_ORIGINS, when the listed origin calls, then it gets Access-Control-Allow-Origin and never Allow-Credentials; other origins get nothing', async () => {
      const credentials = await createAdminClient(short, 'admin');
      const token = await issue(short, credentials, { scope: 'admin' });
      const allowed = await call(short, token, 'GET', '/clients', undefined, { origin: CONSOLE_ORIGIN });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe(CONSOLE_ORIGIN);
      expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
      expect(allowed.headers.get('vary') ?? '').toMatch(/\borigin\b/i);
      // A refusal is readable by the console too (and still carries no credentials flag).
      const refused = await call(short, undefined, 'GET', '/clients', undefined, { origin: CONSOLE_ORIGIN, cookie: 'session=anything' });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBe(CONSOLE_ORIGIN);
      expect(refused.headers.get('access-control-allow-credentials')).toBeNull();

      const other = await call(short, token, 'GET', '/clients', undefined, { origin: EVIL_ORIGIN });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      const evilPreflight = await preflight(short, EVIL_ORIGIN);
      expect(evilPreflight.headers.get('access-control-allow-origin')).toBeNull();
    });

    test('given ADMIN_CORS_ORIGINS, when the listed origin sends a preflight for an authorized request, then the preflight allows it without credentials', async () => {
      const response = await preflight(short, CONSOLE_ORIGIN);
      expect({
        status: response.status,
        origin: response.headers.get('access-control-allow-origin'),
        methods: response.headers.get('access-control-allow-methods'),
        headers: (response.headers.get('access-control-allow-headers') ?? '').toLowerCase(),
        credentials: response.headers.get('access-control-allow-credentials'),
      }).toEqual({
        status: 204,
        origin: CONSOLE_ORIGIN,
        methods: expect.stringContaining('POST'),
        headers: expect.stringContaining('authorization'),
        credentials: null,
      });
    });
  });
});

// ---------------------------------------------------------------------------------------

/** A sign-in through the pages and the code redeemed; consent is given when asked. */
async function signInThrough(target: TestApp, client: { clientId: string; clientSecret?: string | undefined }, email: string, scope: string, browser = new Browser()) {
  const flow = await authorize(target, client, email, scope, 1, browser);
  if (!flow.code) throw new Error(`the sign-in did not return a code (after ${flow.consents} consents, status ${flow.status}): ${flow.page}`);
  return redeem(target, client, flow.code, flow.verifier);
}

interface Authorization {
  code?: string | undefined;
  error?: string | undefined;
  consents: number;
  status: number;
  page: string;
  verifier: string;
}

/** Drives /auth, the login page and up to `maxConsents` consent pages; reports where it ended. */
async function authorize(
  target: TestApp, client: { clientId: string }, email: string, scope: string, maxConsents: number, browser = new Browser(),
): Promise<Authorization> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${target.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: client.clientId, response_type: 'code', redirect_uri: REDIRECT_URI, scope, state: randomBytes(12).toString('base64url'),
    nonce: randomBytes(12).toString('base64url'), code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  let hop = await browser.follow(url.toString(), target.issuer);
  if (hop.status === 200 && hop.body.includes('/login"')) hop = await submitLogin(browser, target, hop, email);
  let consents = 0;
  while (hop.status === 200 && hop.body.includes('/confirm"') && consents < maxConsents) {
    hop = await submitConsent(browser, target, hop);
    consents += 1;
  }
  const page = hop.body.replace(/\s+/g, ' ').match(/<h1>.*?<\/h1>/)?.[0] ?? hop.body.slice(0, 200);
  if (!hop.location?.startsWith(REDIRECT_URI)) return { consents, status: hop.status, page, verifier };
  const callback = new URL(hop.location);
  return {
    code: callback.searchParams.get('code') ?? undefined, error: callback.searchParams.get('error') ?? undefined, consents, status: hop.status, page, verifier,
  };
}

async function redeem(target: TestApp, client: { clientId: string; clientSecret?: string | undefined }, code: string, verifier: string) {
  const response = await fetch(`${target.origin}/token`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  });
  return { status: response.status, body: (await response.json()) as { access_token?: string; scope?: string; error?: string } };
}

/** 403 with an insufficient_scope challenge naming the scope the route needs (admin unless said otherwise). */
function insufficientScope(response: AdminResponse, scope = 'admin'): string | undefined {
  const problem = isProblem(response, 403);
  if (problem) return problem;
  const challenge = response.headers.get('www-authenticate') ?? '';
  if (!challenge.startsWith('Bearer realm=') || !challenge.includes('error="insufficient_scope"') || !challenge.includes(`scope="${scope}"`)) {
    return `WWW-Authenticate ${challenge}`;
  }
  return undefined;
}

describe('G2 read and write scopes, and who may obtain them', () => {
  test('given the route table, when compared with the document, then exactly the mutating routes need admin and the others admin:read', () => {
    for (const route of ADMIN_ROUTES) {
      expect({ op: route.operationId, scope: route.scope }).toEqual({ op: route.operationId, scope: route.mutates ? 'admin' : 'admin:read' });
      expect(operations.find((op) => op.operationId === route.operationId)?.scope).toBe(route.scope);
    }
  });

  test('given an admin:read token, when every mutating route is called, then 403 insufficient_scope and nothing changes', async () => {
    const before = await snapshot();
    await everyOperation(main, operations.filter((op) => op.scope === 'admin'), (op) => send(main, op, readTok), (response) => insufficientScope(response));
    expect(await snapshot()).toEqual(before);
  });

  test.each([
    ['an admin:read token', () => readTok],
    ['an admin token', () => adminTok],
  ])('given %s, when every read route is called for existing objects, then 200 JSON', async (_label, token) => {
    await everyOperation(main, operations.filter((op) => op.scope === 'admin:read'), (op) => send(main, op, token()), (response, op) => {
      // A route this file has no fixture for can only say that its object does not exist.
      if (pathOf(op).includes(NO_FIXTURE)) return isProblem(response, 404);
      return response.status === 200 && /^application\/json\b/.test(response.headers.get('content-type') ?? '') ? undefined : 'expected 200 JSON';
    });
  });

  test('given clients without the matching role, when they ask /token for admin scopes, then 400 invalid_scope (or invalid_target), never a token', async () => {
    const none = await createAdminClient(main, 'none');
    for (const [credentials, params, error] of [
      [none, { scope: 'admin' }, 'invalid_scope'],
      [none, { scope: 'admin:read' }, 'invalid_scope'],
      [none, { resource: `${main.issuer}/admin` }, 'invalid_target'],
      [readCreds, { scope: 'admin' }, 'invalid_scope'],
      [readCreds, { scope: 'admin admin:read' }, 'invalid_scope'],
      [readCreds, { scope: 'admin', resource: `${main.issuer}/admin` }, 'invalid_scope'],
    ] as const) {
      const { status, body } = await clientCredentialsToken(main, credentials, params);
      expect({ params, status, error: body.error, token: body.access_token }).toEqual({ params, status: 400, error, token: undefined });
    }
    const { status, body } = await clientCredentialsToken(main, readCreds, { scope: 'admin:read' });
    expect({ status, scope: body.scope }).toEqual({ status: 200, scope: 'admin:read' });
  });

  describe('people signing in through an admin console client', () => {
    let consoleClient: { clientId: string; clientSecret: string };

    beforeAll(async () => {
      const created = ok(await call(main, adminTok, 'POST', '/clients', { client_name: 'Admin console', redirect_uris: [REDIRECT_URI], roles: ['admin'] }), 201);
      consoleClient = { clientId: created.client.client_id, clientSecret: created.client_secret };
    });

    test('given a user with no admin role, when they sign in asking for "openid admin", then they never obtain a token that works at /admin', async () => {
      const plain = await createUser(main);
      const flow = await authorize(main, consoleClient, plain.email, 'openid admin', 3);
      if (flow.code) {
        const tokens = await redeem(main, consoleClient, flow.code, flow.verifier);
        if (tokens.body.access_token) {
          expect(String(tokens.body.scope ?? '').split(' ')).not.toContain('admin');
          expect([401, 403]).toContain((await call(main, tokens.body.access_token, 'GET', '/users')).status);
        }
      }
    });

    test('given a user with no admin role, when they sign in asking for "openid admin", then after at most one consent page they are back at the client (no consent loop)', async () => {
      const plain = await createUser(main);
      const flow = await authorize(main, consoleClient, plain.email, 'openid admin', 1);
      expect({ backAtClient: Boolean(flow.code ?? flow.error), page: flow.code || flow.error ? '' : flow.page }).toEqual({ backAtClient: true, page: '' });
      expect(flow.consents).toBeLessThanOrEqual(1);
    });

    test('given a user holding admin, when they sign in asking for "openid admin", then the token works at /admin/users; when the role is taken away, the same token is refused at once with 403', async () => {
      const boss = await createUser(main, { roles: ['admin'] });
      const tokens = await signInThrough(main, consoleClient, boss.email, 'openid admin');
      expect({ status: tokens.status, scope: tokens.body.scope }).toEqual({ status: 200, scope: expect.stringContaining('admin') });
      const token = tokens.body.access_token!;
      expect((await call(main, token, 'GET', '/users')).status).toBe(200);
      const created = await call(main, token, 'POST', '/roles', { name: 'made-by-a-person' });
      expect(created.status).toBe(201);
      const [event] = ok(await call(main, adminTok, 'GET', '/audit-events?action=role.create&target_id=made-by-a-person')).items;
      expect(event.actor).toEqual(expect.objectContaining({ type: 'user', id: boss.id, client_id: consoleClient.clientId }));

      ok(await call(main, adminTok, 'DELETE', `/users/${boss.id}/roles/admin`));
      expect(insufficientScope(await call(main, token, 'GET', '/users'), 'admin:read')).toBeUndefined();
      expect(insufficientScope(await call(main, token, 'POST', '/roles', { name: 'after-demotion' }))).toBeUndefined();
    });

    test('given a user holding admin:read, when they sign in asking for "openid admin:read", then reads work and changes are 403', async () => {
      const reader = await createUser(main, { roles: ['admin:read'] });
      const tokens = await signInThrough(main, consoleClient, reader.email, 'openid admin:read');
      expect(tokens.status).toBe(200);
      const token = tokens.body.access_token!;
      expect((await call(main, token, 'GET', '/users')).status).toBe(200);
      expect(insufficientScope(await call(main, token, 'POST', '/roles', { name: 'by-a-reader' }))).toBeUndefined();
    });

    test('given a user holding admin with a working admin token, when the user is disabled, then the token is refused at once with 401', async () => {
      const boss = await createUser(main, { roles: ['admin'] });
      const token = (await signInThrough(main, consoleClient, boss.email, 'openid admin')).body.access_token!;
      expect((await call(main, token, 'GET', '/users')).status).toBe(200);
      ok(await call(main, adminTok, 'POST', `/users/${boss.id}/disable`));
      expect(unauthorized('invalid_token')(await call(main, token, 'GET', '/users'))).toBeUndefined();
    });
  });

  test('given a service account with a working admin token, when its admin role is taken away, then the same token is refused at once with 403', async () => {
    const service = await createAdminClient(main, 'admin');
    const token = await issue(main, service, { scope: 'admin' });
    expect((await call(main, token, 'POST', '/roles', { name: 'by-a-service' })).status).toBe(201);
    ok(await call(main, adminTok, 'DELETE', `/clients/${service.clientId}/roles/admin`));
    expect(insufficientScope(await call(main, token, 'POST', '/roles', { name: 'by-a-demoted-service' }))).toBeUndefined();
    expect(insufficientScope(await call(main, token, 'GET', '/roles'), 'admin:read')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------

describe('G4 strict input: unknown, forbidden, mistyped and malformed bodies are refused and change nothing', () => {
  let before: Record<string, unknown>;

  beforeAll(async () => {
    before = await snapshot();
  });

  function refused(response: AdminResponse, key?: string): void {
    expectProblem(response, 400, 'invalid_input');
    if (key) {
      // The problem must point at the offending member, by field or by message.
      const entries = (response.body as { errors?: Array<{ field: string; message: string }> }).errors ?? [];
      expect(entries.some((entry) => entry.field.includes(key) || entry.message.includes(key))).toBe(true);
    }
  }

  test.each(['client_id', 'created_at', 'updated_at', 'client_secret', 'secret_ciphertext', 'dynamic', 'previous_secret_expires_at', 'id'])(
    'given a client body carrying %s, when POSTed, PUT or PATCHed, then 400 and the client is unchanged',
    async (key) => {
      const value = key === 'dynamic' ? true : key.endsWith('_at') ? '2000-01-01T00:00:00.000Z' : 'attacker-chosen';
      refused(await call(main, adminTok, 'POST', '/clients', { client_name: 'Mass assignment', [key]: value }), key);
      refused(await call(main, adminTok, 'PUT', `/clients/${fx.clientId}`, { client_name: 'Mass assignment', redirect_uris: [REDIRECT_URI], [key]: value }), key);
      refused(await call(main, adminTok, 'PATCH', `/clients/${fx.clientId}`, { [key]: value }), key);
      expect(ok(await call(main, adminTok, 'GET', `/clients/${fx.clientId}`))).toEqual(before.client);
      expect(ok(await call(main, adminTok, 'GET', '/clients?q=Mass%20assignment')).items).toEqual([]);
    },
  );

  test.each(['id', 'password_hash', 'created_at', 'updated_at', 'sub', 'disabled_at'])(
    'given a user body carrying %s, when POSTed or PATCHed, then 400 and the user is unchanged',
    async (key) => {
      const value = key.endsWith('_at') ? '2000-01-01T00:00:00.000Z' : key === 'password_hash' ? '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA' : 'attacker-chosen';
      refused(await call(main, adminTok, 'POST', '/users', { email: 'mass.assignment@example.com', [key]: value }), key);
      refused(await call(main, adminTok, 'PATCH', `/users/${fx.userId}`, { [key]: value }), key);
      expect(ok(await call(main, adminTok, 'GET', `/users/${fx.userId}`))).toEqual(before.user);
      expect(ok(await call(main, adminTok, 'GET', '/users?email=mass.assignment%40example.com')).items).toEqual([]);
    },
  );

  test('given a password in a PATCH or roles in a password change, when sent, then 400: each route takes only its own fields', async () => {
    refused(await call(main, adminTok, 'PATCH', `/users/${fx.userId}`, { password: 'a brand new password 1' }), 'password');
    refused(await call(main, adminTok, 'PUT', `/users/${fx.userId}/password`, { password: 'a brand new password 1', roles: ['admin'] }), 'roles');
    refused(await call(main, adminTok, 'POST', '/roles', { name: 'built-in-lie', built_in: true }), 'built_in');
    refused(await call(main, adminTok, 'PATCH', `/roles/${fx.role}`, { id: '00000000-0000-4000-8000-000000000000' }), 'id');
    expect(ok(await call(main, adminTok, 'GET', `/users/${fx.userId}`))).toEqual(before.user);
    expect(ok(await call(main, adminTok, 'GET', `/roles/${fx.role}`))).toEqual(before.role);
  });

  test.each([
    ['POST', '/roles', '{"name":"proto-role","__proto__":{"built_in":true}}'],
    ['PATCH', '/clients/{client}', '{"__proto__":{"disabled":true,"roles":["admin"]}}'],
    ['PATCH', '/users/{user}', '{"claims":{"__proto__":{"isAdmin":true}}}'],
    ['PATCH', '/users/{user}', '{"constructor":{"prototype":{"isAdmin":true}}}'],
    ['POST', '/users', '{"email":"proto@example.com","constructor":{"prototype":{"isAdmin":true}}}'],
    ['POST', '/clients', '{"client_name":"Proto","jwks":{"keys":[{"kty":"EC","__proto__":{"isAdmin":true}}]}}'],
    ['PATCH', '/roles/{role}', '{"prototype":{"built_in":true}}'],
  ])('given %s %s with a prototype-polluting body, when sent, then 400 and nothing is polluted or changed', async (method, path, body) => {
    expectProblem(await call(main, adminTok, method, at(path), body), 400, 'invalid_input');
    const probe = {} as Record<string, unknown>;
    expect([probe.isAdmin, probe.built_in, probe.disabled, probe.roles]).toEqual([undefined, undefined, undefined, undefined]);
    expectProblem(await call(main, adminTok, 'GET', '/roles/proto-role'), 404, 'not_found');
    expect(ok(await call(main, adminTok, 'GET', `/clients/${fx.clientId}`))).toEqual(before.client);
    expect(ok(await call(main, adminTok, 'GET', `/users/${fx.userId}`))).toEqual(before.user);
  });

  test.each<[string, string, string, unknown, string]>([
    ['a number for client_name', 'POST', '/clients', { client_name: 123 }, 'client_name'],
    ['a string for redirect_uris', 'POST', '/clients', { client_name: 'x', redirect_uris: REDIRECT_URI }, 'redirect_uris'],
    ['an unsupported grant type', 'POST', '/clients', { client_name: 'x', grant_types: ['implicit'] }, 'grant_types[0]'],
    ['a plain-http redirect URI', 'POST', '/clients', { client_name: 'x', redirect_uris: ['http://evil.example/cb'] }, 'redirect_uris[0]'],
    ['an invalid contact', 'POST', '/clients', { client_name: 'x', contacts: ['not an email'] }, 'contacts[0]'],
    ['a public client with client_credentials', 'POST', '/clients', { client_name: 'x', token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] }, 'grant_types'],
    ['a string for first_party', 'PATCH', '/clients/{client}', { first_party: 'yes' }, 'first_party'],
    ['a number in roles', 'PATCH', '/clients/{client}', { roles: [42] }, 'roles[0]'],
    ['null for client_name', 'PUT', '/clients/{client}', { client_name: null }, 'client_name'],
    ['a string for grace_period_seconds', 'POST', '/clients/{client}/secret', { grace_period_seconds: '60' }, 'grace_period_seconds'],
    ['a grace period over a week', 'POST', '/clients/{client}/secret', { grace_period_seconds: 604801 }, 'grace_period_seconds'],
    ['an invalid email', 'POST', '/users', { email: 'not-an-email' }, 'email'],
    ['an unknown role', 'POST', '/users', { email: 'unknown.role@example.com', roles: ['no-such-role'] }, 'roles'],
    ['a string for email_verified', 'PATCH', '/users/{user}', { email_verified: 'true' }, 'email_verified'],
    ['a malformed birthdate claim', 'PATCH', '/users/{user}', { claims: { birthdate: 'yesterday' } }, 'claims.birthdate'],
    ['a username with @', 'PATCH', '/users/{user}', { username: 'root@example.com' }, 'username'],
    ['a number for password', 'PUT', '/users/{user}/password', { password: 12345678901234 }, 'password'],
    ['a role name with a space', 'POST', '/roles', { name: 'bad name' }, 'name'],
    ['a number for description', 'PATCH', '/roles/{role}', { description: 5 }, 'description'],
    ['a too short expires_in', 'POST', '/registration-tokens', { expires_in: 10 }, 'expires_in'],
    ['a zero limit', 'GET', '/clients?limit=0', undefined, 'limit'],
    ['a non-numeric limit', 'GET', '/users?limit=lots', undefined, 'limit'],
    ['a malformed since', 'GET', '/audit-events?since=yesterday', undefined, 'since'],
    ['an unknown target_type', 'GET', '/audit-events?target_type=planet', undefined, 'target_type'],
    ['a forged cursor', 'GET', '/users?cursor=Zm9yZ2Vk', undefined, 'cursor'],
    ['an array as the body', 'POST', '/roles', [], '(body)'],
  ])('given %s, when %s %s is sent, then 400 naming that field', async (_label, method, path, body, field) => {
    const response = await call(main, adminTok, method, at(path), body);
    expectProblem(response, 400, 'invalid_input');
    expect(problemFields(response)).toContain(field);
  });

  test('given unknown members in a body or query, when sent, then 400 has one errors entry per unknown member, named by its field', async () => {
    const body = await call(main, adminTok, 'POST', '/roles', { name: 'with-extras', foo: 1, bar: 2 });
    expectProblem(body, 400, 'invalid_input');
    expect(problemFields(body).sort()).toEqual(['bar', 'foo']);
    const nested = await call(main, adminTok, 'PATCH', at('/users/{user}'), { claims: { given_name: 'Ok', is_admin: true } });
    expectProblem(nested, 400, 'invalid_input');
    expect(problemFields(nested)).toEqual(['claims.is_admin']);
    const query = await call(main, adminTok, 'GET', '/clients?foo=1');
    expectProblem(query, 400, 'invalid_input');
    expect(problemFields(query)).toEqual(['foo']);
  });

  test.each([
    ['text/plain', '{"name":"typed-role"}'],
    ['application/x-www-form-urlencoded', 'name=typed-role'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\ntyped-role\r\n--x--\r\n'],
    ['application/xml', '<role><name>typed-role</name></role>'],
  ])('given a %s body, when sent to POST /roles, PUT /clients/{id}, PATCH /users/{id}, then 415 and nothing is created or changed', async (contentType, body) => {
    expectProblem(await raw(main, adminTok, 'POST', '/roles', body, contentType), 415, 'unsupported_media_type');
    expectProblem(await raw(main, adminTok, 'PUT', `/clients/${fx.clientId}`, body, contentType), 415, 'unsupported_media_type');
    expectProblem(await raw(main, adminTok, 'PATCH', `/users/${fx.userId}`, body, contentType), 415, 'unsupported_media_type');
    expectProblem(await call(main, adminTok, 'GET', '/roles/typed-role'), 404, 'not_found');
  });

  test('given a body over 64 KiB, when sent, then 413; a body just under it is parsed (400 for the field instead)', async () => {
    const big = JSON.stringify({ name: 'big-role', description: 'x'.repeat(65 * 1024) });
    expectProblem(await raw(main, adminTok, 'POST', '/roles', big, 'application/json'), 413, 'payload_too_large');
    expectProblem(await raw(main, adminTok, 'PATCH', `/clients/${fx.clientId}`, JSON.stringify({ client_name: 'x'.repeat(70 * 1024) }), 'application/json'), 413, 'payload_too_large');
    const under = await raw(main, adminTok, 'POST', '/roles', JSON.stringify({ name: 'big-role', description: 'x'.repeat(63 * 1024) }), 'application/json');
    expectProblem(under, 400, 'invalid_input');
    expect(problemFields(under)).toEqual(['description']);
    expectProblem(await call(main, adminTok, 'GET', '/roles/big-role'), 404, 'not_found');
  });

  test.each<[string, string | Uint8Array]>([
    ['truncated JSON', '{"name":'],
    ['single quotes', "{'name':'bad-json'}"],
    ['a trailing comma', '{"name":"bad-json",}'],
    ['a bare string', '"bad-json"'],
    ['a bare number', '42'],
    ['null', 'null'],
    ['10,000 nested arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
    ['an empty body', ''],
    ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['a NUL byte in a string', '{"name":"nul\\u0000role"}'],
  ])('given %s as an application/json body, when POSTed to /roles, then 400 problem, never a 5xx', async (_label, body) => {
    const response = await raw(main, adminTok, 'POST', '/roles', body, 'application/json');
    expectProblem(response, 400, 'invalid_input');
  });

  test('given all the refused bodies above, when the fixtures and the audit trail are read, then nothing changed and nothing was polluted', async () => {
    expect(await snapshot()).toEqual(before);
    const probe = {} as Record<string, unknown>;
    expect(Object.keys(Object.getPrototypeOf(probe) as object)).toEqual([]);
    expect([probe.isAdmin, probe.built_in, probe.disabled]).toEqual([undefined, undefined, undefined]);
  });
});

// ---------------------------------------------------------------------------------------

describe('G5 pages are capped', () => {
  test('given more than 200 users and audit events, when ?limit=100000 is asked, then a page holds at most 200 items and points to the next', async () => {
    for (let i = 0; i < 210; i += 1) {
      await main.app.services.accounts.createUser({ email: `bulk${i}.${Date.now()}@example.com` }, TEST_ACTOR);
    }
    for (const path of ['/users', '/audit-events']) {
      const page = ok(await call(main, adminTok, 'GET', `${path}?limit=100000`));
      expect({ path, items: page.items.length, next: typeof page.next_cursor }).toEqual({ path, items: 200, next: 'string' });
      const rest = ok(await call(main, adminTok, 'GET', `${path}?limit=100000&cursor=${encodeURIComponent(page.next_cursor)}`));
      expect(rest.items.length).toBeGreaterThan(0);
      expect(rest.items.length).toBeLessThanOrEqual(200);
    }
    const clients = ok(await call(main, adminTok, 'GET', '/clients?limit=100000'));
    expect(clients.items.length).toBeLessThanOrEqual(200);
  });

  test('given more than 200 roles, when GET /roles?limit=100000 is asked, then a page holds at most 200 roles and points to the next', async () => {
    for (let i = 0; i < 201; i += 1) await main.app.services.roles.create({ name: `bulk-role-${i}` }, TEST_ACTOR);
    const page = ok(await call(main, adminTok, 'GET', '/roles?limit=100000'));
    expect({ atMost200: page.items.length <= 200, count: page.items.length, next: typeof page.next_cursor }).toEqual({ atMost200: true, count: expect.any(Number), next: 'string' });
  });

  test('given more than 200 registration tokens, when GET /registration-tokens?limit=100000 is asked, then a page holds at most 200 and points to the next', async () => {
    for (let i = 0; i < 201; i += 1) await main.app.services.registrationTokens.create({ expires_in: 3600 }, TEST_ACTOR);
    const page = ok(await call(main, adminTok, 'GET', '/registration-tokens?limit=100000'));
    expect({ atMost200: page.items.length <= 200, count: page.items.length, next: typeof page.next_cursor }).toEqual({ atMost200: true, count: expect.any(Number), next: 'string' });
  });

  test('given more than 1000 live registration tokens, when the one that expires last is revoked, then 204 and /reg refuses it', async () => {
    for (let i = 0; i < 800; i += 1) await main.app.services.registrationTokens.create({ expires_in: 3600 }, TEST_ACTOR);
    const last = ok(await call(main, adminTok, 'POST', '/registration-tokens', { expires_in: 30 * 24 * 3600 }), 201);
    ok(await call(main, adminTok, 'DELETE', `/registration-tokens/${encodeURIComponent(last.id)}`), 204);
    const registration = await fetch(`${main.origin}/reg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${last.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'After revocation', redirect_uris: ['https://rp.example/callback'] }),
    });
    expect(registration.status).toBe(401);
  });
});

// ---------------------------------------------------------------------------------------

describe('K3 every change is audited in an append-only trail, and changes are rate-limited', () => {
  test('given an admin change, when the trail is read, then one event names the actor, action, target, request and the state after', async () => {
    const response = await call(main, adminTok, 'POST', '/roles', { name: 'k3-role', description: 'audited' });
    expect(response.status).toBe(201);
    const events = ok(await call(main, adminTok, 'GET', '/audit-events?action=role.create&target_id=k3-role')).items;
    expect(events).toEqual([expect.objectContaining({
      actor: { type: 'client', id: adminCreds.clientId, client_id: null, ip: expect.any(String), user_agent: expect.any(String) },
      action: 'role.create',
      target: { type: 'role', id: 'k3-role' },
      request_id: response.headers.get('x-request-id'),
      before: null,
      after: expect.objectContaining({ name: 'k3-role', description: 'audited' }),
    })]);
  });

  test('given the audit table, when the app\'s own database handle tries UPDATE, DELETE or TRUNCATE, then each is rejected and the events stay', async () => {
    const before = ok(await call(main, adminTok, 'GET', '/audit-events?action=role.create&target_id=k3-role')).items;
    const prisma = main.db.prisma;
    // The statements reach the table (a read through the same handle works)...
    expect(await prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM audit_events WHERE target_id = 'k3-role'`)).toEqual([{ n: 1 }]);
    // ...and the trigger refuses each change. PGlite's driver adapter drops the database's
    // message, so the trigger's text is checked on PostgreSQL only.
    const refusal = usingPostgres ? /append-only/ : /./;
    await expect(prisma.$executeRawUnsafe(`UPDATE audit_events SET action = 'forged' WHERE target_id = 'k3-role'`)).rejects.toThrow(refusal);
    await expect(prisma.$executeRawUnsafe(`DELETE FROM audit_events WHERE target_id = 'k3-role'`)).rejects.toThrow(refusal);
    await expect(prisma.$executeRawUnsafe('DELETE FROM audit_events')).rejects.toThrow(refusal);
    await expect(prisma.$executeRawUnsafe('TRUNCATE audit_events')).rejects.toThrow(refusal);
    await expect(prisma.auditEvent.updateMany({ data: { action: 'forged' } })).rejects.toThrow();
    await expect(prisma.auditEvent.deleteMany({})).rejects.toThrow();
    expect(ok(await call(main, adminTok, 'GET', '/audit-events?action=role.create&target_id=k3-role')).items).toEqual(before);
    expect(ok(await call(main, adminTok, 'GET', '/audit-events?action=forged')).items).toEqual([]);
  });

  test('given ADMIN_RATE_LIMIT=100, when one client makes 100 changes, then all succeed with 100 audit events; the 101st is 429 with Retry-After and no event; another client is unaffected', async () => {
    const first = await createAdminClient(limited, 'admin');
    const firstToken = await issue(limited, first, { scope: 'admin' });
    for (let batch = 0; batch < 10; batch += 1) {
      const responses = await Promise.all(Array.from({ length: 10 }, (_unused, i) => call(limited, firstToken, 'POST', '/roles', { name: `rl-${batch * 10 + i}` })));
      expect(responses.map((response) => response.status)).toEqual(Array(10).fill(201));
    }
    const refusedResponse = await call(limited, firstToken, 'POST', '/roles', { name: 'rl-100' });
    expectProblem(refusedResponse, 429, 'too_many_requests');
    const retryAfter = Number(refusedResponse.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    // The limit is the actor's, not the token's.
    const secondToken = await issue(limited, first, { scope: 'admin' });
    expectProblem(await call(limited, secondToken, 'POST', '/roles', { name: 'rl-101' }), 429, 'too_many_requests');
    // Reads are not changes.
    expect((await call(limited, firstToken, 'GET', '/roles/rl-99')).status).toBe(200);
    expectProblem(await call(limited, firstToken, 'GET', '/roles/rl-100'), 404, 'not_found');

    const other = await createAdminClient(limited, 'admin');
    const otherToken = await issue(limited, other, { scope: 'admin' });
    expect((await call(limited, otherToken, 'POST', '/roles', { name: 'rl-other' })).status).toBe(201);

    const events = ok(await call(limited, otherToken, 'GET', `/audit-events?action=role.create&actor=${first.clientId}&limit=200`));
    expect(events.next_cursor).toBeNull();
    expect(events.items.map((event: any) => event.target.id).sort()).toEqual(Array.from({ length: 100 }, (_unused, i) => `rl-${i}`).sort());
  });
});

// ---------------------------------------------------------------------------------------

describe('G3 the admin API on its own listener (ADMIN_PORT)', () => {
  let token: string;

  beforeAll(async () => {
    token = await issue(limited, await createAdminClient(limited, 'admin'), { scope: 'admin' });
  });

  test('given ADMIN_PORT, when /admin is asked on the public origin, then 404 that is not the admin API\'s problem document, with or without a token', async () => {
    expect(limited.adminOrigin).not.toBe(limited.origin);
    for (const [path, headers] of [
      ['/admin/clients', {}],
      ['/admin/clients', { authorization: `Bearer ${token}` }],
      ['/admin/openapi.json', {}],
      ['/admin/users', { authorization: `Bearer ${token}`, accept: 'application/json' }],
    ] as const) {
      const response = await fetch(`${limited.origin}${path}`, { headers });
      const text = await response.text();
      recorded.push({ operation: `public ${path}`, status: response.status, text });
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(response.headers.get('content-type') ?? '').not.toMatch(/problem\+json/);
      expect(text).not.toContain('urn:gatehouse:problem');
      expect(response.headers.get('www-authenticate')).toBeNull();
    }
  });

  test('given ADMIN_PORT, when the admin listener is called with a token, then it serves the API, and it serves nothing of the OpenID provider', async () => {
    expect(ok(await call(limited, token, 'GET', '/clients')).items.length).toBeGreaterThan(0);
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      expect((await fetch(`${limited.adminOrigin}${path}`)).status).toBe(404);
    }
    expect((await fetch(`${limited.adminOrigin}/token`, { method: 'POST', body: 'grant_type=client_credentials' })).status).toBe(404);
  });
});

// ---------------------------------------------------------------------------------------

describe('G5 no secret, hash or private key in any response (every admin response of this file)', () => {
  const SECRET_BEARING = new Set(['createClient', 'replaceClient', 'updateClient', 'rotateClientSecret']);

  test('given every admin response collected above, when searched, then no hash, private key member, sealed secret, and secrets only where they are issued', () => {
    expect(recorded.length).toBeGreaterThan(800);
    for (const operation of ['listUsers', 'getUser', 'listKeys', 'listAuditEvents', 'listClients', 'getClient', 'listRegistrationTokens']) {
      expect(recorded.some((entry) => entry.operation === operation && entry.status === 200)).toBe(true);
    }
    const issued: string[] = [fx.clientSecret, adminCreds.clientSecret, readCreds.clientSecret];
    for (const entry of recorded) {
      if (entry.status >= 300) continue;
      const body = (() => {
        try {
          return JSON.parse(entry.text) as { client_secret?: unknown; token?: unknown };
        } catch {
          return {};
        }
      })();
      if (SECRET_BEARING.has(entry.operation) && typeof body.client_secret === 'string') issued.push(body.client_secret);
      if (entry.operation === 'createRegistrationToken' && typeof body.token === 'string') issued.push(body.token);
    }
    const leaks: string[] = [];
    for (const entry of recorded) {
      const where = `${entry.operation} ${entry.status}`;
      if (/argon2/i.test(entry.text)) leaks.push(`${where}: argon2`);
      if (/"d"\s*:/.test(entry.text)) leaks.push(`${where}: "d":`);
      // A 400 names the unknown members G4 sent (e.g. "secret_ciphertext"); anything else must not.
      if (entry.status !== 400 && /secret_ciphertext|secretCiphertext|password_hash|passwordHash|privateJwk/i.test(entry.text)) leaks.push(`${where}: stored secret column`);
      if (!SECRET_BEARING.has(entry.operation) && entry.operation !== 'openapi' && /"client_secret"\s*:/.test(entry.text)) leaks.push(`${where}: "client_secret":`);
      for (const secret of issued) {
        const issuedHere = entry.text.includes(secret) && (SECRET_BEARING.has(entry.operation) || entry.operation === 'createRegistrationToken');
        if (entry.text.includes(secret) && !issuedHere) leaks.push(`${where}: an issued secret`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
