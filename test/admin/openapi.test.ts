// The admin API's OpenAPI 3.1 document against the route table and against what the API
// really answers: every route is documented with its method, operationId and scope, and
// every documented response schema accepts the responses a scripted run of every route
// gets. The schemas are checked with the small JSON Schema (2020-12) validator below,
// which covers the keywords the document uses and refuses any other, so nothing is
// skipped silently.
import { ADMIN_ROUTES, type AdminRoute } from '../../src/admin/routes.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { adminRequest, clientCredentialsToken, createAdminClient, userTokens, type AdminResponse } from '../helpers/admin.js';
import { PASSWORD, REDIRECT_URI, TEST_ACTOR } from '../helpers/oidc.js';

// ---------------------------------------------------------------------------------------
// A JSON Schema validator for the subset zod emits.

type Schema = boolean | { [keyword: string]: unknown };

const ANNOTATIONS = new Set(['description', 'default', 'title', 'examples', 'format', 'deprecated', 'readOnly', 'writeOnly', '$comment']);
const ASSERTIONS = new Set([
  '$ref', 'type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', 'not', 'properties', 'required', 'additionalProperties', 'propertyNames',
  'items', 'prefixItems', 'minItems', 'maxItems', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'object':
      return typeOf(value) === 'object';
    default:
      return typeOf(value) === type;
  }
}

function regex(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return new RegExp(pattern);
  }
}

/** The problems with `value` against `schema` (empty when it validates). */
function validate(value: unknown, schema: Schema, root: Record<string, unknown>, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  const unknownKeywords = Object.keys(schema).filter((keyword) => !ASSERTIONS.has(keyword) && !ANNOTATIONS.has(keyword));
  if (unknownKeywords.length) return [`${at}: the test validator does not implement ${unknownKeywords.join(', ')}`];
  const problems: string[] = [];

  if (typeof schema.$ref === 'string') {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], root);
    if (target === undefined) return [`${at}: unresolvable $ref ${schema.$ref}`];
    problems.push(...validate(value, target as Schema, root, at));
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((type) => hasType(value, type))) return [...problems, `${at}: expected ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) {
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) problems.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((option) => validate(value, option as Schema, root, at).length === 0)) {
    problems.push(`${at}: matches none of anyOf`);
  }
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter((option) => validate(value, option as Schema, root, at).length === 0).length !== 1) {
    problems.push(`${at}: does not match exactly one of oneOf`);
  }
  if (Array.isArray(schema.allOf)) for (const part of schema.allOf) problems.push(...validate(value, part as Schema, root, at));
  if (schema.not !== undefined && validate(value, schema.not as Schema, root, at).length === 0) problems.push(`${at}: matches "not"`);

  if (typeof value === 'string') {
    const length = [...value].length;
    if (typeof schema.minLength === 'number' && length < schema.minLength) problems.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) problems.push(`${at}: longer than ${schema.maxLength}`);
    if (typeof schema.pattern === 'string' && !regex(schema.pattern).test(value)) problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) problems.push(`${at}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) problems.push(`${at}: above ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) problems.push(`${at}: not above ${schema.exclusiveMinimum}`);
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum) problems.push(`${at}: not below ${schema.exclusiveMaximum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) problems.push(`${at}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) problems.push(`${at}: more than ${schema.maxItems} items`);
    const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as Schema[]) : [];
    value.forEach((item, index) => {
      const itemSchema = index < prefix.length ? prefix[index] : (schema.items as Schema | undefined);
      if (itemSchema !== undefined) problems.push(...validate(item, itemSchema, root, `${at}[${index}]`));
    });
  }
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of (schema.required ?? []) as string[]) if (!(name in object)) problems.push(`${at}: missing required ${name}`);
    for (const [name, member] of Object.entries(object)) {
      if (schema.propertyNames !== undefined) problems.push(...validate(name, schema.propertyNames as Schema, root, `${at}{${name}}`));
      if (name in properties) problems.push(...validate(member, properties[name]!, root, `${at}.${name}`));
      else if (schema.additionalProperties !== undefined) {
        if (schema.additionalProperties === false) problems.push(`${at}: ${name} is not a documented property`);
        else problems.push(...validate(member, schema.additionalProperties as Schema, root, `${at}.${name}`));
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------

let app: TestApp;
let token: string;
let readToken: string;
let doc: any;

function operationOf(route: AdminRoute): any {
  return doc.paths?.[route.path]?.[route.method];
}

function routeNamed(operationId: string): AdminRoute {
  const route = ADMIN_ROUTES.find((candidate) => candidate.operationId === operationId);
  if (!route) throw new Error(`no route ${operationId}`);
  return route;
}

/** Objects the scripted run creates and later refers to. */
const state: Record<string, string> = {};

beforeAll(async () => {
  app = await startApp({ env: { ADMIN_RATE_LIMIT: '100000' } });
  const admin = await createAdminClient(app, 'admin');
  token = (await clientCredentialsToken(app, admin, { scope: 'admin' })).body.access_token!;
  const reader = await createAdminClient(app, 'admin:read');
  readToken = (await clientCredentialsToken(app, reader, { scope: 'admin:read' })).body.access_token!;
  const response = await adminRequest(app, undefined, 'GET', '/openapi.json');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
  doc = response.body;

  // A user with a live session and grant, for the session and grant routes.
  const portal = await app.app.services.clients.createClient({ client_name: 'Portal', redirect_uris: [REDIRECT_URI] }, TEST_ACTOR);
  const signedIn = await app.app.services.accounts.createUser({ email: `signed.in.${Date.now()}@example.com`, password: PASSWORD }, TEST_ACTOR);
  state.signedIn = signedIn.id;
  const tokens = await userTokens(app, { clientId: portal.client.client_id, clientSecret: portal.client_secret }, signedIn.email, { scope: 'openid offline_access' });
  expect(tokens.status).toBe(200);
  state.doomedClient = (await app.app.services.clients.createClient({ client_name: 'Doomed', grant_types: ['client_credentials'] }, TEST_ACTOR)).client.client_id;
});

afterAll(async () => {
  await app?.destroy();
});

describe('the document', () => {
  test('given GET /admin/openapi.json, when read, then it is OpenAPI 3.1.0 with an OAuth2 client-credentials scheme at this issuer\'s token endpoint', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual(expect.objectContaining({ title: expect.any(String), version: expect.any(String) }));
    expect(doc.servers).toEqual([{ url: `${app.issuer}/admin` }]);
    expect(doc.components.securitySchemes.oauth2).toEqual(expect.objectContaining({
      type: 'oauth2',
      flows: { clientCredentials: { tokenUrl: `${app.issuer}/token`, scopes: { admin: expect.any(String), 'admin:read': expect.any(String) } } },
    }));
  });

  test.each(ADMIN_ROUTES.map((route) => [route.operationId, route] as const))(
    'given route %s of the route table, when the document is read, then it appears with its method, operationId and a security requirement naming its scope',
    (_id, route) => {
      const operation = operationOf(route);
      expect(operation).toBeDefined();
      expect(operation.operationId).toBe(route.operationId);
      expect(operation.security).toEqual([{ oauth2: [route.scope] }]);
      expect(operation.tags).toEqual([route.tag]);
      expect(Object.keys(operation.responses)).toContain(String(route.response.status));
    },
  );

  test('given the document, when its operations are listed, then there are exactly the routes of the table, each operationId once', () => {
    const documented: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(methods)) documented.push(`${method} ${path} ${operation.operationId}`);
    }
    expect(documented.sort()).toEqual(ADMIN_ROUTES.map((route) => `${route.method} ${route.path} ${route.operationId}`).sort());
    const ids = documented.map((entry) => entry.split(' ')[2]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('given every operation, when its parameters are read, then each {placeholder} of the path is a required path parameter and nothing else is', () => {
    for (const route of ADMIN_ROUTES) {
      const placeholders = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
      const declared = ((operationOf(route).parameters ?? []) as Array<{ name: string; in: string; required: boolean }>).filter((parameter) => parameter.in === 'path');
      expect({ op: route.operationId, path: declared.map((parameter) => parameter.name).sort() }).toEqual({ op: route.operationId, path: placeholders });
      expect(declared.every((parameter) => parameter.required)).toBe(true);
    }
  });

  test('given every operation, when its responses are read, then refusals are documented as problem documents (401, 403, 429; 400/413/415 with a body; 404 with parameters)', () => {
    for (const route of ADMIN_ROUTES) {
      const responses = operationOf(route).responses as Record<string, any>;
      const expected = ['401', '403', '429', ...(route.body ? ['400', '413', '415'] : []), ...(route.params ? ['404'] : [])];
      for (const status of expected) {
        expect({ op: route.operationId, status, content: responses[status]?.content }).toEqual({
          op: route.operationId, status, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        });
      }
    }
  });

  test('given every request body schema, when read, then it refuses unknown members (additionalProperties: false)', () => {
    for (const route of ADMIN_ROUTES.filter((candidate) => candidate.body)) {
      const schema = operationOf(route).requestBody.content['application/json'].schema;
      expect({ op: route.operationId, additionalProperties: schema.additionalProperties }).toEqual({ op: route.operationId, additionalProperties: false });
      expect(operationOf(route).requestBody.required).toBe(!route.bodyOptional);
    }
  });
});

describe('the test validator', () => {
  test('given documents that break a schema, when validated, then each break is reported', () => {
    const user = operationOf(routeNamed('getUser')).responses['200'].content['application/json'].schema;
    const good = {
      id: '7d5c5c0e-6b1f-4a8e-9d1c-2f3e4a5b6c7d', email: 'a@example.com', username: null, name: null, email_verified: false, disabled: false,
      roles: [], claims: {}, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z',
    };
    expect(validate(good, user, doc)).toEqual([]);
    const { email: _email, ...missing } = good;
    expect(validate(missing, user, doc)).toEqual(['$: missing required email']);
    expect(validate({ ...good, password_hash: 'x' }, user, doc)).toEqual(['$: password_hash is not a documented property']);
    expect(validate({ ...good, disabled: 'no' }, user, doc)).toEqual(['$.disabled: expected boolean, got string']);
    expect(validate({ ...good, created_at: 'yesterday' }, user, doc)).toHaveLength(1);
    expect(validate({ ...good, id: 'not-a-uuid' }, user, doc)).toHaveLength(1);
    expect(validate({ ...good, roles: [1] }, user, doc)).toEqual(['$.roles[0]: expected string, got number']);
    const problem = doc.components.schemas.Problem;
    expect(validate({ type: 'x', title: 'x', status: 400.5, detail: 'x', instance: '/x' }, problem, doc)).toEqual(['$.status: expected integer, got number']);
  });
});

// ---------------------------------------------------------------------------------------
// Every route called once, in an order where each finds what it needs.

type Step = [operationId: string, request: () => { path: string; body?: unknown }, keep?: (body: any) => void];

const SCRIPT: Step[] = [
  ['createClient', () => ({
    path: '/clients',
    body: { client_name: 'Documented', redirect_uris: [REDIRECT_URI], logo_uri: 'https://docs.example/logo.png', contacts: ['ops@example.com'], scope: 'openid email' },
  }), (body) => { state.client = body.client.client_id; }],
  ['listClients', () => ({ path: '/clients?limit=3' })],
  ['getClient', () => ({ path: `/clients/${state.client}` })],
  ['replaceClient', () => ({ path: `/clients/${state.client}`, body: { client_name: 'Documented v2', redirect_uris: [REDIRECT_URI], first_party: true } })],
  ['updateClient', () => ({ path: `/clients/${state.client}`, body: { client_name: 'Documented v3', backchannel_logout_uri: 'https://docs.example/logout' } })],
  ['rotateClientSecret', () => ({ path: `/clients/${state.client}/secret`, body: { grace_period_seconds: 60 } })],
  ['assignClientRole', () => ({ path: `/clients/${state.client}/roles/admin:read` })],
  ['removeClientRole', () => ({ path: `/clients/${state.client}/roles/admin:read` })],
  ['deleteClient', () => ({ path: `/clients/${state.doomedClient}` })],
  ['createUser', () => ({
    path: '/users',
    body: { email: `documented.${Date.now()}@example.com`, username: 'documented', password: PASSWORD, name: 'Doc U. Mented', claims: { given_name: 'Doc', address: { locality: 'Lyon' } } },
  }), (body) => { state.user = body.id; }],
  ['listUsers', () => ({ path: '/users?limit=3' })],
  ['getUser', () => ({ path: `/users/${state.user}` })],
  ['sendVerificationEmail', () => ({ path: `/users/${state.user}/verification-email` })],
  ['updateUser', () => ({ path: `/users/${state.user}`, body: { name: 'Renamed', email_verified: true } })],
  ['setUserPassword', () => ({ path: `/users/${state.user}/password`, body: { password: 'another fine passphrase 7' } })],
  ['disableUser', () => ({ path: `/users/${state.user}/disable` })],
  ['enableUser', () => ({ path: `/users/${state.user}/enable` })],
  ['assignUserRole', () => ({ path: `/users/${state.user}/roles/admin:read` })],
  ['removeUserRole', () => ({ path: `/users/${state.user}/roles/admin:read` })],
  ['listUserSessions', () => ({ path: `/users/${state.signedIn}/sessions` }), (body) => { state.session = body.items[0]?.id; }],
  ['listUserGrants', () => ({ path: `/users/${state.signedIn}/grants` }), (body) => { state.grant = body.items[0]?.id; }],
  ['revokeUserGrant', () => ({ path: `/users/${state.signedIn}/grants/${encodeURIComponent(state.grant!)}` })],
  ['revokeUserSession', () => ({ path: `/users/${state.signedIn}/sessions/${encodeURIComponent(state.session!)}` })],
  ['revokeUserSessions', () => ({ path: `/users/${state.user}/sessions` })],
  ['getUserLockout', () => ({ path: `/users/${state.user}/lockout` })],
  ['unlockUser', () => ({ path: `/users/${state.user}/unlock` })],
  ['resetUserMfa', () => ({ path: `/users/${state.user}/mfa` })],
  ['deleteUser', () => ({ path: `/users/${state.user}` })],
  ['createRole', () => ({ path: '/roles', body: { name: 'documented', description: 'A documented role' } })],
  ['listRoles', () => ({ path: '/roles' })],
  ['getRole', () => ({ path: '/roles/documented' })],
  ['updateRole', () => ({ path: '/roles/documented', body: { name: 'documented-2', description: 'Renamed' } })],
  ['deleteRole', () => ({ path: '/roles/documented-2' })],
  ['listKeys', () => ({ path: '/keys' })],
  ['rotateKeys', () => ({ path: '/keys/rotate' })],
  ['createRegistrationToken', () => ({ path: '/registration-tokens', body: { expires_in: 600 } }), (body) => { state.registrationToken = body.id; }],
  ['listRegistrationTokens', () => ({ path: '/registration-tokens' })],
  ['revokeRegistrationToken', () => ({ path: `/registration-tokens/${encodeURIComponent(state.registrationToken!)}` })],
  ['createApi', () => ({
    path: '/apis',
    body: { identifier: 'https://api.docs.example', name: 'Documented API', scopes: [{ name: 'things:read', description: 'Read things' }], access_token_ttl: 600 },
  }), (body) => { state.api = body.id; }],
  ['listApis', () => ({ path: '/apis' })],
  ['getApi', () => ({ path: `/apis/${state.api}` })],
  ['updateApi', () => ({ path: `/apis/${state.api}`, body: { name: 'Documented API v2', signing_alg: 'ES256' } })],
  ['deleteApi', () => ({ path: `/apis/${state.api}` })],
  ['listAuditEvents', () => ({ path: '/audit-events?limit=50' })],
];

describe('documented responses against real ones', () => {
  test('given the script below, when compared with the route table, then it calls every route exactly once', () => {
    expect(SCRIPT.map(([id]) => id).sort()).toEqual(ADMIN_ROUTES.map((route) => route.operationId).sort());
  });

  // Every row gets all three arguments, or jest would take the missing one for a done callback.
  test.each(SCRIPT.map(([id, request, keep]) => [id, request, keep ?? null] as const))('given the state so far, when %s is called, then the status and body are the documented success response', async (operationId, request, keep) => {
    const route = routeNamed(operationId);
    const { path, body } = request();
    const template = new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/?]+')}(\\?|$)`);
    expect(path).toMatch(template);
    const operation = operationOf(route);
    if (body !== undefined) {
      expect(validate(body, operation.requestBody.content['application/json'].schema, doc, 'request')).toEqual([]);
    }
    const response = await adminRequest(app, token, route.method.toUpperCase(), path, body);
    expect({ status: response.status, text: response.text.slice(0, 300) }).toEqual({ status: route.response.status, text: expect.any(String) });
    const documented = operation.responses[String(route.response.status)];
    if (documented.content) {
      expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
      expect(validate(response.body, documented.content['application/json'].schema, doc)).toEqual([]);
    } else {
      expect(response.text).toBe('');
    }
    keep?.(response.body);
  });

  test('given the lists the script read, when looked at, then they were not vacuous (sessions, grants and audit events had items)', () => {
    expect(state.session).toEqual(expect.any(String));
    expect(state.grant).toEqual(expect.any(String));
  });

  test.each<[string, () => Promise<AdminResponse>, number, string]>([
    ['no token', () => adminRequest(app, undefined, 'GET', '/clients'), 401, 'listClients'],
    ['a read-only token changing something', () => adminRequest(app, readToken, 'POST', '/roles', { name: 'nope' }), 403, 'createRole'],
    ['an invalid body', () => adminRequest(app, token, 'POST', '/roles', { name: 'bad name' }), 400, 'createRole'],
    ['an invalid query', () => adminRequest(app, token, 'GET', '/users?limit=0'), 400, 'listUsers'],
    ['an unknown object', () => adminRequest(app, token, 'GET', '/roles/no-such-role'), 404, 'getRole'],
    ['a conflict', () => adminRequest(app, token, 'POST', '/roles', { name: 'admin' }), 409, 'createRole'],
    ['a body too large', () => adminRequest(app, token, 'POST', '/roles', { name: 'big', description: 'x'.repeat(70_000) }), 413, 'createRole'],
    ['a body that is not JSON', () => adminRequest(app, token, 'POST', '/roles', 'name=x', { 'content-type': 'text/plain' }), 415, 'createRole'],
  ])('given %s, when sent, then the answer is the documented problem response', async (_label, send, status, operationId) => {
    const response = await send();
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json\b/);
    const documented = operationOf(routeNamed(operationId)).responses[String(status)];
    expect(documented?.content?.['application/problem+json']?.schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(validate(response.body, documented.content['application/problem+json'].schema, doc)).toEqual([]);
  });

  test('given a client that registered itself at /reg, when read through the admin API, then it validates against the documented client schema', async () => {
    const initial = await app.app.services.registrationTokens.create({ expires_in: 600 }, TEST_ACTOR);
    const registration = await fetch(`${app.origin}/reg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${initial.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Self registered', redirect_uris: ['https://rp.example/callback'] }),
    });
    expect(registration.status).toBe(201);
    const { client_id: clientId } = (await registration.json()) as { client_id: string };
    const response = await adminRequest(app, token, 'GET', `/clients/${clientId}`);
    expect(response.status).toBe(200);
    const schema = operationOf(routeNamed('getClient')).responses['200'].content['application/json'].schema;
    expect(validate(response.body, schema, doc)).toEqual([]);
  });
});
