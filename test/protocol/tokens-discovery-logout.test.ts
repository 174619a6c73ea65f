// Checklist sections D and E (/work/shared/reference/security-checklist.md): the keys,
// ID tokens, opaque artifacts, userinfo and discovery document Gatehouse publishes, and
// RP-initiated logout. Everything goes over HTTP to the real app. The database is read or
// written directly only to set the scene or check what HTTP cannot show: that a refused
// registration stored no client (D2), deleting an account (D3), moving a token's stored
// expiry into the past instead of waiting (D8), and that logout deleted the server-side
// session (E5).
import { createHash } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import {
  POST_LOGOUT_URI, REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, type RegisteredClient,
} from '../helpers/oidc.js';

type Discovery = Record<string, unknown> & { issuer: string; jwks_uri: string; end_session_endpoint?: string; userinfo_endpoint: string };
type User = Awaited<ReturnType<typeof createUser>>;

const ALL_SCOPES = 'openid profile email address phone offline_access';

let app: TestApp;
let discovery: Discovery;
let jwks: JSONWebKeySet;
/** A trusted first-party application (no consent page) allowed every scope. */
let firstParty: RegisteredClient;
let firstPartyConfig: oidc.Configuration;

beforeAll(async () => {
  app = await startApp();
  discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Discovery;
  jwks = (await (await fetch(discovery.jwks_uri)).json()) as JSONWebKeySet;
  firstParty = await registerClient(app, { client_name: 'First Party', first_party: true, scope: ALL_SCOPES });
  firstPartyConfig = await relyingParty(app, firstParty);
});

afterAll(async () => {
  await app.destroy();
});

interface SignedIn {
  browser: Browser;
  request: Awaited<ReturnType<typeof authRequest>>;
  tokens: Awaited<ReturnType<typeof exchange>>;
}

/** A full sign-in through the login page in a fresh browser, then the code exchange. */
async function signInFresh(user: User, config = firstPartyConfig, params: Record<string, string> = {}, browser = new Browser()): Promise<SignedIn> {
  const request = await authRequest(config, params);
  const callback = await signIn(browser, app, request, user.email);
  const tokens = await exchange(config, callback, request);
  return { browser, request, tokens };
}

/** A prompt=none request from this browser: the code, or the error it came back with. */
async function silentAuth(browser: Browser, config = firstPartyConfig): Promise<{ code: string | null; error: string | null }> {
  const request = await authRequest(config, { prompt: 'none' });
  const hop = await browser.follow(request.url.toString(), app.issuer);
  expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);
  const back = new URL(hop.location!);
  return { code: back.searchParams.get('code'), error: back.searchParams.get('error') };
}

async function sessionCookie(browser: Browser): Promise<string | undefined> {
  const cookies = await browser.jar.getCookies(app.issuer);
  return cookies.find((cookie) => cookie.key === '_session')?.value;
}

/** An HTTP answer that sends the browser nowhere: no Location, no auto-submitting form. */
function expectNoRedirect(hop: Hop) {
  expect(hop.headers.get('location')).toBeNull();
  expect(hop.status).toBeLessThan(300);
  expect(hop.body).not.toMatch(/<form[^>]*action="https?:\/\/(?!127\.0\.0\.1)/);
  expect(hop.body).not.toMatch(/http-equiv="refresh"/i);
}

function expectErrorPage(hop: Hop) {
  expect(hop.status).toBeGreaterThanOrEqual(400);
  expect(hop.status).toBeLessThan(500);
  expect(hop.headers.get('location')).toBeNull();
  expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  expect(hop.body).not.toContain('localhost:8080');
}

function base64urlBytes(value: string): Buffer {
  return Buffer.from(value, 'base64url');
}

// ---------------------------------------------------------------------------------------
describe('D1 JWKS holds public keys only, each with a unique kid, use and alg, of sufficient strength', () => {
  const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

  test('when the jwks_uri is fetched, then it is JSON with at least one RSA and one EC key and no private member', async () => {
    const response = await fetch(discovery.jwks_uri);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/(jwk-set\+)?json/);
    const body = (await response.json()) as JSONWebKeySet;
    expect(Object.keys(body)).toEqual(['keys']);
    expect(body.keys.map((key) => key.kty).sort()).toEqual(expect.arrayContaining(['EC', 'RSA']));
    for (const key of body.keys) {
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
    }
  });

  test('when the keys are listed, then every key has a distinct kid, use "sig" and an alg matching its type', () => {
    const kids = jwks.keys.map((key) => key.kid);
    expect(kids.every((kid) => typeof kid === 'string' && kid.length > 0)).toBe(true);
    expect(new Set(kids).size).toBe(kids.length);
    for (const key of jwks.keys) {
      expect(key.use).toBe('sig');
      expect(typeof key.alg).toBe('string');
      if (key.kty === 'RSA') expect(key.alg).toMatch(/^(RS|PS)(256|384|512)$/);
      if (key.kty === 'EC') expect(key.alg).toMatch(/^ES(256|384|512)$/);
    }
  });

  test('when key sizes are measured, then RSA moduli are at least 2048 bits and EC keys use P-256 or stronger', () => {
    const curveForAlg: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
    for (const key of jwks.keys) {
      expect(['RSA', 'EC']).toContain(key.kty);
      if (key.kty === 'RSA') {
        const modulus = base64urlBytes(key.n!);
        const bits = modulus.length * 8 - Math.clz32(modulus[0]!) + 24;
        expect(bits).toBeGreaterThanOrEqual(2048);
        expect(key.e).toBe('AQAB');
      } else {
        expect(['P-256', 'P-384', 'P-521']).toContain(key.crv);
        expect(key.crv).toBe(curveForAlg[key.alg!]);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('D2 ID tokens are RS256 by default, ES256/PS256 are offered, none is never issued', () => {
  test('when discovery is read, then RS256 is offered with ES256 or PS256, and "none" is not', () => {
    const algs = discovery.id_token_signing_alg_values_supported as string[];
    expect(algs).toContain('RS256');
    expect(algs.some((alg) => alg === 'ES256' || alg === 'PS256')).toBe(true);
    expect(algs.map((alg) => alg.toLowerCase())).not.toContain('none');
    expect(algs.some((alg) => alg.startsWith('HS'))).toBe(false);
  });

  test('when a default client signs in, then its ID token is RS256, names a published kid and verifies against the JWKS', async () => {
    const { tokens } = await signInFresh(await createUser(app));
    const header = decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe('RS256');
    expect(jwks.keys.map((key) => key.kid)).toContain(header.kid);
    await expect(jwtVerify(tokens.id_token!, createLocalJWKSet(jwks), { issuer: app.issuer, audience: firstParty.clientId })).resolves.toBeTruthy();
  });

  test('when a client registered for ES256 signs in, then its ID token is ES256 and verifies against the JWKS', async () => {
    const client = await registerClient(app, { client_name: 'EC App', first_party: true, id_token_signed_response_alg: 'ES256' });
    const config = await relyingParty(app, client);
    const { tokens } = await signInFresh(await createUser(app), config);
    const header = decodeProtectedHeader(tokens.id_token!);
    expect(header.alg).toBe('ES256');
    const verified = await jwtVerify(tokens.id_token!, createLocalJWKSet(jwks), { issuer: app.issuer, audience: client.clientId, algorithms: ['ES256'] });
    expect(verified.protectedHeader.kid).toBe(header.kid);
  });

  test('when a client asks for unsigned ID tokens (none) or HS256, then registration is refused with 400', async () => {
    const before = await app.db.prisma.client.count();
    for (const alg of ['none', 'HS256']) {
      await expect(registerClient(app, { client_name: `Unsigned ${alg}`, id_token_signed_response_alg: alg }))
        .rejects.toMatchObject({ status: 400, code: 'invalid_input' });
    }
    expect(await app.db.prisma.client.count()).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------
describe('D3 ID token claims: iss, aud, exp, iat, sub, nonce, auth_time', () => {
  let user: User;
  beforeAll(async () => {
    user = await createUser(app);
  });

  test('when a user signs in, then iss, aud, exp, iat, sub and nonce are exactly as OIDC Core 2 requires', async () => {
    const { tokens, request } = await signInFresh(user);
    const { payload } = await jwtVerify(tokens.id_token!, createLocalJWKSet(jwks), { issuer: app.issuer, audience: firstParty.clientId });
    const now = Math.floor(Date.now() / 1000);
    expect(payload.iss).toBe(app.issuer);
    expect(payload.iss).toBe(discovery.issuer);
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    expect(audiences).toContain(firstParty.clientId);
    if (audiences.length > 1) expect(payload.azp).toBe(firstParty.clientId);
    expect(payload.exp).toBeGreaterThan(now);
    expect(Math.abs(payload.iat! - now)).toBeLessThanOrEqual(300);
    expect(payload.sub).toBe(user.id);
    expect(payload.sub!.length).toBeLessThanOrEqual(255);
    expect(payload.sub).toMatch(/^[\x21-\x7e]+$/);
    expect(payload.nonce).toBe(request.nonce);
  });

  test('when max_age is requested, then auth_time is present and is the time of this login', async () => {
    const started = Math.floor(Date.now() / 1000);
    const { tokens } = await signInFresh(user, firstPartyConfig, { max_age: '300' });
    const claims = decodeJwt(tokens.id_token!);
    expect(typeof claims.auth_time).toBe('number');
    expect(claims.auth_time as number).toBeGreaterThanOrEqual(started - 1);
    expect(claims.auth_time as number).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
  });

  test('when the same user signs in three times, then sub is the same every time and differs from another user\'s', async () => {
    const subs: string[] = [];
    for (let i = 0; i < 3; i += 1) subs.push(decodeJwt((await signInFresh(user)).tokens.id_token!).sub!);
    expect(new Set(subs)).toEqual(new Set([user.id]));
    const other = await signInFresh(await createUser(app));
    expect(decodeJwt(other.tokens.id_token!).sub).not.toBe(user.id);
  });

  test('when an account is deleted and its email registered again, then the new account gets a new sub', async () => {
    const first = await createUser(app);
    const oldSub = decodeJwt((await signInFresh(first)).tokens.id_token!).sub;
    await app.db.prisma.user.delete({ where: { id: first.id } });
    const second = await createUser(app, { email: first.email });
    const newSub = decodeJwt((await signInFresh(second)).tokens.id_token!).sub;
    expect(newSub).toBe(second.id);
    expect(newSub).not.toBe(oldSub);
  });
});

// ---------------------------------------------------------------------------------------
describe('D7 opaque artifacts carry at least 128 bits from a CSPRNG and are not UUIDs', () => {
  const SAMPLES = 200;
  const WORKERS = 4;
  const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const samples = { codes: [] as string[], refreshTokens: [] as string[], accessTokens: [] as string[], sessions: [] as string[], interactions: [] as string[] };

  beforeAll(async () => {
    const user = await createUser(app);
    const verifier = oidc.randomPKCECodeVerifier();
    const challenge = await oidc.calculatePKCECodeChallenge(verifier);
    const authUrl = (state: string) => {
      const url = new URL(`${app.issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: firstParty.clientId, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid offline_access',
        // prompt=consent: every round runs an interaction (a new uid) and resumes it, which
        // gives the session a new identifier; and offline_access yields a refresh token.
        prompt: 'consent', code_challenge: challenge, code_challenge_method: 'S256', state,
      }).toString();
      return url.toString();
    };
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(firstParty.clientId)}:${encodeURIComponent(firstParty.clientSecret!)}`).toString('base64')}`;

    async function worker(index: number, rounds: number) {
      const browser = new Browser();
      // One real password login per worker; the rounds then ride on that session.
      await signIn(browser, app, await authRequest(firstPartyConfig), user.email);
      for (let round = 0; round < rounds; round += 1) {
        const start = await browser.request(authUrl(`w${index}r${round}`));
        const uid = /\/interaction\/([^/?#]+)$/.exec(new URL(start.location!).pathname)?.[1];
        if (!uid) throw new Error(`round did not start an interaction: ${start.status} ${start.location}`);
        samples.interactions.push(uid);
        const end = await browser.follow(start.location!, app.issuer);
        const code = end.location ? new URL(end.location).searchParams.get('code') : null;
        if (!code) throw new Error(`round did not return a code: ${end.status} ${end.location ?? end.body.slice(0, 200)}`);
        samples.codes.push(code);
        samples.sessions.push((await sessionCookie(browser))!);
        const token = await fetch(`${app.issuer}/token`, {
          method: 'POST',
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
        });
        const body = (await token.json()) as { access_token?: string; refresh_token?: string };
        if (!body.access_token || !body.refresh_token) throw new Error(`token exchange failed: ${JSON.stringify(body)}`);
        samples.accessTokens.push(body.access_token);
        samples.refreshTokens.push(body.refresh_token);
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index, SAMPLES / WORKERS)));
    // ~800 requests: a few seconds on an idle machine, far more on a loaded one.
  }, 120_000);

  /**
   * Pearson's chi-square over the 64 base64url symbols, on every character except each
   * sample's last (a base64-encoded byte string's last character carries fewer bits).
   * The bound is the chi-square quantile for 63 degrees of freedom at p = 1e-6
   * (Wilson-Hilferty), so a uniform generator fails it about once in a million runs,
   * while a skewed or reduced alphabet (hex, digits, a counter) exceeds it by far.
   */
  function chiSquare(values: string[]): { statistic: number; bound: number } {
    const counts = new Map<string, number>([...BASE64URL].map((char) => [char, 0]));
    let total = 0;
    for (const value of values) {
      for (const char of value.slice(0, -1)) {
        counts.set(char, (counts.get(char) ?? 0) + 1);
        total += 1;
      }
    }
    const expected = total / BASE64URL.length;
    let statistic = 0;
    for (const count of counts.values()) statistic += (count - expected) ** 2 / expected;
    const df = BASE64URL.length - 1;
    const z = 4.753; // one-sided standard normal quantile for p = 1e-6
    const bound = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
    return { statistic, bound };
  }

  function expectStrongArtifacts(values: string[]) {
    expect(values).toHaveLength(SAMPLES);
    expect(new Set(values).size).toBe(SAMPLES);
    for (const value of values) {
      expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
      // ≥ 22 base64url characters: at least 128 bits.
      expect(value.length).toBeGreaterThanOrEqual(22);
      expect(value).not.toMatch(/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i);
    }
    expect(new Set(values.map((value) => value.length)).size).toBe(1);
    const { statistic, bound } = chiSquare(values);
    expect(statistic).toBeLessThan(bound);
  }

  test('when 200 authorization codes are collected, then they are unique, long enough, uniform base64url', () => {
    expectStrongArtifacts(samples.codes);
  });

  test('when 200 refresh tokens are collected, then they are unique, long enough, uniform and use only RFC 6749 A.17 characters', () => {
    expectStrongArtifacts(samples.refreshTokens);
    for (const token of samples.refreshTokens) expect(token).toMatch(/^[\x20-\x7e]+$/);
  });

  test('when 200 opaque access tokens are collected, then they are unique, long enough, uniform base64url', () => {
    for (const token of samples.accessTokens) expect(token.split('.')).toHaveLength(1);
    expectStrongArtifacts(samples.accessTokens);
  });

  test('when 200 session cookies are collected, then they are unique, long enough, uniform base64url', () => {
    expectStrongArtifacts(samples.sessions);
  });

  test('when 200 interaction uids are collected, then they are unique, long enough, uniform base64url', () => {
    expectStrongArtifacts(samples.interactions);
  });

  test('when all artifacts are pooled, then no value appears in two roles', () => {
    const all = Object.values(samples).flat();
    expect(new Set(all).size).toBe(all.length);
  });
});

// ---------------------------------------------------------------------------------------
describe('D8 UserInfo needs a valid bearer access token and releases only the granted claims', () => {
  let user: User;
  let full: SignedIn;

  function userinfo(token: string | undefined, init: { method?: string; query?: string; body?: string } = {}) {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (init.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    return fetch(`${discovery.userinfo_endpoint}${init.query ?? ''}`, { method: init.method ?? 'GET', headers, body: init.body });
  }

  async function expectInvalidToken(response: Response) {
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer\b.*error="invalid_token"/);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('sub');
  }

  beforeAll(async () => {
    user = await createUser(app, {
      claims: {
        name: 'Grace Hopper', given_name: 'Grace', phone_number: '+1 555 0100', address: { locality: 'Arlington', country: 'US' },
      },
      email_verified: true,
    });
    full = await signInFresh(user, firstPartyConfig, { scope: 'openid profile email address phone' });
  });

  test('when the access token is sent by GET in the Authorization header, then the claims come back with the ID token\'s sub', async () => {
    const response = await userinfo(full.tokens.access_token);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const claims = (await response.json()) as Record<string, unknown>;
    expect(claims.sub).toBe(decodeJwt(full.tokens.id_token!).sub);
    expect(claims.sub).toBe(user.id);
  });

  test('when the access token is sent by POST in the Authorization header, then the same claims come back', async () => {
    const get = (await (await userinfo(full.tokens.access_token)).json()) as Record<string, unknown>;
    const response = await userinfo(full.tokens.access_token, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(get);
  });

  test('when the access token is only in the query string, then it is not accepted: a 4xx and no claims', async () => {
    const response = await userinfo(undefined, { query: `?access_token=${encodeURIComponent(full.tokens.access_token)}` });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(await response.json()).not.toHaveProperty('sub');
  });

  test('when the access token is only in the query string, then the answer is 401 with a Bearer challenge (RFC 6750 §3.1: an unsupported method is no authentication)', async () => {
    const response = await userinfo(undefined, { query: `?access_token=${encodeURIComponent(full.tokens.access_token)}` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
  });

  test('when the token is unknown, malformed or altered, then 401 with WWW-Authenticate: Bearer error="invalid_token"', async () => {
    const real = full.tokens.access_token;
    const altered = `${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`;
    for (const token of [oidc.randomState(), 'x', altered, `${real}x`]) {
      await expectInvalidToken(await userinfo(token));
    }
  });

  test('when the token was revoked, then 401 invalid_token', async () => {
    const { tokens } = await signInFresh(user);
    expect((await userinfo(tokens.access_token)).status).toBe(200);
    await oidc.tokenRevocation(firstPartyConfig, tokens.access_token);
    await expectInvalidToken(await userinfo(tokens.access_token));
  });

  test('when the token has expired (its stored expiry moved into the past), then 401 invalid_token', async () => {
    const { tokens } = await signInFresh(user);
    expect((await userinfo(tokens.access_token)).status).toBe(200);
    // Stands in for waiting out the TTL: the row and the payload both say "expired a minute ago".
    const key = { model: 'AccessToken', id: createHash('sha256').update(tokens.access_token).digest('base64url') };
    const row = await app.db.prisma.oidcPayload.findUniqueOrThrow({ where: { model_id: key } });
    const past = Math.floor(Date.now() / 1000) - 60;
    await app.db.prisma.oidcPayload.update({
      where: { model_id: key },
      data: { expiresAt: new Date(past * 1000), payload: { ...(row.payload as Record<string, unknown>), exp: past } },
    });
    await expectInvalidToken(await userinfo(tokens.access_token));
  });

  test('when a client-credentials token (no openid scope, no user) is presented, then it is refused', async () => {
    const machine = await registerClient(app, { client_name: 'Machine', redirect_uris: [], post_logout_redirect_uris: [], grant_types: ['client_credentials'] });
    const config = await relyingParty(app, machine);
    const { access_token: token } = await oidc.clientCredentialsGrant(config);
    const response = await userinfo(token);
    expect([401, 403]).toContain(response.status);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer\b.*error="(invalid_token|insufficient_scope)"/);
  });

  test('when tokens carry different scopes, then userinfo releases exactly the claims of those scopes', async () => {
    const browser = full.browser;
    const claimsFor = async (scope: string) => {
      const request = await authRequest(firstPartyConfig, { scope });
      const tokens = await exchange(firstPartyConfig, await signIn(browser, app, request, user.email), request);
      return (await (await userinfo(tokens.access_token)).json()) as Record<string, unknown>;
    };
    expect(Object.keys(await claimsFor('openid'))).toEqual(['sub']);
    expect(Object.keys(await claimsFor('openid email')).sort()).toEqual(['email', 'email_verified', 'sub']);
    const profile = await claimsFor('openid profile');
    expect(profile).toMatchObject({ sub: user.id, name: 'Grace Hopper', given_name: 'Grace' });
    for (const claim of ['email', 'email_verified', 'address', 'phone_number', 'roles']) expect(profile).not.toHaveProperty(claim);
    const contact = await claimsFor('openid address phone');
    expect(contact).toMatchObject({ sub: user.id, phone_number: '+1 555 0100', address: { locality: 'Arlington', country: 'US' } });
    for (const claim of ['email', 'name', 'given_name', 'roles']) expect(contact).not.toHaveProperty(claim);
  });
});

// ---------------------------------------------------------------------------------------
describe('D9 discovery document: exact issuer, endpoints under the issuer, required members, no header influence', () => {
  const URL_MEMBERS = (doc: Record<string, unknown>) =>
    Object.entries(doc).filter(([member]) => member.endsWith('_endpoint') || member === 'jwks_uri');

  test('when the document is fetched, then issuer is exactly the URL prefix it was fetched under', async () => {
    const response = await fetch(`${app.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(discovery.issuer).toBe(app.issuer);
    expect(discovery.issuer.endsWith('/')).toBe(false);
  });

  test('when the endpoints are read, then every one is an absolute URL under the issuer (https cannot hold for a http://127.0.0.1 test issuer)', () => {
    const urls = URL_MEMBERS(discovery);
    expect(urls.map(([member]) => member)).toEqual(expect.arrayContaining([
      'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint',
      'revocation_endpoint', 'introspection_endpoint',
    ]));
    for (const [, value] of urls) {
      expect(typeof value).toBe('string');
      expect((value as string).startsWith(`${app.issuer}/`)).toBe(true);
      expect(new URL(value as string).origin).toBe(new URL(app.issuer).origin);
    }
  });

  test('when the members are checked, then the ones OIDC Discovery and RFC 9700 require are there with safe values', () => {
    expect(discovery).toMatchObject({
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(discovery.subject_types_supported).toEqual(expect.arrayContaining(['public']));
    expect(discovery.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256']));
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['openid']));
    expect(typeof discovery.end_session_endpoint).toBe('string');
  });

  test('when the members are checked, then back-channel logout support (with session ids) is advertised', () => {
    expect(discovery.backchannel_logout_supported).toBe(true);
    expect(discovery.backchannel_logout_session_supported).toBe(true);
  });

  test('when a client sends X-Forwarded-Host, X-Forwarded-Proto or Forwarded, then the document is unchanged', async () => {
    const variants: Array<Record<string, string>> = [
      { 'x-forwarded-host': 'evil.example' },
      { 'x-forwarded-proto': 'https' },
      { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' },
      { forwarded: 'host=evil.example;proto=https' },
      { 'x-forwarded-host': 'evil.example:8443', 'x-forwarded-prefix': '/evil' },
    ];
    for (const headers of variants) {
      const response = await fetch(`${app.issuer}/.well-known/openid-configuration`, { headers });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).not.toContain('evil');
      expect(JSON.parse(text)).toEqual(discovery);
    }
  });
});

// ---------------------------------------------------------------------------------------
/** Opens the end-session endpoint with these parameters, asking for HTML as a browser does. */
async function openLogout(browser: Browser, params: Record<string, string>): Promise<Hop> {
  const url = new URL(discovery.end_session_endpoint!);
  url.search = new URLSearchParams(params).toString();
  return browser.request(url.toString(), { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
}

/** Submits the "Sign out?" page: yes, sign out. Returns the hop after the issuer's redirects. */
async function confirmLogout(browser: Browser, page: Hop): Promise<Hop> {
  expect(page.status).toBe(200);
  const xsrf = inputValue(page.body, 'xsrf');
  const action = new URL(formAction(page.body, '/session/end/confirm'), app.issuer).toString();
  return browser.request(action, { form: { xsrf, logout: 'yes' } });
}

async function sessionRowsFor(accountId: string): Promise<number> {
  const rows = await app.db.prisma.oidcPayload.findMany({ where: { model: 'Session' }, select: { payload: true } });
  return rows.filter((row) => (row.payload as { accountId?: unknown }).accountId === accountId).length;
}

describe('E5 RP-initiated logout with a valid id_token_hint ends the session and returns to the registered URI', () => {
  test('when logout has a valid hint, a registered URI and a state, then 303 to exactly that URI with that state and the session is gone', async () => {
    const user = await createUser(app);
    const { browser, tokens } = await signInFresh(user);
    expect((await silentAuth(browser)).code).toBeTruthy();
    expect(await sessionCookie(browser)).toBeTruthy();
    expect(await sessionRowsFor(user.id)).toBe(1);

    const page = await openLogout(browser, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye-123' });
    const done = await confirmLogout(browser, page);
    expect([302, 303]).toContain(done.status);
    const back = new URL(done.location!);
    expect(`${back.origin}${back.pathname}`).toBe(POST_LOGOUT_URI);
    expect([...back.searchParams.entries()]).toEqual([['state', 'bye-123']]);
    expect(back.hash).toBe('');

    expect(await silentAuth(browser)).toEqual({ code: null, error: 'login_required' });
    // The server-side session is deleted, not just the browser's cookie.
    expect(await sessionRowsFor(user.id)).toBe(0);
  });

  test('when a copy of the session cookie is kept and the user logs out, then replaying the copy gets login_required', async () => {
    const user = await createUser(app);
    const { browser, tokens } = await signInFresh(user);
    const saved = (await browser.jar.getCookies(app.issuer)).filter((cookie) => cookie.key.startsWith('_session'));
    expect(saved.map((cookie) => cookie.key).sort()).toEqual(['_session', '_session.sig']);

    const done = await confirmLogout(browser, await openLogout(browser, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }));
    expect(done.location).toBe(POST_LOGOUT_URI);

    const attacker = new Browser();
    for (const cookie of saved) await attacker.jar.setCookie(`${cookie.key}=${cookie.value}; Path=/`, app.issuer);
    expect(await silentAuth(attacker)).toEqual({ code: null, error: 'login_required' });
  });

  test('when logout has a valid hint and a registered URI but no state, then the redirect carries no state (and no other parameter)', async () => {
    const { browser, tokens } = await signInFresh(await createUser(app));
    const done = await confirmLogout(browser, await openLogout(browser, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }));
    expect([302, 303]).toContain(done.status);
    expect(done.location).toBe(POST_LOGOUT_URI);
    expect(await silentAuth(browser)).toEqual({ code: null, error: 'login_required' });
  });
});

// ---------------------------------------------------------------------------------------
describe('E6 logout never redirects to an unvetted URI and never logs out silently', () => {
  /** One signed-in browser shared by the refused variants: none of them may end its session. */
  let victim: SignedIn;

  beforeAll(async () => {
    victim = await signInFresh(await createUser(app));
  });

  async function expectRefusedAndStillSignedIn(params: Record<string, string>) {
    const hop = await openLogout(victim.browser, params);
    expectErrorPage(hop);
    expect(hop.body).toMatch(/<h1>/);
    expect(hop.body).not.toContain('evil.example');
    expect((await silentAuth(victim.browser)).code).toBeTruthy();
  }

  async function foreignSignedHint(kid?: string): Promise<string> {
    const { privateKey } = await generateKeyPair('RS256');
    const payload = decodeJwt(victim.tokens.id_token!);
    const realKid = decodeProtectedHeader(victim.tokens.id_token!).kid!;
    return new SignJWT({ ...payload }).setProtectedHeader({ alg: 'RS256', kid: kid ?? realKid }).sign(privateKey);
  }

  test('when the post_logout_redirect_uri is not registered, then an error page and no redirect', async () => {
    await expectRefusedAndStillSignedIn({
      id_token_hint: victim.tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/signed-out', state: 's1',
    });
  });

  test('when ?foo=bar is added to the registered post_logout_redirect_uri, then an error page and no redirect', async () => {
    await expectRefusedAndStillSignedIn({
      id_token_hint: victim.tokens.id_token!, post_logout_redirect_uri: `${POST_LOGOUT_URI}?foo=bar`, state: 's2',
    });
  });

  test('when the id_token_hint was modified, then an error page and no redirect', async () => {
    const [header, payload, signature] = victim.tokens.id_token!.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = Buffer.from(JSON.stringify({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })).toString('base64url');
    await expectRefusedAndStillSignedIn({
      id_token_hint: `${header}.${tampered}.${signature}`, post_logout_redirect_uri: POST_LOGOUT_URI, state: 's3',
    });
  });

  test('when the id_token_hint is bad (alg:none, or signed by a foreign key), then an error page and no redirect', async () => {
    const payload = Buffer.from(JSON.stringify(decodeJwt(victim.tokens.id_token!))).toString('base64url');
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    for (const hint of [unsigned, await foreignSignedHint(), await foreignSignedHint('attacker-key')]) {
      await expectRefusedAndStillSignedIn({ id_token_hint: hint, post_logout_redirect_uri: POST_LOGOUT_URI, state: 's4' });
    }
  });

  test('when there is no id_token_hint, then the post_logout_redirect_uri is never used: a confirmation page, then the logged-out page', async () => {
    const { browser } = await signInFresh(await createUser(app));
    const page = await openLogout(browser, { post_logout_redirect_uri: POST_LOGOUT_URI, state: 's5' });
    if (page.status >= 400) {
      expectErrorPage(page);
      expect((await silentAuth(browser)).code).toBeTruthy();
      return;
    }
    expectNoRedirect(page);
    expect(page.body).not.toContain(POST_LOGOUT_URI);
    // A GET alone did not sign the user out.
    expect((await silentAuth(browser)).code).toBeTruthy();
    const done = await confirmLogout(browser, page);
    expect(done.location?.startsWith(`${app.issuer}/`)).toBe(true);
    const final = await browser.follow(done.location!, app.issuer);
    expect(final.status).toBe(200);
    expect(final.body).toContain('You are signed out');
    expectNoRedirect(final);
  });

  for (const variant of [
    { name: 'no parameters at all', params: () => ({}) },
    { name: 'only a state', params: () => ({ state: 'only-state' }) },
    { name: 'a valid id_token_hint but no post_logout_redirect_uri', params: (signedIn: SignedIn) => ({ id_token_hint: signedIn.tokens.id_token!, state: 's8' }) },
  ]) {
    test(`when logout is opened with ${variant.name}, then a GET alone logs nobody out and confirming shows the logged-out page`, async () => {
      const signedIn = await signInFresh(await createUser(app));
      const { browser } = signedIn;
      const oldCookies = (await browser.jar.getCookies(app.issuer)).filter((cookie) => cookie.key.startsWith('_session'));

      const page = await openLogout(browser, variant.params(signedIn));
      expectNoRedirect(page);
      expect(page.body).toContain('name="xsrf"');
      expect((await silentAuth(browser)).code).toBeTruthy();

      const done = await confirmLogout(browser, page);
      expect([302, 303]).toContain(done.status);
      expect(done.location?.startsWith(`${app.issuer}/`)).toBe(true);
      const final = await browser.follow(done.location!, app.issuer);
      expect(final.status).toBe(200);
      expect(final.headers.get('content-type')).toMatch(/^text\/html/);
      expect(final.body).toContain('You are signed out');
      expectNoRedirect(final);

      expect(await silentAuth(browser)).toEqual({ code: null, error: 'login_required' });
      const replay = new Browser();
      for (const cookie of oldCookies) await replay.jar.setCookie(`${cookie.key}=${cookie.value}; Path=/`, app.issuer);
      expect(await silentAuth(replay)).toEqual({ code: null, error: 'login_required' });
    });
  }
});
