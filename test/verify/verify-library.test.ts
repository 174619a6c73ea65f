// gatehouse/verify from a resource server's side: real JWT access tokens (RFC 9068) from a
// running Gatehouse for a registered API, checked by a Koa resource server
// (koaAccessToken) and by a plain node:http one driving expressAccessToken, and a
// matrix of forged tokens (checklist D5) signed with a key this file controls and served
// from a local JWKS. Also checklist D4: the shape of the issued tokens, the audience per
// resource indicator, invalid_target and invalid_scope, the client's default resource.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import Koa from 'koa';
import {
  createVerifier,
  expressAccessToken,
  koaAccessToken,
  TokenError,
  type Requirements,
  type VerifiedToken,
  type Verifier,
} from 'gatehouse/verify';
import { adminRequest, adminToken, clientCredentialsToken, expectProblem, problemFields, userTokens } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { createUser, ensureRoles, registerClient, type RegisteredClient } from '../helpers/oidc.js';

const INVOICES = 'https://invoices.example.com';
const PAYROLL = 'https://payroll.example.com';
/** Registered, but no client below may get tokens for it. */
const SECRET_API = 'https://secret.example.com';
const INVOICES_TTL = 900;

/** What each protected path of both resource servers requires. */
const ROUTES: Record<string, Requirements> = {
  '/invoices': { scopes: ['invoices:read'] },
  '/invoices/new': { scopes: ['invoices:write'] },
  '/invoices/both': { scopes: ['invoices:read', 'invoices:write'] },
  '/reports': { roles: ['accountant'] },
};

interface Echo {
  sub: string;
  client_id: string;
  aud: string | string[];
  scopes: string[];
  roles: string[];
}

function echo(auth: VerifiedToken): Echo {
  return { sub: auth.claims.sub, client_id: auth.claims.client_id, aud: auth.claims.aud, scopes: [...auth.scopes].sort(), roles: [...auth.roles] };
}

interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A small Koa API: each route guarded by koaAccessToken, answering with the verified claims. */
function koaResourceServer(verifier: Verifier): Promise<Running> {
  const app = new Koa();
  const guards = Object.fromEntries(Object.entries(ROUTES).map(([path, requirements]) => [path, koaAccessToken(verifier, requirements)]));
  app.use(async (ctx, next) => {
    const guard = guards[ctx.path];
    if (!guard) {
      ctx.status = 404;
      return;
    }
    await guard(ctx, next);
  });
  app.use((ctx) => {
    ctx.body = echo(ctx.state.auth as VerifiedToken);
  });
  return listen(createServer(app.callback()));
}

/** The same API with expressAccessToken on Node's own http server (its req/res fit the middleware). */
function expressResourceServer(verifier: Verifier): Promise<Running> {
  const guards = Object.fromEntries(Object.entries(ROUTES).map(([path, requirements]) => [path, expressAccessToken(verifier, requirements)]));
  return listen(
    createServer((req, res) => {
      const guard = guards[new URL(req.url ?? '/', 'http://localhost').pathname];
      if (!guard) {
        res.statusCode = 404;
        res.end();
        return;
      }
      const request = req as IncomingMessage & { auth?: VerifiedToken };
      guard(request, res, (error?: unknown) => {
        if (error) {
          res.statusCode = 500;
          res.end(String(error));
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(echo(request.auth!)));
      });
    }),
  );
}

interface RsResponse {
  status: number;
  challenge: string | null;
  cacheControl: string | null;
  body: any;
}

async function call(rs: Running, path: string, authorization?: string): Promise<RsResponse> {
  const response = await fetch(`${rs.url}${path}`, { headers: authorization ? { authorization } : {} });
  const text = await response.text();
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    cacheControl: response.headers.get('cache-control'),
    body: text ? JSON.parse(text) : undefined,
  };
}

const bearer = (token: string) => `Bearer ${token}`;

/** Asserts an RFC 6750 §3 invalid_token refusal. */
function expectInvalidToken(response: RsResponse, realm = INVOICES): void {
  expect({ status: response.status, error: response.body?.error }).toEqual({ status: 401, error: 'invalid_token' });
  expect(response.challenge).toMatch(new RegExp(`^Bearer realm="${realm.replace(/[.]/g, '\\.')}", error="invalid_token", error_description="[^"]+"$`));
  expect(response.cacheControl).toBe('no-store');
}

/** Asserts a 403 insufficient_scope refusal, naming `scope` when the route wants scopes. */
function expectInsufficient(response: RsResponse, scope?: string): void {
  expect({ status: response.status, error: response.body?.error }).toEqual({ status: 403, error: 'insufficient_scope' });
  expect(response.challenge).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope", error_description="[^"]+"/);
  if (scope) expect(response.challenge).toContain(`scope="${scope}"`);
  else expect(response.challenge).not.toMatch(/scope="/);
}

/** A JWK without its private members. */
function publicPart(jwk: JWK): JWK {
  return Object.fromEntries(Object.entries(jwk).filter(([member]) => !['d', 'p', 'q', 'dp', 'dq', 'qi'].includes(member))) as JWK;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('gatehouse/verify against a running Gatehouse', () => {
  let app: TestApp;
  let admin: string;
  let service: RegisteredClient;
  let readOnly: RegisteredClient;
  let accountantService: RegisteredClient;
  let web: RegisteredClient;
  let accountant: { id: string; email: string };
  let clerk: { id: string; email: string };
  let verifier: Verifier;
  const servers: Running[] = [];
  const rs: Record<'koa' | 'express', Running> = {} as never;
  const forgedRs: Record<'koa' | 'express', Running> = {} as never;

  // The key this file controls, served from a local JWKS the forged-token verifier uses.
  const OWN_KID = 'own-test-key';
  let ownKey: CryptoKey;
  let ownPublicPem: string;
  let strangerKey: CryptoKey;
  let strangerJwk: JWK;
  let jwks: Running;
  /** Requests made to a URL only an attacker's header names; it must never be fetched. */
  let attackerHits = 0;
  let attacker: Running;

  beforeAll(async () => {
    app = await startApp();
    admin = await adminToken(app);
    const invoicesApi = await adminRequest(app, admin, 'POST', '/apis', {
      identifier: INVOICES,
      name: 'Invoices',
      scopes: [{ name: 'invoices:read', description: 'Read your invoices' }, { name: 'invoices:write', description: 'Create invoices' }],
      access_token_ttl: INVOICES_TTL,
    });
    expect(invoicesApi.status).toBe(201);
    expect((await adminRequest(app, admin, 'POST', '/apis', { identifier: PAYROLL, scopes: [{ name: 'payroll:read' }], signing_alg: 'ES256' })).status).toBe(201);
    expect((await adminRequest(app, admin, 'POST', '/apis', { identifier: SECRET_API, scopes: [{ name: 'secret:read' }] })).status).toBe(201);
    await ensureRoles(app, ['accountant']);

    const serviceShape = { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] };
    service = await registerClient(app, {
      ...serviceShape,
      client_name: 'billing job',
      api_scopes: { [INVOICES]: ['invoices:read', 'invoices:write'], [PAYROLL]: ['payroll:read'] },
      default_resource: INVOICES,
    });
    readOnly = await registerClient(app, { ...serviceShape, client_name: 'reader', api_scopes: { [INVOICES]: ['invoices:read'] } });
    accountantService = await registerClient(app, { ...serviceShape, client_name: 'ledger', roles: ['accountant'], api_scopes: { [INVOICES]: ['invoices:read'] } });
    web = await registerClient(app, { client_name: 'Invoices web', api_scopes: { [INVOICES]: ['invoices:read', 'invoices:write'] } });
    accountant = await createUser(app, { roles: ['accountant'] });
    clerk = await createUser(app);

    verifier = createVerifier({ issuer: app.issuer, audience: INVOICES });
    rs.koa = await koaResourceServer(verifier);
    rs.express = await expressResourceServer(verifier);
    servers.push(rs.koa, rs.express);

    const own = await generateKeyPair('RS256', { extractable: true });
    ownKey = own.privateKey;
    const ownPublic = await exportJWK(own.publicKey);
    ownPublicPem = await exportSPKI(own.publicKey);
    ({ privateKey: strangerKey } = await generateKeyPair('RS256', { extractable: true }));
    strangerJwk = publicPart(await exportJWK(strangerKey));
    jwks = await listen(createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...ownPublic, kid: OWN_KID, alg: 'RS256', use: 'sig' }] }));
    }));
    attacker = await listen(createServer((_req, res) => {
      attackerHits += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...strangerJwk, kid: OWN_KID, alg: 'RS256', use: 'sig' }] }));
    }));
    const forgedVerifier = createVerifier({ issuer: app.issuer, audience: INVOICES, jwksUri: `${jwks.url}/jwks` });
    forgedRs.koa = await koaResourceServer(forgedVerifier);
    forgedRs.express = await expressResourceServer(forgedVerifier);
    servers.push(jwks, attacker, forgedRs.koa, forgedRs.express);
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await app?.destroy();
  });

  async function accessToken(client: RegisteredClient, params: Record<string, string>): Promise<string> {
    const { status, body } = await clientCredentialsToken(app, { clientId: client.clientId, clientSecret: client.clientSecret! }, params);
    if (status !== 200 || !body.access_token) throw new Error(`no access token: ${status} ${JSON.stringify(body)}`);
    return body.access_token;
  }

  describe('D4: the access tokens Gatehouse issues for a registered API', () => {
    test('when a client asks with resource=<API>, then the token is an RFC 9068 JWT for that API with the API\'s lifetime', async () => {
      const before = Math.floor(Date.now() / 1000);
      const response = await clientCredentialsToken(app, { clientId: service.clientId, clientSecret: service.clientSecret! }, { resource: INVOICES, scope: 'invoices:read' });
      expect(response.status).toBe(200);
      const token = response.body.access_token!;
      expect(response.body.expires_in).toBe(INVOICES_TTL);

      const header = decodeProtectedHeader(token);
      expect(header).toEqual(expect.objectContaining({ typ: 'at+jwt', alg: 'RS256', kid: expect.any(String) }));
      const claims = decodeJwt(token);
      expect(claims).toEqual(expect.objectContaining({
        iss: app.issuer,
        aud: INVOICES,
        sub: service.clientId,
        client_id: service.clientId,
        scope: 'invoices:read',
        jti: expect.any(String),
        iat: expect.any(Number),
        exp: expect.any(Number),
      }));
      expect(claims.iat).toBeGreaterThanOrEqual(before - 1);
      expect(claims.exp! - claims.iat!).toBe(INVOICES_TTL);
      expect(INVOICES_TTL).toBeLessThanOrEqual(3600);
      // The signing key is one the issuer publishes.
      const published = (await (await fetch(`${app.issuer}/jwks`)).json()) as { keys: JWK[] };
      expect(published.keys.map((key) => key.kid)).toContain(header.kid);
    });

    test('when two tokens are issued, then each has its own jti', async () => {
      const [one, two] = await Promise.all([0, 1].map(() => accessToken(service, { resource: INVOICES, scope: 'invoices:read' })));
      expect(decodeJwt(one!).jti).not.toBe(decodeJwt(two!).jti);
    });

    test('when the client asks for another API it may use, then the audience is that API, signed with its algorithm', async () => {
      const token = await accessToken(service, { resource: PAYROLL, scope: 'payroll:read' });
      expect(decodeProtectedHeader(token)).toEqual(expect.objectContaining({ typ: 'at+jwt', alg: 'ES256' }));
      expect(decodeJwt(token)).toEqual(expect.objectContaining({ aud: PAYROLL, scope: 'payroll:read', client_id: service.clientId }));
      // And a verifier for that API accepts it (ES256 is among the default algorithms).
      const payroll = createVerifier({ issuer: app.issuer, audience: PAYROLL });
      await expect(payroll.verify(token)).resolves.toEqual(expect.objectContaining({ scopes: new Set(['payroll:read']) }));
    });

    test('when no resource is named and the client has a default_resource, then the token is for the default API', async () => {
      const token = await accessToken(service, { scope: 'invoices:read invoices:write' });
      expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
      const claims = decodeJwt(token);
      expect(claims.aud).toBe(INVOICES);
      expect(String(claims.scope).split(' ').sort()).toEqual(['invoices:read', 'invoices:write']);
    });

    test('when the client names a registered API it has no access to, then invalid_target', async () => {
      const response = await clientCredentialsToken(app, { clientId: service.clientId, clientSecret: service.clientSecret! }, { resource: SECRET_API, scope: 'secret:read' });
      expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'invalid_target' });
      expect(response.body.access_token).toBeUndefined();
      // Without a scope of it as well.
      const bare = await clientCredentialsToken(app, { clientId: readOnly.clientId, clientSecret: readOnly.clientSecret! }, { resource: PAYROLL });
      expect({ status: bare.status, error: bare.body.error }).toEqual({ status: 400, error: 'invalid_target' });
    });

    test('when an API is registered with an access token lifetime above one hour, then 400 (D4: TTL ≤ 1 h)', async () => {
      // One hour is the longest accepted…
      const hour = await adminRequest(app, admin, 'POST', '/apis', { identifier: 'https://hourly.example.com', access_token_ttl: 3600 });
      expect(hour.status).toBe(201);
      // …on creation and on change.
      const tooLong = await adminRequest(app, admin, 'POST', '/apis', { identifier: 'https://long-lived.example.com', access_token_ttl: 7200 });
      expectProblem(tooLong, 400, 'invalid_input');
      expect(problemFields(tooLong)).toContain('access_token_ttl');
      const raised = await adminRequest(app, admin, 'PATCH', `/apis/${hour.body.id}`, { access_token_ttl: 86_400 });
      expectProblem(raised, 400, 'invalid_input');
    });

    test('when the client asks for a scope of the API beyond its api_scopes, then invalid_scope', async () => {
      const response = await clientCredentialsToken(app, { clientId: readOnly.clientId, clientSecret: readOnly.clientSecret! }, { resource: INVOICES, scope: 'invoices:read invoices:write' });
      expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'invalid_scope' });
      expect(response.body.access_token).toBeUndefined();
    });
  });

  describe.each(['koa', 'express'] as const)('a resource server using %s middleware', (kind) => {
    test('when a valid token with the scope is presented, then the request passes with the verified claims', async () => {
      const token = await accessToken(service, { resource: INVOICES, scope: 'invoices:read invoices:write' });
      const response = await call(rs[kind], '/invoices', bearer(token));
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ sub: service.clientId, client_id: service.clientId, aud: INVOICES, scopes: ['invoices:read', 'invoices:write'], roles: [] });
      expect((await call(rs[kind], '/invoices/both', bearer(token))).status).toBe(200);
      // The scheme name is case-insensitive (RFC 6750 §2.1 via RFC 7235).
      expect((await call(rs[kind], '/invoices', `bearer ${token}`)).status).toBe(200);
    });

    test('when no token is sent, then 401 with a bare Bearer challenge (no error code)', async () => {
      const response = await call(rs[kind], '/invoices');
      expect(response.status).toBe(401);
      expect(response.challenge).toBe(`Bearer realm="${INVOICES}"`);
    });

    test('when the Authorization header is not a bearer token, then 400 invalid_request', async () => {
      const response = await call(rs[kind], '/invoices', 'Basic dXNlcjpwYXNz');
      expect({ status: response.status, error: response.body?.error }).toEqual({ status: 400, error: 'invalid_request' });
      expect(response.challenge).toMatch(/^Bearer realm="[^"]+", error="invalid_request"/);
    });

    test('when a token for another API is presented, then 401 invalid_token', async () => {
      const payroll = await accessToken(service, { resource: PAYROLL, scope: 'payroll:read' });
      expectInvalidToken(await call(rs[kind], '/invoices', bearer(payroll)));
    });

    test('when the admin API\'s opaque token is presented, then 401 invalid_token', async () => {
      expectInvalidToken(await call(rs[kind], '/invoices', bearer(admin)));
    });

    test('when a real token\'s payload is changed to add a scope, then 401 invalid_token, not 403', async () => {
      const token = await accessToken(readOnly, { resource: INVOICES, scope: 'invoices:read' });
      const [header, payload, signature] = token.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as JWTPayload;
      const tampered = `${header}.${b64url({ ...claims, scope: 'invoices:read invoices:write' })}.${signature}`;
      expectInvalidToken(await call(rs[kind], '/invoices/new', bearer(tampered)));
      expectInvalidToken(await call(rs[kind], '/invoices', bearer(tampered)));
    });

    test('when the token lacks a required scope, then 403 insufficient_scope naming the scope', async () => {
      const token = await accessToken(readOnly, { resource: INVOICES, scope: 'invoices:read' });
      expect((await call(rs[kind], '/invoices', bearer(token))).status).toBe(200);
      expectInsufficient(await call(rs[kind], '/invoices/new', bearer(token)), 'invoices:write');
      expectInsufficient(await call(rs[kind], '/invoices/both', bearer(token)), 'invoices:read invoices:write');
    });

    test('when a service account holds the role, then the role-protected route passes; without it, 403', async () => {
      const withRole = await accessToken(accountantService, { resource: INVOICES, scope: 'invoices:read' });
      expect(decodeJwt(withRole).roles).toEqual(['accountant']);
      const allowed = await call(rs[kind], '/reports', bearer(withRole));
      expect(allowed.status).toBe(200);
      expect(allowed.body.roles).toEqual(['accountant']);

      const without = await accessToken(readOnly, { resource: INVOICES, scope: 'invoices:read' });
      expectInsufficient(await call(rs[kind], '/reports', bearer(without)));
    });
  });

  describe('a user\'s access token from a real login (authorization code + PKCE with resource)', () => {
    let accountantTokens: { access_token?: string; id_token?: string };
    let clerkTokens: { access_token?: string; id_token?: string };

    beforeAll(async () => {
      const params = { resource: INVOICES };
      const one = await userTokens(app, web, accountant.email, { scope: 'openid roles invoices:read', params });
      expect(one.status).toBe(200);
      accountantTokens = one.body;
      const two = await userTokens(app, web, clerk.email, { scope: 'openid roles invoices:read', params });
      expect(two.status).toBe(200);
      clerkTokens = two.body;
    });

    test('then the access token is a JWT for the API naming the user, with the granted API scope', () => {
      const token = accountantTokens.access_token!;
      expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
      const claims = decodeJwt(token);
      expect(claims).toEqual(expect.objectContaining({ iss: app.issuer, aud: INVOICES, sub: accountant.id, client_id: web.clientId, jti: expect.any(String) }));
      expect(String(claims.scope).split(' ')).toContain('invoices:read');
      expect(String(claims.scope).split(' ')).not.toContain('invoices:write');
      expect(claims.exp! - claims.iat!).toBe(INVOICES_TTL);
    });

    test('when the user holds roles and the roles scope was asked, then the access token carries them', () => {
      // The roles scope was granted: the ID token of the same exchange carries the roles.
      expect(decodeJwt(accountantTokens.id_token!).roles).toEqual(['accountant']);
      expect(decodeJwt(accountantTokens.access_token!).roles).toEqual(['accountant']);
      expect(decodeJwt(clerkTokens.access_token!).roles ?? []).toEqual([]);
    });

    test.each(['koa', 'express'] as const)('then the %s resource server accepts it, and the role decides the role-protected route', async (kind) => {
      const mine = await call(rs[kind], '/invoices', bearer(accountantTokens.access_token!));
      expect(mine.status).toBe(200);
      expect(mine.body).toEqual(expect.objectContaining({ sub: accountant.id, client_id: web.clientId, scopes: expect.arrayContaining(['invoices:read']) }));
      expect((await call(rs[kind], '/reports', bearer(accountantTokens.access_token!))).status).toBe(200);

      expect((await call(rs[kind], '/invoices', bearer(clerkTokens.access_token!))).status).toBe(200);
      expectInsufficient(await call(rs[kind], '/reports', bearer(clerkTokens.access_token!)));
      expectInsufficient(await call(rs[kind], '/invoices/new', bearer(accountantTokens.access_token!)), 'invoices:write');
    });

    test.each(['koa', 'express'] as const)('when the ID token is presented to the %s resource server as an access token, then 401', async (kind) => {
      expectInvalidToken(await call(rs[kind], '/invoices', bearer(accountantTokens.id_token!)));
    });

    test('when a verifier would accept the ID token\'s audience, then the typ check alone refuses it', async () => {
      const idToken = accountantTokens.id_token!;
      expect(decodeProtectedHeader(idToken).typ).not.toBe('at+jwt');
      const lenient = createVerifier({ issuer: app.issuer, audience: [INVOICES, web.clientId] });
      const refusal = await lenient.verify(idToken).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(TokenError);
      expect(refusal).toEqual(expect.objectContaining({ code: 'invalid_token', status: 401, message: expect.stringContaining('typ') }));
    });
  });

  describe('D5: forged and broken tokens, signed with a key this test controls', () => {
    const now = () => Math.floor(Date.now() / 1000);
    let issuer: string;
    beforeAll(() => {
      issuer = app.issuer;
    });

    function claims(overrides: Record<string, unknown> = {}): JWTPayload {
      return {
        iss: issuer,
        aud: INVOICES,
        sub: 'forged-subject',
        client_id: 'forged-client',
        scope: 'invoices:read',
        jti: randomUUID(),
        iat: now(),
        exp: now() + 300,
        ...overrides,
      };
    }

    async function sign(payload: JWTPayload = claims(), header: Record<string, unknown> = {}, key: CryptoKey | Uint8Array = ownKey): Promise<string> {
      const protectedHeader: Record<string, unknown> = { alg: 'RS256', typ: 'at+jwt', kid: OWN_KID, ...header };
      // jose refuses to sign a crit member it is not told it understands.
      const crit = Array.isArray(protectedHeader['crit']) ? Object.fromEntries((protectedHeader['crit'] as string[]).map((name) => [name, true])) : undefined;
      return new SignJWT(payload).setProtectedHeader(protectedHeader as never).sign(key, crit ? { crit } : undefined);
    }

    const variants: Array<[string, () => Promise<string>]> = [
      ['expired (exp a minute ago)', () => sign(claims({ iat: now() - 400, exp: now() - 60 }))],
      ['not yet valid (nbf in two minutes)', () => sign(claims({ nbf: now() + 120 }))],
      ['the wrong issuer', () => sign(claims({ iss: 'https://evil.example.com' }))],
      ['the issuer with a trailing slash', () => sign(claims({ iss: `${issuer}/` }))],
      ['the wrong audience', () => sign(claims({ aud: PAYROLL }))],
      ['no audience', () => sign(claims({ aud: undefined }))],
      ['no client_id', () => sign(claims({ client_id: undefined }))],
      ['no exp', () => sign(claims({ exp: undefined }))],
      ['alg none', async () => `${b64url({ alg: 'none', typ: 'at+jwt', kid: OWN_KID })}.${b64url(claims())}.`],
      ['HS256 signed with the RSA public key bytes (PEM)', () => sign(claims(), { alg: 'HS256' }, new TextEncoder().encode(ownPublicPem))],
      ['a tampered payload', async () => {
        const [header, , signature] = (await sign()).split('.');
        return `${header}.${b64url(claims({ sub: 'someone-else' }))}.${signature}`;
      }],
      ['a stripped signature', async () => `${(await sign()).split('.').slice(0, 2).join('.')}.`],
      ['an unknown kid (signed by another key)', () => sign(claims(), { kid: 'no-such-key' }, strangerKey)],
      ['a kid that is a path', () => sign(claims(), { kid: '../../../../etc/passwd' }, strangerKey)],
      ['a kid that is SQL', () => sign(claims(), { kid: '\' OR 1=1 --' }, strangerKey)],
      ['the known kid, signed by another key', () => sign(claims(), {}, strangerKey)],
      ['an embedded jwk header with the signer\'s own key', () => sign(claims(), { kid: 'embedded', jwk: strangerJwk }, strangerKey)],
      ['a jku header pointing at the attacker', () => sign(claims(), { jku: `${attacker.url}/jwks` }, strangerKey)],
      ['an x5u header pointing at the attacker', () => sign(claims(), { x5u: `${attacker.url}/cert.pem` }, strangerKey)],
      ['an unknown crit member', () => sign(claims(), { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true })],
      ['typ JWT instead of at+jwt', () => sign(claims(), { typ: 'JWT' })],
      ['no typ', () => sign(claims(), { typ: undefined })],
      ['typ id_token-like (application/jwt)', () => sign(claims(), { typ: 'application/jwt' })],
    ];

    test.each(['koa', 'express'] as const)('when a well-formed token is signed by the key in the JWKS, then the %s resource server accepts it (control)', async (kind) => {
      const response = await call(forgedRs[kind], '/invoices', bearer(await sign()));
      expect(response.status).toBe(200);
      expect(response.body).toEqual(expect.objectContaining({ sub: 'forged-subject', scopes: ['invoices:read'] }));
      // RFC 9068 §2.1 also allows the long media type form.
      expect((await call(forgedRs[kind], '/invoices', bearer(await sign(claims(), { typ: 'application/at+jwt' }))))).toEqual(expect.objectContaining({ status: 200 }));
    });

    describe.each(['koa', 'express'] as const)('%s', (kind) => {
      test.each(variants)('when the token has %s, then 401 invalid_token', async (_name, make) => {
        const response = await call(forgedRs[kind], '/invoices', bearer(await make()));
        expectInvalidToken(response);
      });
    });

    test('when tokens name jku or x5u, then those URLs are never fetched', () => {
      expect(attackerHits).toBe(0);
    });

    test('when a token is larger than 16 KiB, then it is refused as invalid_token without fetching keys', async () => {
      // Straight to the verifier: Node's HTTP server refuses headers this large itself.
      const local = createVerifier({ issuer, audience: INVOICES, jwksUri: `${attacker.url}/jwks` });
      const huge = await sign(claims({ padding: 'x'.repeat(20_000) }));
      await expect(local.verify(huge)).rejects.toEqual(expect.objectContaining({ code: 'invalid_token', status: 401 }));
      expect(attackerHits).toBe(0);
    });

    test('when a verifier is asked to accept none or an HMAC algorithm, then it refuses to be created', () => {
      expect(() => createVerifier({ issuer, audience: INVOICES, algorithms: ['none'] })).toThrow();
      expect(() => createVerifier({ issuer, audience: INVOICES, algorithms: ['RS256', 'HS256'] })).toThrow();
    });
  });
});
