// Checklist item D5 (/work/shared/reference/security-checklist.md): every inbound JWT is
// tamper-checked. Black-box over HTTP against the real app: a mutation matrix for the
// id_token_hint at the end_session endpoint (starting from a real ID token from a real
// sign-in) and for private_key_jwt client assertions at /token (the variants beyond B6),
// plus token-type confusion at userinfo. Every variant must get a 4xx OAuth error or
// error page, never a 5xx and never the success path. Headers naming a key by URL
// (jku, x5u) point at a local listener that must never see a connection.
// Logout-token checks do not apply: no back-channel receiver is registered here.
import { createPublicKey, randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { adminRequest, adminToken, clientCredentialsToken, userTokens } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, type Hop } from '../helpers/browser.js';
import { call, type Reply } from '../helpers/http.js';
import { tcpTarpit, type Listener } from '../helpers/listeners.js';
import { POST_LOGOUT_URI, createUser, registerClient, type RegisteredClient } from '../helpers/oidc.js';

const API = 'https://api.d5.example';
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const LEAKS = /\bat .+:\d+:\d+|node_modules|\/src\/|\.[cm]?[jt]s:\d+|prisma|pglite|TypeError|ReferenceError|SyntaxError/i;

interface Endpoints {
  token: string;
  userinfo: string;
  endSession: string;
  jwksUri: string;
}

let app: TestApp;
let endpoints: Endpoints;
/** Counts connections: jku / x5u in inbound headers point here and must never be fetched. */
let listener: Listener;
let client: RegisteredClient;
let otherClient: RegisteredClient;
/** A signed-in browser whose session the forged hints try to end. */
let browser: Browser;
let idToken: string;
let userAccessToken: string;
/** A JWT access token for a registered API (aud = API), from client credentials. */
let apiAccessToken: string;
/** The server's RSA public key (the one that signed the ID token), as a JWK. */
let serverRsaJwk: JWK;
/** A key pair Gatehouse knows nothing about. */
let attacker: { privateKey: CryptoKey; publicJwk: JWK };

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const parts = (jwt: string) => jwt.split('.') as [string, string, string];
const headerOf = (jwt: string) => JSON.parse(Buffer.from(parts(jwt)[0], 'base64url').toString()) as Record<string, unknown>;
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(parts(jwt)[1], 'base64url').toString()) as Record<string, unknown>;
const jkuUrl = () => `http://127.0.0.1:${listener.port}/jwks.json`;
const x5uUrl = () => `http://localhost:${listener.port}/cert.pem`;

/** Gives any outbound fetch the server might have started time to connect before counting. */
async function expectListenerUntouched(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(listener.connections).toBe(0);
}

beforeAll(async () => {
  app = await startApp();
  const metadata = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  endpoints = {
    token: metadata.token_endpoint!,
    userinfo: metadata.userinfo_endpoint!,
    endSession: metadata.end_session_endpoint!,
    jwksUri: metadata.jwks_uri!,
  };
  listener = await tcpTarpit();

  const pair = await generateKeyPair('RS256', { extractable: true });
  attacker = { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) };

  // A real ID token and access token from a real sign-in through the login page.
  client = await registerClient(app, { client_name: 'D5 app' });
  otherClient = await registerClient(app, { client_name: 'D5 other app' });
  const user = await createUser(app);
  browser = new Browser();
  const tokens = await userTokens(app, client, user.email, { browser });
  if (tokens.status !== 200 || !tokens.body.id_token || !tokens.body.access_token) throw new Error(`sign-in failed: ${JSON.stringify(tokens.body)}`);
  idToken = tokens.body.id_token;
  userAccessToken = tokens.body.access_token;

  const jwks = (await (await fetch(endpoints.jwksUri)).json()) as { keys: JWK[] };
  const kid = decodeProtectedHeader(idToken).kid;
  serverRsaJwk = jwks.keys.find((key) => key.kid === kid && key.kty === 'RSA') ?? jwks.keys.find((key) => key.kty === 'RSA')!;

  // A JWT access token for a registered API.
  const admin = await adminToken(app);
  const created = await adminRequest(app, admin, 'POST', '/apis', { identifier: API, name: 'D5 API', scopes: [{ name: 'things:read' }] });
  if (created.status !== 201) throw new Error(`could not create the API: ${created.status} ${created.text}`);
  const service = await registerClient(app, {
    client_name: 'D5 service', grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], api_scopes: { [API]: ['things:read'] },
  });
  const at = await clientCredentialsToken(app, { clientId: service.clientId, clientSecret: service.clientSecret! }, { resource: API, scope: 'things:read' });
  if (at.status !== 200 || !at.body.access_token) throw new Error(`no API token: ${at.status} ${JSON.stringify(at.body)}`);
  apiAccessToken = at.body.access_token;
});

afterAll(async () => {
  await listener?.close();
  await app?.destroy();
});

// ---------------------------------------------------------------------------------------
describe('D5 id_token_hint at the end_session endpoint: every mutation is refused, never 5xx, never redirected', () => {
  function openLogout(hint: string, state = 'd5'): Promise<Hop> {
    const url = new URL(endpoints.endSession);
    url.search = new URLSearchParams({ id_token_hint: hint, post_logout_redirect_uri: POST_LOGOUT_URI, state }).toString();
    return browser.request(url.toString(), { headers: { accept: HTML } });
  }

  /** Re-signs `claims` under `header` with the attacker's key (the signature cannot verify). */
  function attackerSigned(header: Record<string, unknown>, claims: Record<string, unknown> = claimsOf(idToken)): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...header }).sign(attacker.privateKey, { crit: { unknown: true } });
  }

  /** The original payload and signature under a changed header. */
  function headerSwapped(changes: Record<string, unknown>): string {
    const [, payload, signature] = parts(idToken);
    return `${b64({ ...headerOf(idToken), ...changes })}.${payload}.${signature}`;
  }

  function hmacWith(secret: Uint8Array): Promise<string> {
    return new SignJWT(claimsOf(idToken)).setProtectedHeader({ alg: 'HS256', kid: serverRsaJwk.kid! }).sign(secret);
  }

  const variants: Array<[string, () => Promise<string> | string]> = [
    ['alg none, signature stripped', () => `${b64({ alg: 'none', typ: 'JWT' })}.${parts(idToken)[1]}.`],
    ['alg none, original signature kept', () => headerSwapped({ alg: 'none' })],
    ['HS256 keyed with the RSA public key (PEM)', () => hmacWith(new TextEncoder().encode(
      createPublicKey({ key: serverRsaJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString(),
    ))],
    ['HS256 keyed with the RSA public key (JWK JSON)', () => hmacWith(new TextEncoder().encode(JSON.stringify(serverRsaJwk)))],
    ['HS256 keyed with the RSA modulus bytes', () => hmacWith(Buffer.from(serverRsaJwk.n!, 'base64url'))],
    ['payload sub changed, signature kept', () => `${parts(idToken)[0]}.${b64({ ...claimsOf(idToken), sub: randomUUID() })}.${parts(idToken)[2]}`],
    ['payload aud changed to another client, signature kept', () => `${parts(idToken)[0]}.${b64({ ...claimsOf(idToken), aud: otherClient.clientId, azp: otherClient.clientId })}.${parts(idToken)[2]}`],
    ['kid unknown (original signature)', () => headerSwapped({ kid: 'no-such-key' })],
    ['kid unknown (re-signed by a foreign key)', () => attackerSigned({ kid: 'no-such-key' })],
    ['kid "../../etc/passwd"', () => attackerSigned({ kid: '../../etc/passwd' })],
    ['kid "\' OR 1=1 --"', () => attackerSigned({ kid: "' OR 1=1 --" })],
    ['kid the real one, signed by a foreign key', () => attackerSigned({ kid: serverRsaJwk.kid })],
    ['jku pointing at a local listener', () => attackerSigned({ kid: 'attacker', jku: jkuUrl() })],
    ['x5u pointing at a local listener', () => attackerSigned({ kid: 'attacker', x5u: x5uUrl() })],
    ['jwk embedding the attacker\'s key', () => attackerSigned({ kid: 'attacker', jwk: attacker.publicJwk })],
    ['crit ["unknown"] (header changed, original signature)', () => headerSwapped({ crit: ['unknown'], unknown: true })],
    ['crit ["unknown"] (re-signed by a foreign key)', () => attackerSigned({ kid: serverRsaJwk.kid, crit: ['unknown'], unknown: true })],
    ['iss wrong (re-signed by a foreign key)', () => attackerSigned({ kid: serverRsaJwk.kid }, { ...claimsOf(idToken), iss: 'https://evil.example' })],
    ['garbage string', () => 'this-is-not-a-jwt'],
    ['five dot-separated garbage parts (JWE shape)', () => 'a.b.c.d.e'],
    ['non-JSON header', () => `${Buffer.from('not json').toString('base64url')}.${parts(idToken)[1]}.${parts(idToken)[2]}`],
    ['truncated token (signature cut)', () => idToken.slice(0, -10)],
    ['truncated token (no signature segment)', () => `${parts(idToken)[0]}.${parts(idToken)[1]}`],
    ['a JWT access token for a registered API', () => apiAccessToken],
    ['the user\'s access token', () => userAccessToken],
  ];

  test('when the real, untouched ID token is the hint, then the sign-out confirmation page is shown (control)', async () => {
    const hop = await openLogout(idToken);
    expect({ status: hop.status, location: hop.location ?? null }).toEqual({ status: 200, location: null });
    expect(hop.body).toContain('/session/end/confirm');
  });

  test.each(variants)('when the hint is mutated (%s), then a 4xx error page or JSON error and no redirect', async (_name, make) => {
    const hint = await make();
    const hop = await openLogout(hint, 'forged');
    expect({ status: hop.status, body: hop.body.slice(0, 200) }).toEqual({ status: expect.any(Number), body: expect.any(String) });
    expect(hop.status).toBeGreaterThanOrEqual(400);
    expect(hop.status).toBeLessThan(500);
    expect(hop.location).toBeUndefined();
    expect(hop.body).not.toContain('/session/end/confirm');
    expect(hop.body).not.toMatch(LEAKS);
    // The same hint asked for as JSON: an OAuth error object, not a 5xx.
    const url = new URL(endpoints.endSession);
    url.search = new URLSearchParams({ id_token_hint: hint, post_logout_redirect_uri: POST_LOGOUT_URI }).toString();
    const json = await call(url.toString(), { headers: { accept: 'application/json' } });
    expect(json.status).toBeGreaterThanOrEqual(400);
    expect(json.status).toBeLessThan(500);
    expect(json.headers.get('location')).toBeNull();
  });

  test('when any header named a key by URL, then that URL was never fetched', async () => {
    await expectListenerUntouched();
  });
});

// ---------------------------------------------------------------------------------------
describe('D5 private_key_jwt client assertions: header and claim mutations beyond B6 get 401 invalid_client', () => {
  let pkClientId: string;
  let clientKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    clientKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const registered = await registerClient(app, {
      client_name: 'D5 private_key_jwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] },
      grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [],
    });
    pkClientId = registered.clientId;
  });

  function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    return { iss: pkClientId, sub: pkClientId, aud: endpoints.token, jti: randomUUID(), iat: now, exp: now + 60, ...extra };
  }

  interface SignOptions {
    header?: Record<string, unknown>;
    claims?: Record<string, unknown>;
    /** Sign with the attacker's RSA key instead of the registered ES256 key. */
    foreign?: boolean;
  }

  function sign(options: SignOptions = {}): Promise<string> {
    const jwt = new SignJWT(claims(options.claims));
    const opts = { crit: { unknown: true } };
    if (options.foreign) return jwt.setProtectedHeader({ alg: 'RS256', kid: 'k1', ...options.header }).sign(attacker.privateKey, opts);
    return jwt.setProtectedHeader({ alg: 'ES256', kid: 'k1', ...options.header }).sign(clientKey, opts);
  }

  function withAssertion(assertion: string): Promise<Reply> {
    return call(endpoints.token, {
      form: {
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      },
    });
  }

  function expectInvalidClient(reply: Reply): void {
    expect({ status: reply.status, error: reply.body?.error, text: reply.text.slice(0, 300) }).toEqual({
      status: 401, error: 'invalid_client', text: expect.any(String),
    });
    expect(reply.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(reply.text).not.toMatch(LEAKS);
  }

  test('when a well-formed assertion is signed with the registered key, then tokens are issued (control)', async () => {
    const reply = await withAssertion(await sign());
    expect({ status: reply.status, text: reply.text.slice(0, 300) }).toEqual({ status: 200, text: expect.any(String) });
  });

  test.each<[string, SignOptions]>([
    ['jku at a local listener, signed by the key it names', { foreign: true, header: { kid: 'attacker', jku: 'JKU' } }],
    ['x5u at a local listener, signed by a foreign key', { foreign: true, header: { kid: 'attacker', x5u: 'X5U' } }],
    ['jwk embedding the signing (foreign) key', { foreign: true, header: { kid: 'attacker', jwk: 'JWK' } }],
    ['jwk embedding a foreign key, kid of the registered key', { foreign: true, header: { jwk: 'JWK' } }],
  ])('when the header names its own key (%s), then 401 invalid_client and nothing is fetched', async (_name, options) => {
    const header = { ...options.header };
    if ('jku' in header) header.jku = jkuUrl();
    if ('x5u' in header) header.x5u = x5uUrl();
    if ('jwk' in header) header.jwk = attacker.publicJwk;
    expectInvalidClient(await withAssertion(await sign({ ...options, header })));
    await expectListenerUntouched();
  });

  test('when crit holds an unknown member (validly signed by the registered key), then 401 invalid_client', async () => {
    expectInvalidClient(await withAssertion(await sign({ header: { crit: ['unknown'], unknown: true } })));
  });

  test.each(['../../etc/passwd', "' OR 1=1 --", 'k1\u0000', '*'])('when kid is %j (signed by a foreign key), then 401 invalid_client', async (kid) => {
    expectInvalidClient(await withAssertion(await sign({ foreign: true, header: { kid } })));
  });

  test.each(['../../etc/passwd', "' OR 1=1 --"])('when kid is %j and the signature is by an unregistered ES256 key, then 401 invalid_client', async (kid) => {
    const { privateKey } = await generateKeyPair('ES256');
    const assertion = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
    expectInvalidClient(await withAssertion(assertion));
  });

  test('when nbf is in the future beyond the clock tolerance, then 401 invalid_client', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectInvalidClient(await withAssertion(await sign({ claims: { nbf: now + 600, iat: now, exp: now + 900 } })));
  });

  test('when iat is far in the future, then 401 invalid_client', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectInvalidClient(await withAssertion(await sign({ claims: { iat: now + 3600, exp: now + 3660 } })));
  });

  test('when aud is wrong (another server, the userinfo endpoint, an array of strangers), then 401 invalid_client', async () => {
    for (const aud of ['https://evil.example/token', endpoints.userinfo, ['https://a.example', 'https://b.example']]) {
      expectInvalidClient(await withAssertion(await sign({ claims: { aud } })));
    }
  });

  test('when iss and sub differ from each other or from the client, then 401 invalid_client', async () => {
    expectInvalidClient(await withAssertion(await sign({ claims: { iss: pkClientId, sub: otherClient.clientId } })));
    expectInvalidClient(await withAssertion(await sign({ claims: { iss: otherClient.clientId, sub: pkClientId } })));
    expectInvalidClient(await withAssertion(await sign({ claims: { iss: 'https://evil.example', sub: 'https://evil.example' } })));
  });

  test('when the assertion is garbage, truncated, or an ID token of this server, then 401 invalid_client (never 5xx)', async () => {
    const good = await sign();
    for (const assertion of ['garbage', good.slice(0, -8), parts(good).slice(0, 2).join('.'), 'a.b.c.d.e', idToken]) {
      const reply = await withAssertion(assertion);
      expect(reply.status).toBeLessThan(500);
      expect([400, 401]).toContain(reply.status);
      expect(['invalid_client', 'invalid_request']).toContain(reply.body?.error);
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('D5 token-type confusion at userinfo: only an access token for userinfo is accepted', () => {
  function expectInvalidToken(reply: Reply): void {
    expect({ status: reply.status, text: reply.text.slice(0, 300) }).toEqual({ status: 401, text: expect.any(String) });
    expect(reply.headers.get('www-authenticate') ?? '').toMatch(/^Bearer\b/);
    expect(reply.headers.get('www-authenticate') ?? '').toContain('error="invalid_token"');
    expect(reply.text).not.toMatch(LEAKS);
  }

  test('when the user\'s real access token is presented, then userinfo answers 200 with the subject (control)', async () => {
    const reply = await call(endpoints.userinfo, { bearer: userAccessToken });
    expect({ status: reply.status, text: reply.text.slice(0, 300) }).toEqual({ status: 200, text: expect.any(String) });
    expect(reply.body?.sub).toBe(decodeJwt(idToken).sub);
  });

  test('when an ID token is used as a Bearer token, then 401 with error="invalid_token"', async () => {
    expectInvalidToken(await call(endpoints.userinfo, { bearer: idToken }));
  });

  test('when a JWT access token for another audience (a registered API) is used, then 401 with error="invalid_token"', async () => {
    expectInvalidToken(await call(endpoints.userinfo, { bearer: apiAccessToken }));
  });

  test('when an ID token is sent in the form body (access_token=) by POST, then 401 with error="invalid_token"', async () => {
    expectInvalidToken(await call(endpoints.userinfo, { form: { access_token: idToken } }));
  });
});
