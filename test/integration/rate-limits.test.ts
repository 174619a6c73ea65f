// Checklist I1 (rate limits per IP and per client at the edge, 429 with Retry-After and
// RateLimit headers), I8 (limits shared by instances, in PostgreSQL or Redis) and H1/H2
// (forwarded headers believed only from the configured proxies; HSTS over TLS).
import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createAdminClient, type AdminCredentials } from '../helpers/admin.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { call, type Reply } from '../helpers/http.js';
import { authRequest, registerClient, relyingParty, TEST_ACTOR } from '../helpers/oidc.js';

function clientCredentials(app: TestApp, client: AdminCredentials, headers: Record<string, string> = {}): Promise<Reply> {
  return call(`${app.origin}/token`, { form: { grant_type: 'client_credentials' }, basic: [client.clientId, client.clientSecret], headers });
}

function expectRefused(reply: Reply): void {
  expect(reply.status).toBe(429);
  expect(reply.body?.error).toBe('too_many_requests');
  expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(Number(reply.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  expect(reply.headers.get('ratelimit-remaining')).toBe('0');
  expect(reply.headers.get('cache-control')).toContain('no-store');
}

describe('I1 limits per client and per IP at the token, introspection, authorization and sign-in endpoints', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({
      env: {
        TOKEN_RATE_LIMIT: '5',
        INTROSPECTION_RATE_LIMIT: '3',
        TOKEN_IP_RATE_LIMIT: '12',
        AUTHORIZATION_RATE_LIMIT: '4',
        LOGIN_RATE_LIMIT: '3',
        // Each test speaks from its own address through a "proxy" on loopback.
        TRUST_PROXY: 'true',
        TRUSTED_PROXIES: '127.0.0.1,::1',
      },
    });
  });
  afterAll(() => app.destroy());

  test('when one client asks for 6 tokens in a minute, then the 6th is 429 with Retry-After and RateLimit headers, and another client is unaffected', async () => {
    const [first, second] = [await createAdminClient(app, 'none'), await createAdminClient(app, 'none')];
    const from = { 'x-forwarded-for': '192.0.2.10' };
    const remaining: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const reply = await clientCredentials(app, first, from);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('ratelimit-limit')).toBe('5');
      remaining.push(reply.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    expectRefused(await clientCredentials(app, first, from));
    expect((await clientCredentials(app, second, from)).status).toBe(200);
  });

  test('when someone sends 10 token requests naming a client with a wrong secret, then they fail with 401 and the client\'s own budget is untouched', async () => {
    const victim = await createAdminClient(app, 'none');
    for (let i = 0; i < 10; i += 1) {
      const forged = await call(`${app.origin}/token`, { form: { grant_type: 'client_credentials' }, basic: [victim.clientId, 'not-the-secret'], headers: { 'x-forwarded-for': `192.0.2.${100 + i}` } });
      expect(forged.status).toBe(401);
    }
    const from = { 'x-forwarded-for': '192.0.2.15' };
    for (let i = 0; i < 5; i += 1) expect((await clientCredentials(app, victim, from)).status).toBe(200);
    expectRefused(await clientCredentials(app, victim, from));
  });

  test('when a route is spelled in another case or with a trailing slash, then it is not served, so no limit can be sidestepped that way', async () => {
    const client = await createAdminClient(app, 'none');
    for (const path of ['/TOKEN', '/Token', '/token/', '/AUTH', '/auth/', '/interaction/some-uid/LOGIN', '/interaction/some-uid/login/', '/ME', '/jwks/']) {
      const reply = await call(`${app.origin}${path}`, { form: { grant_type: 'client_credentials' }, basic: [client.clientId, client.clientSecret] });
      expect({ path, status: reply.status }).toEqual({ path, status: 404 });
    }
  });

  test('when one client introspects 4 times in a minute, then the 4th is 429', async () => {
    const client = await createAdminClient(app, 'none');
    const from = { 'x-forwarded-for': '192.0.2.11' };
    const token = String((await clientCredentials(app, client, from)).body?.access_token);
    for (let i = 0; i < 3; i += 1) {
      const reply = await call(`${app.origin}/token/introspection`, { form: { token }, basic: [client.clientId, client.clientSecret], headers: from });
      expect(reply.status).toBe(200);
      expect(reply.body?.active).toBe(true);
    }
    expectRefused(await call(`${app.origin}/token/introspection`, { form: { token }, basic: [client.clientId, client.clientSecret], headers: from }));
  });

  test('when one address spreads token requests over many clients, then its IP limit stops it', async () => {
    const from = { 'x-forwarded-for': '192.0.2.12' };
    const clients = await Promise.all(Array.from({ length: 4 }, () => createAdminClient(app, 'none')));
    const statuses: number[] = [];
    for (let i = 0; i < 14; i += 1) statuses.push((await clientCredentials(app, clients[i % 4]!, from)).status);
    expect(statuses.slice(0, 12).every((status) => status === 200)).toBe(true);
    expect(statuses.slice(12)).toEqual([429, 429]);
  });

  test('when one address opens the authorization endpoint 5 times in a minute, then the 5th is a 429 page, with no redirect', async () => {
    const client = await registerClient(app);
    const request = await authRequest(await relyingParty(app, client));
    const from = { 'x-forwarded-for': '192.0.2.13', accept: 'text/html' };
    for (let i = 0; i < 4; i += 1) expect((await call(request.url.toString(), { headers: from })).status).toBe(303);
    const refused = await call(request.url.toString(), { headers: from });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('location')).toBeNull();
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(refused.text).toContain('Too many attempts');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  test('when one address posts the sign-in form 4 times in a minute, then the 4th is a 429 page before any password check', async () => {
    const from = { 'x-forwarded-for': '192.0.2.14' };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push((await call(`${app.origin}/interaction/some-uid/login`, { form: { csrf: 'x', login: 'a@example.com', password: 'whatever-it-is' }, headers: from })).status);
    }
    expect(statuses.slice(0, 3).every((status) => status !== 429)).toBe(true);
    expect(statuses[3]).toBe(429);
  });
});

describe('H1 forwarded headers count only from the configured proxies', () => {
  let app: TestApp;

  beforeAll(async () => {
    // The only trusted proxy is an address the tests never connect from.
    app = await startApp({ env: { TOKEN_RATE_LIMIT: '100000', TOKEN_IP_RATE_LIMIT: '3', TRUST_PROXY: 'true', TRUSTED_PROXIES: '10.9.8.7' } });
  });
  afterAll(() => app.destroy());

  test('when a client that is not a trusted proxy varies X-Forwarded-For, then its own address is still limited', async () => {
    const client = await createAdminClient(app, 'none');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await clientCredentials(app, client, { 'x-forwarded-for': `198.51.100.${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  test('when such a client claims X-Forwarded-Proto https, then it is not treated as TLS: no HSTS and no Secure cookie', async () => {
    const client = await registerClient(app);
    const request = await authRequest(await relyingParty(app, client));
    const reply = await call(request.url.toString(), { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' } });
    expect(reply.headers.get('strict-transport-security')).toBeNull();
    const cookies = reply.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(cookie).not.toMatch(/;\s*secure/i);
    // The interaction lives on the issuer, whatever host the request claimed.
    expect(reply.headers.get('location')).toMatch(/^\/interaction\//);
    expect(reply.text).not.toContain('evil.example');
  });
});

describe('H2 HSTS on every response served over TLS through the trusted proxy', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ env: { TRUST_PROXY: 'true', TRUSTED_PROXIES: '127.0.0.1,::1' } });
  });
  afterAll(() => app.destroy());

  test('when the proxy says the request came over https, then discovery, JWKS, token errors and pages carry Strict-Transport-Security for a year with subdomains', async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const replies = await Promise.all([
      call(`${app.origin}/.well-known/openid-configuration`, { headers: https }),
      call(`${app.origin}/jwks`, { headers: https }),
      call(`${app.origin}/token`, { form: { grant_type: 'client_credentials' }, headers: https }),
      call(`${app.origin}/interaction/unknown`, { headers: https }),
    ]);
    for (const reply of replies) {
      const hsts = reply.headers.get('strict-transport-security') ?? '';
      expect(Number(/max-age=(\d+)/.exec(hsts)?.[1])).toBeGreaterThanOrEqual(31536000);
      expect(hsts).toContain('includeSubDomains');
    }
  });

  test('when the token endpoint is called over plain http, then it answers there: no redirect to https', async () => {
    const reply = await call(`${app.origin}/token`, { form: { grant_type: 'client_credentials' } });
    expect(reply.body?.error).toBe('invalid_request');
    expect(reply.headers.get('location')).toBeNull();
    expect(reply.headers.get('strict-transport-security')).toBeNull();
  });
});

(usingPostgres ? describe : describe.skip)('I8 rate limits are shared by instances (PostgreSQL)', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await startApp({ env: { TOKEN_RATE_LIMIT: '6' } });
    b = await startApp({ env: { TOKEN_RATE_LIMIT: '6' }, shareStoreWith: a });
  });
  afterAll(async () => {
    await b.stop();
    await a.destroy();
  });

  test('when a client assertion used at one instance is replayed at the other, then the replay is refused (the jti cache is shared)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const created = await a.app.services.clients.createClient({
      client_name: 'assertion client',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] },
    }, TEST_ACTOR);
    const clientId = created.client.client_id;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ iss: clientId, sub: clientId, aud: `${a.issuer}/token`, jti: randomUUID(), iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(privateKey);
    const form = { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const first = await call(`${a.origin}/token`, { form });
    expect(first.status).toBe(200);
    const replay = await call(`${b.origin}/token`, { form });
    expect(replay.status).toBe(401);
    expect(replay.body?.error).toBe('invalid_client');
  });

  test('when one client alternates token requests between two instances, then the 7th, on either, is 429', async () => {
    const client = await createAdminClient(a, 'none');
    const statuses: number[] = [];
    for (let i = 0; i < 8; i += 1) statuses.push((await clientCredentials(i % 2 ? b : a, client)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
  });
});

async function redisReachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.connect(6379, '127.0.0.1');
  });
}

// Redis is optional: this part runs where a Redis answers on 127.0.0.1:6379 (as in CI).
const redisUp = await redisReachable();
(redisUp ? describe : describe.skip)('I8 with REDIS_URL the counters live in Redis', () => {
  let app: TestApp;
  let redis: Redis;

  beforeAll(async () => {
    app = await startApp({ env: { REDIS_URL: 'redis://127.0.0.1:6379', TOKEN_RATE_LIMIT: '3' } });
    redis = new Redis('redis://127.0.0.1:6379');
  });
  afterAll(async () => {
    redis.disconnect();
    await app.destroy();
  });

  test('when a client passes its limit, then 429 comes back and the count is a Redis key with an expiry, not a database row', async () => {
    const client = await createAdminClient(app, 'none');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await clientCredentials(app, client)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const keys = await redis.keys('gatehouse:rate:token:client:*');
    expect(keys.length).toBeGreaterThan(0);
    const ttls = await Promise.all(keys.map((key) => redis.pttl(key)));
    expect(ttls.every((ttl) => ttl > 0 && ttl <= 60_000)).toBe(true);
    expect(await app.db.prisma.rateCounter.count()).toBe(0);
  });
});

describe('when the counter store is unreachable', () => {
  let app: TestApp;

  beforeAll(async () => {
    // Nothing listens on port 1: every counter operation fails.
    app = await startApp({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
  });
  afterAll(() => app.destroy());

  test('when a token request cannot be counted, then it fails fast with 503 and Retry-After, never 500 or a token', async () => {
    const client = await createAdminClient(app, 'none');
    const started = Date.now();
    const reply = await clientCredentials(app, client);
    expect(reply.status).toBe(503);
    expect(reply.headers.get('retry-after')).toBeTruthy();
    expect(reply.body?.access_token).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('when the authorization endpoint cannot count, then the browser gets a 503 page', async () => {
    const client = await registerClient(app);
    const request = await authRequest(await relyingParty(app, client));
    const reply = await call(request.url.toString(), { headers: { accept: 'text/html' } });
    expect(reply.status).toBe(503);
    expect(reply.headers.get('location')).toBeNull();
  });
});

describe('H1 behind a chain of trusted proxies', () => {
  let app: TestApp;

  beforeAll(async () => {
    // The test client plays the load balancer (127.0.0.1); 10.0.0.0/8 plays the CDN.
    app = await startApp({ env: { TOKEN_RATE_LIMIT: '100000', TOKEN_IP_RATE_LIMIT: '2', TRUST_PROXY: 'true', TRUSTED_PROXIES: '127.0.0.1,::1,10.0.0.0/8' } });
  });
  afterAll(() => app.destroy());

  test('when X-Forwarded-For holds a spoofed entry, the client and a CDN hop, then the client address is the one counted', async () => {
    const client = await createAdminClient(app, 'none');
    const statuses: number[] = [];
    // The left-most entry is whatever the client claims; it changes every time.
    for (let i = 0; i < 3; i += 1) statuses.push((await clientCredentials(app, client, { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.77, 10.1.2.3` })).status);
    expect(statuses).toEqual([200, 200, 429]);
    // Another client behind the same CDN is counted on its own.
    expect((await clientCredentials(app, client, { 'x-forwarded-for': '198.51.100.78, 10.1.2.3' })).status).toBe(200);
  });
});
