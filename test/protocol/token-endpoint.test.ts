// Checklist section B (token, revocation and introspection endpoints), black-box over HTTP
// against the real app: code and refresh-token redemption, client authentication
// (client_secret_basic/post, private_key_jwt), grant types, error format, revocation and
// introspection, plus malformed, oversized, missing and duplicated input at all three
// endpoints. Raw fetch is used for the endpoints so every status and header is visible.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { startApp, type TestApp } from '../helpers/app.js';
import { call, type CallInit, type Form, type Reply } from '../helpers/http.js';
import {
  Browser, POST_LOGOUT_URI, REDIRECT_URI, createUser, registerClient, signIn, type RegisteredClient, TEST_ACTOR,
} from '../helpers/oidc.js';

// ---------------------------------------------------------------------------------------
// HTTP plumbing

// RFC 6749 §5.2 codes, plus invalid_target (RFC 8707 §2) and unsupported_token_type (RFC 7009 §2.2.1).
const OAUTH_ERROR_CODES = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'invalid_target', 'unsupported_token_type',
]);
// RFC 6749 §5.2: error and error_description use %x20-21 / %x23-5B / %x5D-7E only (no CR, LF, TAB, '"' or '\').
const ERROR_TEXT = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/;
const LEAKS = /\bat .+:\d+:\d+|node_modules|\/src\/|\.[cm]?[jt]s:\d+|prisma|pglite|\bselect\b.*\bfrom\b|\binsert into\b|TypeError|ReferenceError|SyntaxError/i;

/**
 * Asserts an RFC 6749 §5.2 error: the status, a JSON body with one of `codes`, no-store,
 * and no stack trace, SQL or forbidden characters anywhere in the answer.
 */
function expectOAuthError(reply: Reply, status: number | number[], codes: string | string[], options: { basic?: boolean } = {}): void {
  const statuses = Array.isArray(status) ? status : [status];
  const allowed = Array.isArray(codes) ? codes : [codes];
  const problems: string[] = [];
  if (!statuses.includes(reply.status)) problems.push(`status ${reply.status}, expected ${statuses.join(' or ')}`);
  if (!/^application\/json\b/.test(reply.headers.get('content-type') ?? '')) problems.push(`content-type ${reply.headers.get('content-type')}`);
  if (!/(^|,\s*)no-store\s*(,|$)/.test(reply.headers.get('cache-control') ?? '')) problems.push(`cache-control ${reply.headers.get('cache-control')}`);
  const error = reply.body?.error;
  const description = reply.body?.error_description;
  if (typeof error !== 'string' || !allowed.includes(error)) problems.push(`error ${String(error)}, expected ${allowed.join(' or ')}`);
  else if (!OAUTH_ERROR_CODES.has(error)) problems.push(`error ${error} is not an OAuth error code`);
  if (description !== undefined && (typeof description !== 'string' || !ERROR_TEXT.test(description))) problems.push('error_description has characters outside RFC 6749 §5.2');
  if (LEAKS.test(reply.text)) problems.push('body leaks internals');
  // RFC 6749 §5.2: a failed Basic authentication answers with WWW-Authenticate.
  if (reply.status === 401 && options.basic && !/^Basic\b/i.test(reply.headers.get('www-authenticate') ?? '')) problems.push('no WWW-Authenticate: Basic');
  expect({ problems, reply: `${reply.status} ${reply.text.slice(0, 300)}` }).toEqual({ problems: [], reply: expect.any(String) });
}

function expectTokenSuccess(reply: Reply): Record<string, unknown> {
  expect({ status: reply.status, text: reply.text.slice(0, 300) }).toEqual({ status: 200, text: expect.any(String) });
  expect(reply.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(reply.headers.get('cache-control')).toMatch(/(^|,\s*)no-store\s*(,|$)/);
  expect(typeof reply.body?.access_token).toBe('string');
  return reply.body!;
}

const INACTIVE = '{"active":false}';

// ---------------------------------------------------------------------------------------
// The Gatehouse under test and its clients

interface Endpoints {
  authorization: string;
  token: string;
  introspection: string;
  revocation: string;
  userinfo: string;
  endSession: string;
}

type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

interface TestClient extends RegisteredClient {
  method: AuthMethod;
}

interface Harness {
  app: TestApp;
  endpoints: Endpoints;
  email: string;
  browser: Browser;
}

async function discover(app: TestApp): Promise<Endpoints> {
  const metadata = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  return {
    authorization: metadata.authorization_endpoint!,
    token: metadata.token_endpoint!,
    introspection: metadata.introspection_endpoint!,
    revocation: metadata.revocation_endpoint!,
    userinfo: metadata.userinfo_endpoint!,
    endSession: metadata.end_session_endpoint!,
  };
}

async function client(app: TestApp, method: AuthMethod, input: Record<string, unknown> = {}): Promise<TestClient> {
  const registered = await registerClient(app, { token_endpoint_auth_method: method, ...input });
  return { ...registered, method };
}

async function machineClient(app: TestApp, input: Record<string, unknown> = {}): Promise<TestClient> {
  return client(app, (input.token_endpoint_auth_method as AuthMethod | undefined) ?? 'client_secret_basic', {
    grant_types: ['client_credentials'],
    redirect_uris: [],
    post_logout_redirect_uris: [],
    ...input,
  });
}

/** How `c` authenticates with its registered method (not for private_key_jwt). */
function credentials(c: TestClient): Pick<CallInit, 'basic'> & { extra: Record<string, string> } {
  switch (c.method) {
    case 'client_secret_basic':
      return { basic: [c.clientId, c.clientSecret!], extra: {} };
    case 'client_secret_post':
      return { extra: { client_id: c.clientId, client_secret: c.clientSecret! } };
    case 'none':
      return { extra: { client_id: c.clientId } };
    default:
      throw new Error(`use an explicit assertion for ${c.method}`);
  }
}

async function postAs(url: string, c: TestClient, form: Record<string, string>, init: CallInit = {}): Promise<Reply> {
  const { basic, extra } = credentials(c);
  return call(url, { basic, ...init, form: { ...form, ...extra } });
}

interface Code {
  code: string;
  verifier: string;
}

/** Drives a real sign-in through the login and consent pages and returns the code. */
async function getCode(h: Harness, c: TestClient, options: { scope?: string; pkce?: boolean; browser?: Browser; email?: string } = {}): Promise<Code> {
  const scope = options.scope ?? 'openid profile email';
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const url = new URL(h.endpoints.authorization);
  url.search = new URLSearchParams({
    client_id: c.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope,
    state,
    nonce,
    ...(options.pkce === false ? {} : { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }),
    // oidc-provider grants offline_access only together with prompt=consent (OIDC Core 11).
    ...(scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
  }).toString();
  const callback = await signIn(options.browser ?? h.browser, h.app, { url, verifier, state, nonce }, options.email ?? h.email);
  expect(callback.searchParams.get('state')).toBe(state);
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();
  return { code: code!, verifier };
}

function redeem(h: Harness, c: TestClient, code: Code, overrides: Record<string, string> = {}): Promise<Reply> {
  return postAs(h.endpoints.token, c, {
    grant_type: 'authorization_code',
    code: code.code,
    redirect_uri: REDIRECT_URI,
    code_verifier: code.verifier,
    ...overrides,
  });
}

function refresh(h: Harness, c: TestClient, refreshToken: string, overrides: Record<string, string> = {}): Promise<Reply> {
  return postAs(h.endpoints.token, c, { grant_type: 'refresh_token', refresh_token: refreshToken, ...overrides });
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

async function signInForTokens(h: Harness, c: TestClient, scope = 'openid profile email offline_access', browser?: Browser, email?: string): Promise<Tokens> {
  const code = await getCode(h, c, { scope, browser, email });
  return expectTokenSuccess(await redeem(h, c, code)) as unknown as Tokens;
}

function introspect(h: Harness, c: TestClient, token: string, extra: Record<string, string> = {}): Promise<Reply> {
  return postAs(h.endpoints.introspection, c, { token, ...extra });
}

async function expectActive(h: Harness, c: TestClient, token: string): Promise<Record<string, unknown>> {
  const reply = await introspect(h, c, token);
  expect(reply.status).toBe(200);
  expect(reply.body?.active).toBe(true);
  return reply.body!;
}

async function expectInactive(h: Harness, c: TestClient, token: string): Promise<void> {
  const reply = await introspect(h, c, token);
  expect(reply.status).toBe(200);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(reply.text).toBe(INACTIVE);
}

function revoke(h: Harness, c: TestClient, token: string, extra: Record<string, string> = {}): Promise<Reply> {
  return postAs(h.endpoints.revocation, c, { token, ...extra });
}

function userinfo(h: Harness, accessToken: string): Promise<Reply> {
  return call(h.endpoints.userinfo, { authorization: `Bearer ${accessToken}` });
}

async function clientCredentials(h: Harness, c: TestClient, extra: Record<string, string> = {}): Promise<Reply> {
  return postAs(h.endpoints.token, c, { grant_type: 'client_credentials', ...extra });
}

function fill(size: number, char = 'a'): string {
  return char.repeat(size);
}

// ---------------------------------------------------------------------------------------
// Two Gatehouses, started together to keep the file's run time down: the main one, and one
// with short lifetimes for B11 (and the expired-token case of B14) only.

const h = {} as Harness;
const short = {} as Harness;

async function prepare(harness: Harness, app: TestApp): Promise<void> {
  harness.app = app;
  harness.endpoints = await discover(app);
  harness.email = (await createUser(app)).email;
  harness.browser = new Browser();
}

beforeAll(async () => {
  const [main, shortLived] = await Promise.all([
    startApp(),
    startApp({ env: { REFRESH_TOKEN_TTL: '3', CLIENT_CREDENTIALS_TTL: '2' } }),
  ]);
  await Promise.all([prepare(h, main), prepare(short, shortLived)]);
});

afterAll(async () => {
  await Promise.all([h.app?.destroy(), short.app?.destroy()]);
});

describe('token, revocation and introspection endpoints (checklist B)', () => {
  let confA: TestClient; // client_secret_basic, authorization_code + refresh_token
  let confB: TestClient; // a second client_secret_basic client
  let postClient: TestClient; // client_secret_post, authorization_code + refresh_token
  let pub: TestClient; // public client (none + PKCE)
  let legacy: TestClient; // confidential client registered with require_pkce=false
  let ccBasic: TestClient; // client_credentials, client_secret_basic
  let ccPost: TestClient; // client_credentials, client_secret_post
  let ccScoped: TestClient; // client_credentials limited to the roles scope

  beforeAll(async () => {
    [confA, confB, postClient, pub, legacy, ccBasic, ccPost, ccScoped] = await Promise.all([
      client(h.app, 'client_secret_basic'),
      client(h.app, 'client_secret_basic'),
      client(h.app, 'client_secret_post'),
      client(h.app, 'none'),
      client(h.app, 'client_secret_basic', { require_pkce: false }),
      machineClient(h.app),
      machineClient(h.app, { token_endpoint_auth_method: 'client_secret_post' }),
      machineClient(h.app, { scope: 'roles' }),
    ]);
  });

  describe('B1 an authorization code is single-use and its reuse revokes what it issued', () => {
    test('when a code is redeemed a second time, then invalid_grant comes back and the first redemption\'s AT and RT are dead', async () => {
      const code = await getCode(h, confA, { scope: 'openid profile email offline_access' });
      const first = expectTokenSuccess(await redeem(h, confA, code)) as unknown as Tokens;
      expect(first.refresh_token).toBeTruthy();
      expect((await userinfo(h, first.access_token)).status).toBe(200);
      await expectActive(h, confA, first.access_token);

      expectOAuthError(await redeem(h, confA, code), 400, 'invalid_grant', { basic: true });

      await expectInactive(h, confA, first.access_token);
      const info = await userinfo(h, first.access_token);
      expect(info.status).toBe(401);
      expect(info.headers.get('www-authenticate')).toMatch(/^Bearer\b.*invalid_token/);
      expectOAuthError(await refresh(h, confA, first.refresh_token!), 400, 'invalid_grant', { basic: true });
    });
  });

  describe('B2 redemption is atomic under concurrency', () => {
    async function race(requests: Array<() => Promise<Reply>>): Promise<Reply[]> {
      return Promise.all(requests.map((request) => request()));
    }

    test('when 20 parallel requests redeem one code, then at most one gets tokens, the rest invalid_grant, and the winner\'s tokens are revoked', async () => {
      const code = await getCode(h, confA, { scope: 'openid offline_access' });
      const replies = await race(Array.from({ length: 20 }, () => () => redeem(h, confA, code)));
      const winners = replies.filter((reply) => reply.status === 200);
      expect(winners.length).toBeLessThanOrEqual(1);
      for (const reply of replies.filter((r) => r.status !== 200)) expectOAuthError(reply, 400, 'invalid_grant', { basic: true });
      for (const winner of winners) {
        const tokens = winner.body as unknown as Tokens;
        await expectInactive(h, confA, tokens.access_token);
        expectOAuthError(await refresh(h, confA, tokens.refresh_token!), 400, 'invalid_grant', { basic: true });
      }
    });

    test('when 20 parallel requests use one refresh token, then at most one gets tokens, the rest invalid_grant, and the grant is revoked', async () => {
      const tokens = await signInForTokens(h, confA, 'openid offline_access');
      const replies = await race(Array.from({ length: 20 }, () => () => refresh(h, confA, tokens.refresh_token!)));
      const winners = replies.filter((reply) => reply.status === 200);
      expect(winners.length).toBeLessThanOrEqual(1);
      for (const reply of replies.filter((r) => r.status !== 200)) expectOAuthError(reply, 400, 'invalid_grant', { basic: true });
      for (const winner of winners) {
        const rotated = winner.body as unknown as Tokens;
        await expectInactive(h, confA, rotated.access_token);
        expectOAuthError(await refresh(h, confA, rotated.refresh_token!), 400, 'invalid_grant', { basic: true });
      }
      await expectInactive(h, confA, tokens.access_token);
    });
  });

  describe('B3 a code is bound to its client and its redirect_uri', () => {
    test('when client B redeems client A\'s code with B\'s valid credentials, then invalid_grant', async () => {
      const code = await getCode(h, confA);
      expectOAuthError(await redeem(h, confB, code), 400, 'invalid_grant', { basic: true });
    });

    test('when the redirect_uri at the token endpoint differs from the authorization request\'s, then invalid_grant', async () => {
      const code = await getCode(h, confA);
      for (const redirectUri of ['http://localhost:8080/other', `${REDIRECT_URI}/`, `${REDIRECT_URI}?x=1`, 'http://LOCALHOST:8080/callback']) {
        expectOAuthError(await redeem(h, confA, code, { redirect_uri: redirectUri }), 400, 'invalid_grant', { basic: true });
      }
    });
  });

  describe('B4 PKCE is enforced at the token endpoint', () => {
    test('when the code_verifier is wrong, then invalid_grant', async () => {
      const code = await getCode(h, pub);
      expectOAuthError(await redeem(h, pub, code, { code_verifier: randomBytes(32).toString('base64url') }), 400, 'invalid_grant');
    });

    test('when the code_verifier is missing although a challenge was sent, then invalid_grant', async () => {
      const code = await getCode(h, confA);
      const form = { grant_type: 'authorization_code', code: code.code, redirect_uri: REDIRECT_URI };
      expectOAuthError(await postAs(h.endpoints.token, confA, form), 400, 'invalid_grant', { basic: true });
    });

    test('when a code_verifier is sent for a code issued without a challenge (downgrade), then invalid_grant', async () => {
      const code = await getCode(h, legacy, { pkce: false });
      expectOAuthError(await redeem(h, legacy, code), 400, 'invalid_grant', { basic: true });
    });

    test('when the code_verifier is too short, too long or has characters outside the allowed set, then invalid_request or invalid_grant', async () => {
      const code = await getCode(h, pub);
      for (const verifier of [code.verifier.slice(0, 42), `${code.verifier}${fill(86, 'x')}`, `${code.verifier.slice(0, 42)}+`, `${code.verifier.slice(0, 42)}%`]) {
        expectOAuthError(await redeem(h, pub, code, { code_verifier: verifier }), 400, ['invalid_request', 'invalid_grant']);
      }
    });

    test('when the right code_verifier is sent, then tokens are issued', async () => {
      const code = await getCode(h, pub);
      const tokens = expectTokenSuccess(await redeem(h, pub, code));
      expect(tokens.token_type).toBe('Bearer');
      expect(typeof tokens.id_token).toBe('string');
    });
  });

  describe('B5 confidential clients must authenticate with their registered method', () => {
    test('when the Basic secret is wrong, then 401 invalid_client with WWW-Authenticate', async () => {
      const reply = await call(h.endpoints.token, { basic: [ccBasic.clientId, `${ccBasic.clientSecret}x`], form: { grant_type: 'client_credentials' } });
      expectOAuthError(reply, 401, 'invalid_client', { basic: true });
      expect(reply.headers.get('www-authenticate')).toMatch(/^Basic\b/i);
    });

    test('when the client is unknown, then 401 invalid_client', async () => {
      expectOAuthError(await call(h.endpoints.token, { basic: ['no-such-client', 'secret'], form: { grant_type: 'client_credentials' } }), 401, 'invalid_client', { basic: true });
      expectOAuthError(
        await call(h.endpoints.token, { form: { grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'secret' } }),
        401,
        'invalid_client',
      );
    });

    test('when a confidential client sends no secret at all, then 401 invalid_client', async () => {
      expectOAuthError(await call(h.endpoints.token, { form: { grant_type: 'client_credentials', client_id: ccBasic.clientId } }), 401, 'invalid_client');
      const code = await getCode(h, confA);
      expectOAuthError(
        await call(h.endpoints.token, {
          form: { grant_type: 'authorization_code', code: code.code, redirect_uri: REDIRECT_URI, code_verifier: code.verifier, client_id: confA.clientId },
        }),
        401,
        'invalid_client',
      );
    });

    test('when a client_secret_basic client sends its (correct) secret in the body, then 401 invalid_client', async () => {
      const reply = await call(h.endpoints.token, { form: { grant_type: 'client_credentials', client_id: ccBasic.clientId, client_secret: ccBasic.clientSecret! } });
      expectOAuthError(reply, 401, 'invalid_client');
    });

    test('when a client_secret_post client sends its (correct) secret with Basic, then 401 invalid_client', async () => {
      const reply = await call(h.endpoints.token, { basic: [ccPost.clientId, ccPost.clientSecret!], form: { grant_type: 'client_credentials' } });
      expectOAuthError(reply, 401, 'invalid_client', { basic: true });
    });

    test('when Basic credentials and a body secret come in one request, then 400 invalid_request', async () => {
      const reply = await call(h.endpoints.token, {
        basic: [ccBasic.clientId, ccBasic.clientSecret!],
        form: { grant_type: 'client_credentials', client_id: ccBasic.clientId, client_secret: ccBasic.clientSecret! },
      });
      expectOAuthError(reply, 400, 'invalid_request');
    });

    test('when client_secret_basic and client_secret_post clients use their own method, then both get tokens', async () => {
      expectTokenSuccess(await clientCredentials(h, ccBasic));
      expectTokenSuccess(await clientCredentials(h, ccPost));
      const code = await getCode(h, postClient);
      expectTokenSuccess(await redeem(h, postClient, code));
    });
  });

  describe('B6 private_key_jwt client assertions are fully checked', () => {
    let pk: TestClient;
    let privateKey: CryptoKey;
    let otherKey: CryptoKey;
    let publicJwk: Record<string, unknown>;

    beforeAll(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      privateKey = pair.privateKey;
      otherKey = (await generateKeyPair('ES256')).privateKey;
      publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      pk = await machineClient(h.app, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] } });
    });

    interface AssertionOptions {
      claims?: Record<string, unknown>;
      omit?: string[];
      key?: CryptoKey;
      kid?: string;
    }

    function claims(options: AssertionOptions): Record<string, unknown> {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: pk.clientId,
        sub: pk.clientId,
        aud: h.endpoints.token,
        jti: randomUUID(),
        iat: now,
        exp: now + 60,
        ...options.claims,
      };
      for (const name of options.omit ?? []) delete payload[name];
      return payload;
    }

    function sign(options: AssertionOptions = {}): Promise<string> {
      return new SignJWT(claims(options)).setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'k1' }).sign(options.key ?? privateKey);
    }

    function withAssertion(assertion: string): Promise<Reply> {
      return call(h.endpoints.token, {
        form: {
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        },
      });
    }

    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

    test('when a valid assertion has aud = the token endpoint URL, then tokens are issued', async () => {
      expectTokenSuccess(await withAssertion(await sign()));
    });

    test('when a valid assertion has aud = the issuer, then tokens are issued', async () => {
      expectTokenSuccess(await withAssertion(await sign({ claims: { aud: h.app.issuer } })));
    });

    test('when the same assertion is replayed, then 401 invalid_client', async () => {
      const assertion = await sign();
      expectTokenSuccess(await withAssertion(assertion));
      expectOAuthError(await withAssertion(assertion), 401, 'invalid_client');
    });

    test('when the assertion is unsigned (alg none), then 401 invalid_client', async () => {
      expectOAuthError(await withAssertion(`${b64({ alg: 'none' })}.${b64(claims({}))}.`), 401, 'invalid_client');
    });

    test('when the assertion is HMAC-signed with the client\'s public key, then 401 invalid_client', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
      const assertion = await new SignJWT(claims({})).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret);
      expectOAuthError(await withAssertion(assertion), 401, 'invalid_client');
    });

    test('when the assertion is signed by an unregistered key (same kid, or an unknown kid), then 401 invalid_client', async () => {
      expectOAuthError(await withAssertion(await sign({ key: otherKey })), 401, 'invalid_client');
      expectOAuthError(await withAssertion(await sign({ key: otherKey, kid: 'unknown-kid' })), 401, 'invalid_client');
    });

    test('when the signed payload is altered after signing, then 401 invalid_client', async () => {
      const [header, , signature] = (await sign()).split('.');
      expectOAuthError(await withAssertion(`${header}.${b64(claims({ claims: { exp: Math.floor(Date.now() / 1000) + 120 } }))}.${signature}`), 401, 'invalid_client');
    });

    test('when iss or sub is not the client_id, then 401 invalid_client', async () => {
      expectOAuthError(await withAssertion(await sign({ claims: { iss: confA.clientId } })), 401, 'invalid_client');
      expectOAuthError(await withAssertion(await sign({ claims: { sub: confA.clientId } })), 401, 'invalid_client');
    });

    test('when aud is another endpoint, another server or missing, then 401 invalid_client', async () => {
      for (const aud of [`${h.app.issuer}/other`, 'https://evil.example/token', `${h.app.issuer}/`]) {
        expectOAuthError(await withAssertion(await sign({ claims: { aud } })), 401, 'invalid_client');
      }
      expectOAuthError(await withAssertion(await sign({ omit: ['aud'] })), 401, 'invalid_client');
    });

    test('when exp is missing or in the past, then 401 invalid_client', async () => {
      expectOAuthError(await withAssertion(await sign({ omit: ['exp'] })), 401, 'invalid_client');
      const past = Math.floor(Date.now() / 1000) - 120;
      expectOAuthError(await withAssertion(await sign({ claims: { iat: past - 60, exp: past } })), 401, 'invalid_client');
    });

    test('when the assertion has no jti, then 401 invalid_client', async () => {
      expectOAuthError(await withAssertion(await sign({ omit: ['jti'] })), 401, 'invalid_client');
    });

    test('when the assertion lives far longer than a short lifetime (exp a day away), then 401 invalid_client', async () => {
      const now = Math.floor(Date.now() / 1000);
      expectOAuthError(await withAssertion(await sign({ claims: { iat: now, exp: now + 24 * 3600 } })), 401, 'invalid_client');
    });

    test('when a client_secret client presents an assertion, or the private_key_jwt client presents a secret, then 401 invalid_client', async () => {
      const forConf = await new SignJWT({ ...claims({}), iss: ccBasic.clientId, sub: ccBasic.clientId })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .sign(privateKey);
      expectOAuthError(await withAssertion(forConf), 401, 'invalid_client');
      expectOAuthError(
        await call(h.endpoints.token, { form: { grant_type: 'client_credentials', client_id: pk.clientId, client_secret: 'guess' } }),
        401,
        'invalid_client',
      );
    });
  });

  describe('B7 a refresh token works only for its client and cannot widen scope', () => {
    test('when client B uses client A\'s refresh token, then invalid_grant', async () => {
      const tokens = await signInForTokens(h, confA);
      expectOAuthError(await refresh(h, confB, tokens.refresh_token!), 400, 'invalid_grant', { basic: true });
    });

    test('when a refresh narrows the scope, then it succeeds with the narrower scope; widening it gives invalid_scope', async () => {
      const tokens = await signInForTokens(h, confA, 'openid profile offline_access');
      const narrowed = expectTokenSuccess(await refresh(h, confA, tokens.refresh_token!, { scope: 'openid' })) as unknown as Tokens;
      const info = await expectActive(h, confA, narrowed.access_token);
      expect(String(info.scope).split(' ')).toEqual(['openid']);

      expectOAuthError(await refresh(h, confA, narrowed.refresh_token!, { scope: 'openid profile email' }), 400, 'invalid_scope', { basic: true });
      expectOAuthError(await refresh(h, confA, narrowed.refresh_token!, { scope: 'openid address' }), 400, 'invalid_scope', { basic: true });
    });
  });

  describe('B8 grant types are limited to what is supported and registered', () => {
    test('when grant_type=password (or another unsupported grant) is sent, then unsupported_grant_type', async () => {
      for (const grantType of ['password', 'implicit', 'urn:example:unknown']) {
        const reply = await postAs(h.endpoints.token, confA, { grant_type: grantType, username: h.email, password: 'x' });
        expectOAuthError(reply, 400, 'unsupported_grant_type', { basic: true });
      }
    });

    test('when a client not registered for the device grant uses it, then unauthorized_client', async () => {
      const reply = await postAs(h.endpoints.token, confA, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x' });
      expectOAuthError(reply, 400, 'unauthorized_client', { basic: true });
    });

    test('when a client uses client_credentials without being registered for it, then unauthorized_client', async () => {
      expectOAuthError(await clientCredentials(h, confA), 400, 'unauthorized_client', { basic: true });
    });

    test('when a client_credentials client uses authorization_code or refresh_token, then unauthorized_client', async () => {
      expectOAuthError(
        await postAs(h.endpoints.token, ccBasic, { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI }),
        400,
        'unauthorized_client',
        { basic: true },
      );
      expectOAuthError(await postAs(h.endpoints.token, ccBasic, { grant_type: 'refresh_token', refresh_token: 'x' }), 400, 'unauthorized_client', { basic: true });
    });

    test('when client_credentials succeeds, then only an access token is issued (no refresh or ID token)', async () => {
      const body = expectTokenSuccess(await clientCredentials(h, ccBasic));
      expect(body.token_type).toBe('Bearer');
      expect(typeof body.expires_in).toBe('number');
      expect(body).not.toHaveProperty('refresh_token');
      expect(body).not.toHaveProperty('id_token');
    });

    test('when a client_credentials client asks for a scope outside its registered scopes, then invalid_scope or the scope is dropped', async () => {
      const allowed = expectTokenSuccess(await clientCredentials(h, ccScoped, { scope: 'roles' }));
      expect(allowed.scope).toBe('roles');
      for (const scope of ['roles email', 'openid', 'profile']) {
        const reply = await clientCredentials(h, ccScoped, { scope });
        if (reply.status === 200) {
          const granted = String(reply.body?.scope ?? '').split(' ').filter(Boolean);
          expect(granted.every((s) => s === 'roles')).toBe(true);
          const info = await expectActive(h, ccScoped, String(reply.body?.access_token));
          expect(String(info.scope ?? '').split(' ').filter(Boolean).every((s) => s === 'roles')).toBe(true);
        } else {
          expectOAuthError(reply, 400, 'invalid_scope', { basic: true });
        }
      }
    });

    test('when an unknown resource indicator is requested, then invalid_target', async () => {
      expectOAuthError(await clientCredentials(h, ccBasic, { resource: 'https://unknown-rs.example/' }), 400, 'invalid_target', { basic: true });
    });
  });

  describe('B9 every token endpoint response is no-store JSON, errors follow RFC 6749 §5.2', () => {
    test('when a token request succeeds, then the response is application/json with Cache-Control: no-store', async () => {
      const reply = await clientCredentials(h, ccBasic);
      expectTokenSuccess(reply);
    });

    test('when 13 different error cases are sent, then each is a §5.2 JSON error with no-store and a clean description', async () => {
      const code = await getCode(h, confA);
      // [name, request, status, codes, sent with HTTP Basic]
      const cases: Array<[string, () => Promise<Reply>, number | number[], string[], boolean]> = [
        ['missing grant_type', () => postAs(h.endpoints.token, ccBasic, {}), 400, ['invalid_request'], true],
        ['unsupported grant_type', () => postAs(h.endpoints.token, ccBasic, { grant_type: 'password' }), 400, ['unsupported_grant_type'], true],
        ['unknown code', () => postAs(h.endpoints.token, confA, { grant_type: 'authorization_code', code: 'nope', redirect_uri: REDIRECT_URI, code_verifier: code.verifier }), 400, ['invalid_grant'], true],
        ['missing code', () => postAs(h.endpoints.token, confA, { grant_type: 'authorization_code', redirect_uri: REDIRECT_URI }), 400, ['invalid_request'], true],
        ['missing redirect_uri', () => postAs(h.endpoints.token, confA, { grant_type: 'authorization_code', code: code.code, code_verifier: code.verifier }), 400, ['invalid_request'], true],
        ['wrong verifier', () => redeem(h, confA, code, { code_verifier: fill(43, 'b') }), 400, ['invalid_grant'], true],
        ['unknown refresh token', () => refresh(h, confA, 'nope'), 400, ['invalid_grant'], true],
        ['missing refresh token', () => postAs(h.endpoints.token, confA, { grant_type: 'refresh_token' }), 400, ['invalid_request'], true],
        ['bad secret', () => call(h.endpoints.token, { basic: [ccBasic.clientId, 'wrong'], form: { grant_type: 'client_credentials' } }), 401, ['invalid_client'], true],
        ['unknown client', () => call(h.endpoints.token, { form: { grant_type: 'client_credentials', client_id: 'ghost', client_secret: 'x' } }), 401, ['invalid_client'], false],
        ['no client authentication', () => call(h.endpoints.token, { form: { grant_type: 'client_credentials' } }), [400, 401], ['invalid_request', 'invalid_client'], false],
        ['scope with a forbidden character', () => clientCredentials(h, ccBasic, { scope: 'roles "quoted"' }), 400, ['invalid_scope', 'invalid_request'], true],
        ['CR/LF injected into a parameter', () => postAs(h.endpoints.token, confA, { grant_type: 'authorization_code', code: 'a\r\nb\tc', redirect_uri: `${REDIRECT_URI}\r\nX-Injected: 1`, code_verifier: code.verifier }), 400, ['invalid_grant', 'invalid_request'], true],
      ];
      expect(cases.length).toBeGreaterThanOrEqual(10);
      for (const [name, send, status, codes, basic] of cases) {
        const reply = await send();
        try {
          expectOAuthError(reply, status, codes, { basic });
        } catch (error) {
          throw new Error(`case "${name}": ${(error as Error).message}`);
        }
      }
    });

    test('when the client asks for HTML (Accept: text/html), then an error is still §5.2 JSON', async () => {
      const reply = await call(h.endpoints.token, {
        basic: [ccBasic.clientId, ccBasic.clientSecret!],
        form: { grant_type: 'password' },
        headers: { accept: 'text/html' },
      });
      expectOAuthError(reply, 400, 'unsupported_grant_type', { basic: true });
    });

    describe('bad input at the token endpoint', () => {
      const send = (form: Form, init: CallInit = {}) => call(h.endpoints.token, { basic: [ccBasic.clientId, ccBasic.clientSecret!], form, ...init });

      test('when the body is empty, then invalid_request', async () => {
        expectOAuthError(await send(''), 400, 'invalid_request', { basic: true });
      });

      test('when grant_type is empty or given as an array-style name, then invalid_request or unsupported_grant_type', async () => {
        expectOAuthError(await send('grant_type='), 400, ['invalid_request', 'unsupported_grant_type'], { basic: true });
        expectOAuthError(await send('grant_type[]=client_credentials'), 400, 'invalid_request', { basic: true });
        expectOAuthError(await send('{"grant_type":"client_credentials"}'), 400, 'invalid_request', { basic: true });
      });

      test('when grant_type is duplicated, then invalid_request', async () => {
        expectOAuthError(await send([['grant_type', 'client_credentials'], ['grant_type', 'client_credentials']]), 400, 'invalid_request', { basic: true });
        expectOAuthError(await send([['grant_type', 'client_credentials'], ['grant_type', 'authorization_code']]), 400, 'invalid_request', { basic: true });
      });

      test('when code, redirect_uri or code_verifier is duplicated, then invalid_request', async () => {
        const code = await getCode(h, confA);
        const base: Array<[string, string]> = [['grant_type', 'authorization_code'], ['code', code.code], ['redirect_uri', REDIRECT_URI], ['code_verifier', code.verifier]];
        for (const duplicate of ['code', 'redirect_uri', 'code_verifier']) {
          const form = [...base, base.find(([name]) => name === duplicate)!];
          expectOAuthError(await call(h.endpoints.token, { basic: [confA.clientId, confA.clientSecret!], form }), 400, 'invalid_request', { basic: true });
        }
        // None of these consumed the code.
        expectTokenSuccess(await redeem(h, confA, code));
      });

      test('when refresh_token or scope is duplicated, then invalid_request', async () => {
        const tokens = await signInForTokens(h, confA, 'openid offline_access');
        expectOAuthError(
          await call(h.endpoints.token, { basic: [confA.clientId, confA.clientSecret!], form: [['grant_type', 'refresh_token'], ['refresh_token', tokens.refresh_token!], ['refresh_token', tokens.refresh_token!]] }),
          400,
          'invalid_request',
          { basic: true },
        );
        expectOAuthError(await send([['grant_type', 'client_credentials'], ['scope', 'roles'], ['scope', 'openid']]), 400, 'invalid_request', { basic: true });
      });

      test('when client_id or client_secret is duplicated in the body, then invalid_request', async () => {
        const twiceId: Array<[string, string]> = [['grant_type', 'client_credentials'], ['client_id', ccPost.clientId], ['client_id', ccPost.clientId], ['client_secret', ccPost.clientSecret!]];
        const twiceSecret: Array<[string, string]> = [['grant_type', 'client_credentials'], ['client_id', ccPost.clientId], ['client_secret', ccPost.clientSecret!], ['client_secret', ccPost.clientSecret!]];
        expectOAuthError(await call(h.endpoints.token, { form: twiceId }), 400, 'invalid_request');
        expectOAuthError(await call(h.endpoints.token, { form: twiceSecret }), 400, 'invalid_request');
      });

      test('when client_id in the body disagrees with the Basic client, then invalid_request or invalid_client', async () => {
        expectOAuthError(await send({ grant_type: 'client_credentials', client_id: ccPost.clientId }), [400, 401], ['invalid_request', 'invalid_client'], { basic: true });
      });

      test('when the body is larger than the server accepts (100 KB), then a 400/413 invalid_request', async () => {
        expectOAuthError(await send({ grant_type: 'client_credentials', padding: fill(100 * 1024) }), [400, 413], 'invalid_request', { basic: true });
      });

      test('when single parameters are oversized (40 KB code, refresh token, verifier, scope), then a 400 error, never a 500', async () => {
        const big = fill(40 * 1024);
        expectOAuthError(
          await call(h.endpoints.token, { basic: [confA.clientId, confA.clientSecret!], form: { grant_type: 'authorization_code', code: big, redirect_uri: REDIRECT_URI, code_verifier: fill(43) } }),
          400,
          ['invalid_grant', 'invalid_request'],
          { basic: true },
        );
        expectOAuthError(await refresh(h, confA, big), 400, ['invalid_grant', 'invalid_request'], { basic: true });
        expectOAuthError(
          await call(h.endpoints.token, { basic: [confA.clientId, confA.clientSecret!], form: { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI, code_verifier: big } }),
          400,
          ['invalid_grant', 'invalid_request'],
          { basic: true },
        );
        // RFC 6749 §3.3 lets the server ignore a scope it does not know: an error, or a token without it.
        const bigScope = await send({ grant_type: 'client_credentials', scope: big });
        if (bigScope.status === 200) expect(expectTokenSuccess(bigScope).scope).toBeUndefined();
        else expectOAuthError(bigScope, 400, ['invalid_scope', 'invalid_request'], { basic: true });
        expectOAuthError(await send({ grant_type: 'client_credentials', resource: `https://rs.example/${big}` }), 400, ['invalid_target', 'invalid_request'], { basic: true });
      });

      test('when parameters carry NUL bytes, invalid UTF-8, broken percent-encoding or non-ASCII, then a 400 error, never a 500', async () => {
        const raws = [
          'grant_type=client_credentials&scope=%00',
          'grant_type=client_credentials&scope=%C3%28%FF',
          'grant_type=client_credentials&scope=%E0%A4%A',
          'grant_type=client_%zz_credentials',
          'grant_type=%F0%9F%94%91',
          'grant_type=authorization_code&code=%00%00&redirect_uri=%00&code_verifier=%FF',
          'grant_type=refresh_token&refresh_token=%C0%AF..%2F..%2Fetc%2Fpasswd',
          'grant_type=refresh_token&refresh_token=\'%20OR%201=1--',
        ];
        for (const raw of raws) {
          const reply = await call(h.endpoints.token, {
            basic: [raw.includes('authorization_code') || raw.includes('refresh_token') ? confA.clientId : ccBasic.clientId, raw.includes('authorization_code') || raw.includes('refresh_token') ? confA.clientSecret! : ccBasic.clientSecret!],
            form: raw,
          });
          try {
            expectOAuthError(reply, 400, ['invalid_request', 'invalid_scope', 'invalid_grant', 'unsupported_grant_type'], { basic: true });
          } catch (error) {
            throw new Error(`body ${raw}: ${(error as Error).message}`);
          }
        }
      });

      test('when the form body declares an unknown charset, then the ASCII form is read or refused with invalid_request, never a 500', async () => {
        for (const charset of ['utf-99', 'utf-16le', '"><script>']) {
          const reply = await send('grant_type=client_credentials', { contentType: `application/x-www-form-urlencoded; charset=${charset}` });
          if (reply.status === 200) expectTokenSuccess(reply);
          else expectOAuthError(reply, 400, 'invalid_request', { basic: true });
        }
      });

      test('when the form content type carries malformed parameters, then the form is read or refused with invalid_request, never a 500', async () => {
        for (const contentType of ['application/x-www-form-urlencoded; charset', 'application/x-www-form-urlencoded;;;=', 'application/x-www-form-urlencoded; a="unterminated']) {
          const reply = await send('grant_type=client_credentials', { contentType });
          if (reply.status === 200) expectTokenSuccess(reply);
          else expectOAuthError(reply, 400, 'invalid_request', { basic: true });
        }
      });

      test('when the content type is not a form, then invalid_request, never a 500', async () => {
        for (const contentType of ['text/plain', 'multipart/form-data; boundary=x', ';;;', 'application/xml', 'application/x-www-form-urlencodedx']) {
          const reply = await send('grant_type=client_credentials', { contentType });
          try {
            expectOAuthError(reply, 400, 'invalid_request', { basic: true });
          } catch (error) {
            throw new Error(`content-type ${contentType}: ${(error as Error).message}`);
          }
        }
      });

      test('when the Authorization header is malformed, then invalid_request or invalid_client, never a 500', async () => {
        const headers = [
          'Basic !!!',
          'Basic',
          'Basic    ',
          `Basic ${Buffer.from('no-colon').toString('base64')}`,
          `Basic ${Buffer.from(`${ccBasic.clientId}:`).toString('base64')}`,
          `Basic ${Buffer.from(':secret').toString('base64')}`,
          `Basic ${Buffer.from('%zz:%zz').toString('base64')}`,
          `Basic ${Buffer.from('a\u0000b:c').toString('base64')}`,
          `Basic ${Buffer.from(`${fill(6000)}:${fill(2000)}`).toString('base64')}`,
          'Bearer some-token',
          'Digest username="x"',
          `Basic ${Buffer.from(`${ccBasic.clientId}:${ccBasic.clientSecret}`).toString('base64')} extra`,
        ];
        for (const authorization of headers) {
          const reply = await call(h.endpoints.token, { authorization, form: { grant_type: 'client_credentials' } });
          try {
            expectOAuthError(reply, [400, 401], ['invalid_request', 'invalid_client']);
          } catch (error) {
            throw new Error(`Authorization: ${authorization.slice(0, 60)}: ${(error as Error).message}`);
          }
        }
      });

      test('when the client_assertion is garbage or its type is wrong, then invalid_request or invalid_client', async () => {
        const type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
        const forms: Array<Record<string, string>> = [
          { grant_type: 'client_credentials', client_assertion_type: type, client_assertion: 'not-a-jwt' },
          { grant_type: 'client_credentials', client_assertion_type: type, client_assertion: 'a.b.c' },
          { grant_type: 'client_credentials', client_assertion_type: type, client_assertion: fill(40 * 1024) },
          { grant_type: 'client_credentials', client_assertion_type: 'urn:example:other', client_assertion: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
          { grant_type: 'client_credentials', client_assertion: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
        ];
        for (const form of forms) {
          expectOAuthError(await call(h.endpoints.token, { form }), [400, 401], ['invalid_request', 'invalid_client']);
        }
      });
    });

    describe('bad input at the introspection endpoint', () => {
      const send = (form: Form, init: CallInit = {}) => call(h.endpoints.introspection, { basic: [confA.clientId, confA.clientSecret!], form, ...init });

      test('when token is missing or empty, then invalid_request', async () => {
        expectOAuthError(await send({}), 400, 'invalid_request', { basic: true });
        expectOAuthError(await send({ token: '' }), 400, 'invalid_request', { basic: true });
        expectOAuthError(await send({ token_type_hint: 'access_token' }), 400, 'invalid_request', { basic: true });
      });

      test('when token is duplicated, then invalid_request', async () => {
        expectOAuthError(await send([['token', 'a'], ['token', 'b']]), 400, 'invalid_request', { basic: true });
      });

      test('when the body is larger than the server accepts (100 KB), then a 400/413 invalid_request', async () => {
        expectOAuthError(await send({ token: fill(100 * 1024) }), [400, 413], 'invalid_request', { basic: true });
      });

      test('when the token is oversized (40 KB), odd bytes or an odd type hint, then exactly {"active":false}', async () => {
        for (const form of <Array<Record<string, string>>>[
          { token: fill(40 * 1024) },
          { token: '\u0000\u00ff\ud83d\udd11' },
          { token: '\' OR 1=1--' },
          { token: 'x', token_type_hint: 'not_a_hint' },
          { token: 'x', token_type_hint: fill(10 * 1024) },
        ]) {
          const reply = await send(form);
          expect(reply.status).toBe(200);
          expect(reply.headers.get('cache-control')).toMatch(/no-store/);
          expect(reply.text).toBe(INACTIVE);
        }
      });

      test('when the client is not authenticated or authenticates wrongly, then 401 invalid_client', async () => {
        expectOAuthError(await call(h.endpoints.introspection, { form: { token: 'x' } }), [400, 401], ['invalid_request', 'invalid_client']);
        expectOAuthError(await call(h.endpoints.introspection, { form: { token: 'x', client_id: confA.clientId } }), 401, 'invalid_client');
        expectOAuthError(await call(h.endpoints.introspection, { basic: [confA.clientId, 'wrong'], form: { token: 'x' } }), 401, 'invalid_client', { basic: true });
        expectOAuthError(await call(h.endpoints.introspection, { authorization: 'Basic !!!', form: { token: 'x' } }), 400, 'invalid_request');
      });

      test('when the body has an unknown charset, then {"active":false} or invalid_request, never a 500', async () => {
        const reply = await send('token=x', { contentType: 'application/x-www-form-urlencoded; charset=utf-99' });
        if (reply.status === 200) expect(reply.text).toBe(INACTIVE);
        else expectOAuthError(reply, 400, 'invalid_request', { basic: true });
      });

      test('when the body is not a form (text/plain, multipart), then invalid_request', async () => {
        for (const contentType of ['text/plain', 'multipart/form-data; boundary=x']) {
          expectOAuthError(await send('token=x', { contentType }), 400, 'invalid_request', { basic: true });
        }
      });
    });

    describe('bad input at the revocation endpoint', () => {
      const send = (form: Form, init: CallInit = {}) => call(h.endpoints.revocation, { basic: [confA.clientId, confA.clientSecret!], form, ...init });

      test('when token is missing or empty, then invalid_request', async () => {
        expectOAuthError(await send({}), 400, 'invalid_request', { basic: true });
        expectOAuthError(await send({ token: '' }), 400, 'invalid_request', { basic: true });
      });

      test('when token is duplicated, then invalid_request', async () => {
        expectOAuthError(await send([['token', 'a'], ['token', 'b']]), 400, 'invalid_request', { basic: true });
      });

      test('when the body is larger than the server accepts (100 KB), then a 400/413 invalid_request', async () => {
        expectOAuthError(await send({ token: fill(100 * 1024) }), [400, 413], 'invalid_request', { basic: true });
      });

      test('when the token is oversized (40 KB), odd bytes or an odd type hint, then 200', async () => {
        for (const form of <Array<Record<string, string>>>[
          { token: fill(40 * 1024) },
          { token: '\u0000\u00ff\ud83d\udd11' },
          { token: 'x', token_type_hint: 'not_a_hint' },
        ]) {
          const reply = await send(form);
          expect(reply.status).toBe(200);
          expect(reply.text).not.toMatch(LEAKS);
        }
      });

      test('when the client is not authenticated or authenticates wrongly, then 401 invalid_client', async () => {
        expectOAuthError(await call(h.endpoints.revocation, { form: { token: 'x' } }), [400, 401], ['invalid_request', 'invalid_client']);
        expectOAuthError(await call(h.endpoints.revocation, { form: { token: 'x', client_id: confA.clientId } }), 401, 'invalid_client');
        expectOAuthError(await call(h.endpoints.revocation, { basic: [confA.clientId, 'wrong'], form: { token: 'x' } }), 401, 'invalid_client', { basic: true });
        expectOAuthError(await call(h.endpoints.revocation, { authorization: 'Basic !!!', form: { token: 'x' } }), 400, 'invalid_request');
      });

      test('when the body has an unknown charset, then 200 or invalid_request, never a 500', async () => {
        const reply = await send('token=x', { contentType: 'application/x-www-form-urlencoded; charset=utf-99' });
        if (reply.status !== 200) expectOAuthError(reply, 400, 'invalid_request', { basic: true });
      });

      test('when the body is not a form (text/plain, multipart), then invalid_request', async () => {
        for (const contentType of ['text/plain', 'multipart/form-data; boundary=x']) {
          expectOAuthError(await send('token=x', { contentType }), 400, 'invalid_request', { basic: true });
        }
      });
    });
  });

  describe('B10 public-client refresh tokens rotate and reuse revokes the grant', () => {
    test('when a public client replays a used refresh token, then invalid_grant and the newest RT and AT die too', async () => {
      const first = await signInForTokens(h, pub);
      expect(first.refresh_token).toBeTruthy();
      const second = expectTokenSuccess(await refresh(h, pub, first.refresh_token!)) as unknown as Tokens;
      expect(second.refresh_token).toBeTruthy();
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await userinfo(h, second.access_token)).status).toBe(200);

      expectOAuthError(await refresh(h, pub, first.refresh_token!), 400, 'invalid_grant');

      expectOAuthError(await refresh(h, pub, second.refresh_token!), 400, 'invalid_grant');
      expect((await userinfo(h, second.access_token)).status).toBe(401);
    });

    test('when a confidential client replays a used refresh token, then invalid_grant and the newest AT is inactive', async () => {
      const first = await signInForTokens(h, confA);
      const second = expectTokenSuccess(await refresh(h, confA, first.refresh_token!)) as unknown as Tokens;
      expect(second.refresh_token).not.toBe(first.refresh_token);
      await expectActive(h, confA, second.access_token);
      expectOAuthError(await refresh(h, confA, first.refresh_token!), 400, 'invalid_grant', { basic: true });
      await expectInactive(h, confA, second.access_token);
      expectOAuthError(await refresh(h, confA, second.refresh_token!), 400, 'invalid_grant', { basic: true });
    });
  });

  describe('B12 password change, disabling and sign-out revoke the user\'s tokens', () => {
    // Password change and disabling have no admin API yet: driven through the account service.
    test('when the user\'s password is changed, then their refresh tokens get invalid_grant and their access tokens are inactive', async () => {
      const user = await createUser(h.app);
      const tokens = await signInForTokens(h, confA, 'openid offline_access', new Browser(), user.email);
      await expectActive(h, confA, tokens.access_token);

      await h.app.app.services.accounts.setPassword(user.id, { password: 'a different horse battery staple' }, TEST_ACTOR);

      await expectInactive(h, confA, tokens.access_token);
      expect((await userinfo(h, tokens.access_token)).status).toBe(401);
      expectOAuthError(await refresh(h, confA, tokens.refresh_token!), 400, 'invalid_grant', { basic: true });
    });

    test('when the user is disabled, then introspection says {"active":false} and refresh gets invalid_grant', async () => {
      const user = await createUser(h.app);
      const tokens = await signInForTokens(h, confA, 'openid offline_access', new Browser(), user.email);
      await expectActive(h, confA, tokens.access_token);

      await h.app.app.services.accounts.setDisabled(user.id, true, TEST_ACTOR);

      await expectInactive(h, confA, tokens.access_token);
      expect((await userinfo(h, tokens.access_token)).status).toBe(401);
      expectOAuthError(await refresh(h, confA, tokens.refresh_token!), 400, 'invalid_grant', { basic: true });
    });

    test('when the user signs out, then access tokens issued in that session become inactive', async () => {
      const browser = new Browser();
      const tokens = await signInForTokens(h, confA, 'openid profile', browser);
      await expectActive(h, confA, tokens.access_token);

      const url = new URL(h.endpoints.endSession);
      url.search = new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' }).toString();
      const confirm = await browser.follow(url.toString(), h.app.issuer);
      expect(confirm.status).toBe(200);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)![1]!;
      const action = /action="([^"]+)"/.exec(confirm.body)![1]!;
      const done = await browser.follow(new URL(action, h.app.issuer).toString(), h.app.issuer, { form: { xsrf, logout: 'yes' } });
      expect(done.location).toBe(`${POST_LOGOUT_URI}?state=bye`);

      await expectInactive(h, confA, tokens.access_token);
      expect((await userinfo(h, tokens.access_token)).status).toBe(401);
    });
  });

  describe('B13 the token endpoint takes only form-encoded POSTs', () => {
    const endpointsUnderTest = () => [
      ['token', h.endpoints.token, { grant_type: 'client_credentials' }],
      ['introspection', h.endpoints.introspection, { token: 'x' }],
      ['revocation', h.endpoints.revocation, { token: 'x' }],
    ] as const;

    test('when the token, introspection or revocation endpoint gets a GET with everything in the query, then a 400/405 §5.2 error', async () => {
      for (const [name, url, params] of endpointsUnderTest()) {
        const query = new URLSearchParams({ ...params, client_id: ccBasic.clientId, client_secret: ccBasic.clientSecret! });
        for (const init of [{}, { basic: [ccBasic.clientId, ccBasic.clientSecret!] as [string, string] }]) {
          const reply = await call(`${url}?${query}`, { method: 'GET', ...init });
          try {
            expect(reply.status).not.toBe(200);
            expectOAuthError(reply, [400, 405], 'invalid_request');
          } catch (error) {
            throw new Error(`GET ${name}: ${(error as Error).message}`);
          }
        }
      }
    });

    test('when the token, introspection or revocation endpoint gets a JSON body, then 400 invalid_request', async () => {
      for (const [name, url, params] of endpointsUnderTest()) {
        const reply = await call(url, { basic: [ccBasic.clientId, ccBasic.clientSecret!], json: params });
        try {
          expectOAuthError(reply, 400, 'invalid_request', { basic: true });
        } catch (error) {
          throw new Error(`JSON to ${name}: ${(error as Error).message}`);
        }
        expectOAuthError(await call(url, { basic: [ccBasic.clientId, ccBasic.clientSecret!], raw: '{"grant_type":', contentType: 'application/json' }), 400, 'invalid_request', { basic: true });
      }
    });

    test('when client credentials come only in the query string of a POST, then they are not honoured', async () => {
      const query = new URLSearchParams({ client_id: ccPost.clientId, client_secret: ccPost.clientSecret! });
      const reply = await call(`${h.endpoints.token}?${query}`, { form: { grant_type: 'client_credentials' } });
      expect(reply.status).not.toBe(200);
      expectOAuthError(reply, [400, 401], ['invalid_request', 'invalid_client']);
    });

    test('when the code and verifier come only in the query string of a POST, then they are not honoured and the code stays unused', async () => {
      const code = await getCode(h, confA);
      const query = new URLSearchParams({ code: code.code, code_verifier: code.verifier, redirect_uri: REDIRECT_URI, grant_type: 'authorization_code' });
      const reply = await call(`${h.endpoints.token}?${query}`, { basic: [confA.clientId, confA.clientSecret!], form: { grant_type: 'authorization_code' } });
      expectOAuthError(reply, 400, 'invalid_request', { basic: true });
      expectTokenSuccess(await redeem(h, confA, code));
    });

    test('when the token endpoint gets PUT or DELETE, then it does not issue tokens', async () => {
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        const reply = await call(h.endpoints.token, { method, basic: [ccBasic.clientId, ccBasic.clientSecret!], form: { grant_type: 'client_credentials' } });
        expect(reply.status).not.toBe(200);
        expect(reply.status).toBeLessThan(500);
        expect(reply.body?.access_token).toBeUndefined();
      }
    });
  });

  describe('B14 revocation and introspection', () => {
    test('when revocation or introspection is called without client authentication, then 401 invalid_client and nothing is revoked', async () => {
      const tokens = await signInForTokens(h, confA);
      expectOAuthError(await call(h.endpoints.revocation, { form: { token: tokens.refresh_token! } }), [400, 401], ['invalid_request', 'invalid_client']);
      expectOAuthError(await call(h.endpoints.revocation, { form: { token: tokens.refresh_token!, client_id: confA.clientId } }), 401, 'invalid_client');
      expectOAuthError(await call(h.endpoints.introspection, { form: { token: tokens.access_token, client_id: confA.clientId } }), 401, 'invalid_client');
      await expectActive(h, confA, tokens.access_token);
      expectTokenSuccess(await refresh(h, confA, tokens.refresh_token!));
    });

    test('when an unknown, garbage or already-revoked token is revoked, then 200', async () => {
      expect((await revoke(h, confA, 'garbage-token')).status).toBe(200);
      expect((await revoke(h, confA, randomBytes(32).toString('base64url'), { token_type_hint: 'refresh_token' })).status).toBe(200);
      const tokens = await signInForTokens(h, confA);
      expect((await revoke(h, confA, tokens.access_token)).status).toBe(200);
      await expectInactive(h, confA, tokens.access_token);
      expect((await revoke(h, confA, tokens.access_token)).status).toBe(200);
    });

    test('when another client revokes a token, then it answers 200 but the token keeps working', async () => {
      const tokens = await signInForTokens(h, confA);
      expect((await revoke(h, confB, tokens.access_token)).status).toBe(200);
      expect((await revoke(h, confB, tokens.refresh_token!)).status).toBe(200);
      await expectActive(h, confA, tokens.access_token);
      expect((await userinfo(h, tokens.access_token)).status).toBe(200);
      expectTokenSuccess(await refresh(h, confA, tokens.refresh_token!));
    });

    test('when a refresh token is revoked, then the grant\'s access tokens are revoked too', async () => {
      const tokens = await signInForTokens(h, confA);
      await expectActive(h, confA, tokens.access_token);
      expect((await revoke(h, confA, tokens.refresh_token!, { token_type_hint: 'refresh_token' })).status).toBe(200);
      await expectInactive(h, confA, tokens.access_token);
      expect((await userinfo(h, tokens.access_token)).status).toBe(401);
      expectOAuthError(await refresh(h, confA, tokens.refresh_token!), 400, 'invalid_grant', { basic: true });
    });

    test('when revoked, foreign and garbage tokens are introspected, then each answer is exactly {"active":false}', async () => {
      const revoked = await signInForTokens(h, confA);
      await revoke(h, confA, revoked.access_token);
      const foreign = await signInForTokens(h, confA);
      const machine = expectTokenSuccess(await clientCredentials(h, ccBasic));

      const answers = [
        await introspect(h, confA, revoked.access_token),
        await introspect(h, confB, foreign.access_token),
        await introspect(h, confB, foreign.refresh_token!),
        await introspect(h, confA, String(machine.access_token)),
        await introspect(h, confA, 'garbage'),
        await introspect(h, confA, randomBytes(32).toString('base64url')),
        await introspect(h, confA, foreign.access_token.slice(0, -1)),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get('cache-control')).toMatch(/no-store/);
        expect(answer.text).toBe(INACTIVE);
      }
      // The owner still sees the foreign client's token as active: the false above is policy, not breakage.
      await expectActive(h, confA, foreign.access_token);
    });

    test('when a JWT that Gatehouse does not know (an ID token) is introspected, then exactly {"active":false}', async () => {
      const tokens = await signInForTokens(h, confA, 'openid');
      const reply = await introspect(h, confA, tokens.id_token!);
      expect({ status: reply.status, text: reply.text }).toEqual({ status: 200, text: INACTIVE });
    });

    test('when a public client introspects even its own token, then exactly {"active":false}', async () => {
      const tokens = await signInForTokens(h, pub, 'openid');
      const reply = await introspect(h, pub, tokens.access_token);
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(INACTIVE);
    });
  });
});

describe('with short token lifetimes (REFRESH_TOKEN_TTL=3 s, CLIENT_CREDENTIALS_TTL=2 s)', () => {
  let conf: TestClient;
  let machine: TestClient;

  beforeAll(async () => {
    [conf, machine] = await Promise.all([client(short.app, 'client_secret_basic'), machineClient(short.app)]);
  });

  const sleepUntil = (deadline: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())));

  describe('B11 refresh tokens have an absolute lifetime, even when rotated, and an idle expiry', () => {
    test('when a refresh token keeps being rotated past the absolute lifetime, then invalid_grant', async () => {
      // Lifetimes are whole seconds (exp = floor(iat) + 3), so the first token is dead by
      // issuedAt + 3 s, while a sliding 3 s lifetime would keep the last rotation (issued
      // after issuedAt + 1.3 s) alive past issuedAt + 3.3 s.
      const first = await signInForTokens(short, conf, 'openid offline_access');
      const issuedAt = Date.now();
      await sleepUntil(issuedAt + 600);
      const second = expectTokenSuccess(await refresh(short, conf, first.refresh_token!)) as unknown as Tokens;
      await sleepUntil(issuedAt + 1300);
      const third = expectTokenSuccess(await refresh(short, conf, second.refresh_token!)) as unknown as Tokens;
      expect(third.refresh_token).not.toBe(second.refresh_token);
      await sleepUntil(issuedAt + 3100);
      expectOAuthError(await refresh(short, conf, third.refresh_token!), 400, 'invalid_grant', { basic: true });
    });

    test('when a refresh token sits unused past its lifetime, then invalid_grant', async () => {
      const tokens = await signInForTokens(short, conf, 'openid offline_access');
      const issuedAt = Date.now();
      await sleepUntil(issuedAt + 3100);
      expectOAuthError(await refresh(short, conf, tokens.refresh_token!), 400, 'invalid_grant', { basic: true });
    });
  });

  describe('B14 an expired token introspects as exactly {"active":false}', () => {
    test('when an expired client-credentials token is introspected, then exactly {"active":false}', async () => {
      const token = String(expectTokenSuccess(await clientCredentials(short, machine)).access_token);
      await expectActive(short, machine, token);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      const reply = await introspect(short, machine, token);
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(INACTIVE);
      expect(reply.text).toBe((await introspect(short, machine, 'garbage')).text);
    });
  });
});
