// Signing key rotation seen from outside (checklists D6 and H5): the JWKS is cacheable
// with an ETag; a rotation through the admin API promotes a key that was already
// published (publish-before-sign), keeps the old one published, and tokens from before the
// rotation keep verifying with a verifier that cached the JWKS earlier; a retired key
// leaves the JWKS only once its last token has expired and caches have turned over; a
// scheduled rotation happens by itself; and, on PostgreSQL, two instances follow each
// other's rotations at once while tokens from both keep verifying.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { createVerifier, type Verifier } from 'gatehouse/verify';
import { adminRequest, basicAuthorization, clientCredentialsToken, createAdminClient, userTokens, type AdminCredentials } from '../helpers/admin.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createUser, registerClient, type RegisteredClient } from '../helpers/oidc.js';

const describePostgres = usingPostgres ? describe : describe.skip;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface KeyView {
  kid: string;
  alg: string;
  status: 'current' | 'next' | 'retired';
  activated_at: string | null;
  retired_at: string | null;
}

/** Talks to one instance's admin API with a fresh admin token each time (short TTLs expire them fast). */
class Admin {
  private constructor(private readonly app: TestApp, private readonly credentials: AdminCredentials) {}

  static async for(app: TestApp): Promise<Admin> {
    return new Admin(app, await createAdminClient(app));
  }

  async request(method: string, path: string, body?: unknown) {
    const { status, body: tokens } = await clientCredentialsToken(this.app, this.credentials, { scope: 'admin' });
    if (status !== 200) throw new Error(`no admin token: ${status} ${JSON.stringify(tokens)}`);
    return adminRequest(this.app, tokens.access_token, method, path, body);
  }

  async keys(): Promise<KeyView[]> {
    const response = await this.request('GET', '/keys');
    expect(response.status).toBe(200);
    return response.body.items as KeyView[];
  }

  async rotate(): Promise<KeyView[]> {
    const response = await this.request('POST', '/keys/rotate');
    expect(response.status).toBe(200);
    return response.body.items as KeyView[];
  }
}

const kidOf = (keys: KeyView[], alg: string, status: KeyView['status']) => keys.filter((key) => key.alg === alg && key.status === status).map((key) => key.kid);

async function jwksOf(origin: string): Promise<{ status: number; headers: Headers; keys: JWK[] }> {
  const response = await fetch(`${origin}/jwks`);
  const body = (await response.json()) as { keys: JWK[] };
  return { status: response.status, headers: response.headers, keys: body.keys };
}

async function publishedKids(origin: string): Promise<string[]> {
  return (await jwksOf(origin)).keys.map((key) => key.kid!).sort();
}

/**
 * A conditional GET as an HTTP cache sends it. Not fetch(): a fetch with If-None-Match also
 * sends Cache-Control: no-cache (Fetch standard, cache mode no-store), which rightly
 * forces a full response.
 */
function conditionalGet(url: string, etag: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { 'if-none-match': etag } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A pass-through to Gatehouse's /jwks that counts how often a verifier fetched it. */
async function countingJwksProxy(origin: string): Promise<{ url: string; fetches(): number; close(): Promise<void> }> {
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count += 1;
    fetch(`${origin}/jwks`).then(async (upstream) => {
      res.statusCode = upstream.status;
      res.setHeader('content-type', 'application/json');
      res.end(await upstream.text());
    }, () => {
      res.statusCode = 502;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    fetches: () => count,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function apiToken(app: TestApp | string, client: RegisteredClient, resource: string, scope: string): Promise<string> {
  const origin = typeof app === 'string' ? app : app.origin;
  const response = await fetch(`${origin}/token`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || !body.access_token) throw new Error(`no access token from ${origin}: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

const serviceShape = { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] };

describe('JWKS caching and rotation through the admin API (checklists H5, D6)', () => {
  const API = 'https://rotation.example.com';
  const ES_API = 'https://rotation-es.example.com';
  let app: TestApp;
  let admin: Admin;
  let service: RegisteredClient;

  beforeAll(async () => {
    app = await startApp({ env: { KEY_ROTATION_INTERVAL: '0' } });
    admin = await Admin.for(app);
    for (const [identifier, alg] of [[API, 'RS256'], [ES_API, 'ES256']] as const) {
      expect((await admin.request('POST', '/apis', { identifier, scopes: [{ name: 'things:read' }], access_token_ttl: 600, signing_alg: alg })).status).toBe(201);
    }
    service = await registerClient(app, { ...serviceShape, api_scopes: { [API]: ['things:read'], [ES_API]: ['things:read'] } });
  });
  afterAll(async () => {
    await app?.destroy();
  });

  /** Waits until this instance signs with `kid` (it reloads its keys on the change notice). */
  async function tokenSignedBy(kid: string, resource = API): Promise<string> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const token = await apiToken(app, service, resource, 'things:read');
      if (decodeProtectedHeader(token).kid === kid) return token;
      await sleep(20);
    }
    throw new Error(`the instance did not sign with ${kid} within 2 s of the rotation`);
  }

  async function rotateAndFollow(): Promise<string> {
    return tokenSignedBy(kidOf(await admin.rotate(), 'RS256', 'current')[0]!);
  }

  test('when /jwks is fetched, then it is cacheable for JWKS_MAX_AGE with an ETag, and a matching If-None-Match gets 304', async () => {
    const first = await fetch(`${app.origin}/jwks`);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe(`public, max-age=${app.config.keys.jwksMaxAge}`);
    expect(app.config.keys.jwksMaxAge).toBeGreaterThan(0);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^(W\/)?"[^"]+"$/);
    const body = (await first.json()) as { keys: JWK[] };

    const revalidated = await conditionalGet(`${app.origin}/jwks`, etag!);
    expect(revalidated.status).toBe(304);
    expect(revalidated.body).toBe('');
    expect(revalidated.headers['etag']).toBe(etag);
    expect(revalidated.headers['cache-control']).toBe(`public, max-age=${app.config.keys.jwksMaxAge}`);

    const other = await conditionalGet(`${app.origin}/jwks`, '"something-else"');
    expect(other.status).toBe(200);
    expect(JSON.parse(other.body)).toEqual(body);

    // Only public members, and every key says what it is for.
    for (const key of body.keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
      expect(key).toEqual(expect.objectContaining({ kid: expect.any(String), alg: expect.stringMatching(/^(RS256|ES256)$/), use: 'sig' }));
    }
    // The current and the next key of each algorithm are published.
    const keys = await admin.keys();
    expect(body.keys.map((key) => key.kid).sort()).toEqual(keys.filter((key) => key.status !== 'retired').map((key) => key.kid).sort());
    for (const alg of ['RS256', 'ES256']) {
      expect(kidOf(keys, alg, 'current')).toHaveLength(1);
      expect(kidOf(keys, alg, 'next')).toHaveLength(1);
    }
  });

  test('when keys rotate, then the JWKS holds old and new keys, old tokens still verify with a cached JWKS, and new tokens carry a kid published before the rotation', async () => {
    const proxy = await countingJwksProxy(app.origin);
    try {
      // A resource server's verifier, warmed before the rotation.
      const verifier: Verifier = createVerifier({ issuer: app.issuer, audience: API, jwksUri: proxy.url });
      const before = await apiToken(app, service, API, 'things:read');
      const esBefore = await apiToken(app, service, ES_API, 'things:read');
      await expect(verifier.verify(before)).resolves.toBeDefined();
      expect(proxy.fetches()).toBe(1);

      const keysBefore = await admin.keys();
      const kidsBefore = await publishedKids(app.origin);
      const etagBefore = (await fetch(`${app.origin}/jwks`)).headers.get('etag')!;
      const oldKid = decodeProtectedHeader(before).kid!;
      expect(kidOf(keysBefore, 'RS256', 'current')).toEqual([oldKid]);
      expect(kidOf(keysBefore, 'ES256', 'current')).toEqual([decodeProtectedHeader(esBefore).kid]);

      const rotated = await admin.rotate();
      const keysAfter = await admin.keys();
      expect(keysAfter).toEqual(rotated);
      for (const alg of ['RS256', 'ES256']) {
        const [current] = kidOf(keysAfter, alg, 'current');
        const [next] = kidOf(keysAfter, alg, 'next');
        // The new current key is the old next one; the old current one is retired; a new next key exists.
        expect(current).toBe(kidOf(keysBefore, alg, 'next')[0]);
        expect(kidOf(keysAfter, alg, 'retired')).toContain(kidOf(keysBefore, alg, 'current')[0]);
        expect(kidsBefore).not.toContain(next);
        expect(kidOf(keysAfter, alg, 'current')).toHaveLength(1);
        expect(kidOf(keysAfter, alg, 'next')).toHaveLength(1);
      }

      // The JWKS: the old current (now retired), the new current and the new next key.
      const kidsAfter = await publishedKids(app.origin);
      expect(kidsAfter).toEqual(keysAfter.map((key) => key.kid).sort());
      expect(kidsAfter).toEqual(expect.arrayContaining([oldKid, ...kidOf(keysAfter, 'RS256', 'current'), ...kidOf(keysAfter, 'RS256', 'next')]));
      // The ETag changed with the content.
      const stale = await conditionalGet(`${app.origin}/jwks`, etagBefore);
      expect(stale.status).toBe(200);
      expect(stale.headers['etag']).not.toBe(etagBefore);
      expect((await conditionalGet(`${app.origin}/jwks`, String(stale.headers['etag']))).status).toBe(304);

      // Tokens from before the rotation still verify, with the JWKS the verifier cached earlier.
      await expect(verifier.verify(before)).resolves.toEqual(expect.objectContaining({ claims: expect.objectContaining({ aud: API }) }));

      // New tokens are signed by the new current key, which was in the JWKS before the rotation.
      const newKid = kidOf(keysAfter, 'RS256', 'current')[0]!;
      expect(newKid).not.toBe(oldKid);
      expect(kidsBefore).toContain(newKid);
      const after = await tokenSignedBy(newKid);
      await expect(verifier.verify(after)).resolves.toBeDefined();
      // The verifier never had to fetch the JWKS again: it already held the new key.
      expect(proxy.fetches()).toBe(1);

      const esKid = kidOf(keysAfter, 'ES256', 'current')[0]!;
      expect(kidsBefore).toContain(esKid);
      await tokenSignedBy(esKid, ES_API);

      // A verifier that discovers the JWKS now accepts both generations.
      const fresh = createVerifier({ issuer: app.issuer, audience: API });
      await expect(fresh.verify(before)).resolves.toBeDefined();
      await expect(fresh.verify(after)).resolves.toBeDefined();
    } finally {
      await proxy.close();
    }
  });

  test('when keys rotate twice in quick succession, then a verifier created before (library defaults) accepts tokens of the newest key within 2 s', async () => {
    const verifier = createVerifier({ issuer: app.issuer, audience: API });
    await expect(verifier.verify(await apiToken(app, service, API, 'things:read'))).resolves.toBeDefined();
    // Signed with the key that was next when the verifier fetched the JWKS: known to it.
    await expect(verifier.verify(await rotateAndFollow())).resolves.toBeDefined();
    // Signed with the key the first rotation published, which the verifier's copy of the
    // JWKS lacks: it must fetch the JWKS again (a short cooldown between fetches is fair).
    const newest = await rotateAndFollow();
    expect(await publishedKids(app.origin)).toContain(decodeProtectedHeader(newest).kid);
    const started = Date.now();
    let outcome = '';
    do {
      outcome = await verifier.verify(newest).then(() => 'verified', (error: Error) => error.message);
      if (outcome !== 'verified') await sleep(100);
    } while (outcome !== 'verified' && Date.now() - started < 2_000);
    expect(outcome).toBe('verified');
  });

  test('when the rotate call has returned, then the instance that rotated signs only with the new key', async () => {
    // The old key is retired (its retention clock running) from the moment of the rotation,
    // so nothing may be signed with it afterwards. Several rotations, as a late switch is a race.
    const late: string[] = [];
    for (let rotation = 1; rotation <= 8; rotation += 1) {
      const [current] = kidOf(await admin.rotate(), 'RS256', 'current');
      const kid = decodeProtectedHeader(await apiToken(app, service, API, 'things:read')).kid;
      if (kid !== current) late.push(`rotation ${rotation}: signed with ${kid}, current is ${current}`);
    }
    expect(late).toEqual([]);
  });
});

describe('retired keys leave the JWKS only after their last token expired (checklist D6)', () => {
  // No registered API in this store: the longest token lifetime is 2 s, so a retired key
  // must stay published at least 2 s + JWKS_MAX_AGE (1 s) after the last token it signed.
  const TTL = 2;
  const JWKS_MAX_AGE = 1;
  let app: TestApp;
  let admin: Admin;
  let client: RegisteredClient;
  let refreshToken: string;

  beforeAll(async () => {
    app = await startApp({
      env: {
        ACCESS_TOKEN_TTL: String(TTL),
        ID_TOKEN_TTL: String(TTL),
        CLIENT_CREDENTIALS_TTL: String(TTL),
        JWKS_MAX_AGE: String(JWKS_MAX_AGE),
        KEY_REFRESH_INTERVAL: '1',
        KEY_ROTATION_INTERVAL: '0',
      },
    });
    admin = await Admin.for(app);
    client = await registerClient(app, { grant_types: ['authorization_code', 'refresh_token'], first_party: true });
    const user = await createUser(app);
    const tokens = await userTokens(app, client, user.email, { scope: 'openid offline_access' });
    expect(tokens.status).toBe(200);
    refreshToken = tokens.body.refresh_token!;
  });
  afterAll(async () => {
    await app?.destroy();
  });

  /** A new ID token (signed with the current RS256 key), through the refresh token grant. */
  async function idToken(): Promise<string> {
    const response = await fetch(`${app.origin}/token`, {
      method: 'POST',
      headers: { authorization: basicAuthorization(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    });
    const body = (await response.json()) as { id_token?: string; refresh_token?: string };
    if (response.status !== 200 || !body.id_token) throw new Error(`refresh failed: ${response.status} ${JSON.stringify(body)}`);
    refreshToken = body.refresh_token ?? refreshToken;
    return body.id_token;
  }

  test('when a key is retired, then it stays in the JWKS until its last token expired plus JWKS_MAX_AGE, and then leaves', async () => {
    const oldKid = kidOf(await admin.keys(), 'RS256', 'current')[0]!;
    // Tokens are issued without pause across the rotation, so the old key signs until the last moment.
    const issued: Array<{ kid: string; exp: number }> = [];
    let issuing = true;
    const issuer = (async () => {
      while (issuing) {
        const token = await idToken();
        issued.push({ kid: decodeProtectedHeader(token).kid!, exp: decodeJwt(token).exp! });
      }
    })();
    await sleep(300);
    const rotatedAt = Date.now();
    await admin.rotate();
    await sleep(500);
    issuing = false;
    await issuer;

    const signedByOld = issued.filter((token) => token.kid === oldKid);
    expect(signedByOld.length).toBeGreaterThan(0);
    expect(issued.at(-1)!.kid).not.toBe(oldKid);
    const lastExpiry = Math.max(...signedByOld.map((token) => token.exp)) * 1000;

    // Poll the JWKS; the key's removal happened no later than the first answer without it.
    let goneAt: number | undefined;
    while (Date.now() - rotatedAt < 15_000) {
      const kids = await publishedKids(app.origin);
      const answeredAt = Date.now();
      if (!kids.includes(oldKid)) {
        goneAt = answeredAt;
        break;
      }
      await sleep(50);
    }
    expect(goneAt).toBeDefined();
    const retention = (TTL + JWKS_MAX_AGE) * 1000;
    // Never before every token it signed has expired and every cached JWKS has been refetched…
    expect(goneAt!).toBeGreaterThanOrEqual(lastExpiry + JWKS_MAX_AGE * 1000);
    expect(goneAt! - rotatedAt).toBeGreaterThanOrEqual(retention);
    // …and not much later: the periodic check (every KEY_REFRESH_INTERVAL) unpublishes it.
    expect(goneAt! - rotatedAt).toBeLessThan(retention + 5_000);
    // The new keys stay.
    const keys = await admin.keys();
    expect(keys.map((key) => key.kid)).not.toContain(oldKid);
    expect(await publishedKids(app.origin)).toEqual(keys.map((key) => key.kid).sort());
  });
});

describe('scheduled rotation (KEY_ROTATION_INTERVAL)', () => {
  let app: TestApp;
  let admin: Admin;

  beforeAll(async () => {
    // JWKS_MAX_AGE within the rotation interval: the next key is published one interval ahead.
    app = await startApp({ env: { KEY_ROTATION_INTERVAL: '2', KEY_REFRESH_INTERVAL: '1', JWKS_MAX_AGE: '1' } });
    admin = await Admin.for(app);
  });
  afterAll(async () => {
    await app?.destroy();
  });

  test('when the interval passes, then the current key changes by itself to the key published as next', async () => {
    const keys = await admin.keys();
    const [current] = kidOf(keys, 'RS256', 'current');
    const publishedBefore = await publishedKids(app.origin);
    let rotated: KeyView[] | undefined;
    const started = Date.now();
    while (Date.now() - started < 10_000) {
      const now = await admin.keys();
      if (kidOf(now, 'RS256', 'current')[0] !== current) {
        rotated = now;
        break;
      }
      await sleep(200);
    }
    expect(rotated).toBeDefined();
    const [newCurrent] = kidOf(rotated!, 'RS256', 'current');
    // Publish-before-sign holds for the scheduled rotation as well.
    expect(publishedBefore).toContain(newCurrent);
    expect(kidOf(rotated!, 'RS256', 'retired')).toContain(current);
    for (const alg of ['RS256', 'ES256']) {
      expect(kidOf(rotated!, alg, 'current')).toHaveLength(1);
      expect(kidOf(rotated!, alg, 'next')).toHaveLength(1);
    }
    expect(await publishedKids(app.origin)).toEqual(expect.arrayContaining([newCurrent, current]));
  });

  test('when JWKS_MAX_AGE exceeds KEY_ROTATION_INTERVAL, then Gatehouse refuses the setting or caps the max-age at the pre-publish window (H5)', async () => {
    // A next key is published one rotation interval before it signs; a verifier allowed to
    // cache the JWKS longer may not hold it when its first token arrives.
    const env = { KEY_ROTATION_INTERVAL: '120', JWKS_MAX_AGE: '300' };
    let refused: unknown;
    try {
      loadConfig({ NODE_ENV: 'test', ...env });
    } catch (error) {
      refused = error;
    }
    if (refused) {
      expect(refused).toBeInstanceOf(ConfigError);
      return;
    }
    const other = await startApp({ env });
    try {
      const maxAge = Number(/max-age=(\d+)/.exec((await jwksOf(other.origin)).headers.get('cache-control') ?? '')?.[1]);
      expect(maxAge).toBeLessThanOrEqual(120);
    } finally {
      await other.destroy();
    }
  });
});

describePostgres('rotation across two instances on one PostgreSQL', () => {
  const API = 'https://two-instances.example.com';
  let a: TestApp;
  let b: TestApp;
  let admin: Admin;
  let service: RegisteredClient;

  beforeAll(async () => {
    // A long refresh interval: only the change notice can make b follow within a second.
    const env = { KEY_ROTATION_INTERVAL: '0', KEY_REFRESH_INTERVAL: '600' };
    a = await startApp({ env });
    b = await startApp({ shareStoreWith: a, env: { ...env, ISSUER: a.issuer } });
    admin = await Admin.for(a);
    expect((await admin.request('POST', '/apis', { identifier: API, scopes: [{ name: 'things:read' }], access_token_ttl: 600 })).status).toBe(201);
    service = await registerClient(a, { ...serviceShape, api_scopes: { [API]: ['things:read'] } });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.destroy();
  });

  test('when keys rotate 3 times through instance a while both instances issue tokens, then every token verifies and b follows each rotation within a second', async () => {
    // As a resource server would create it: library defaults, once, before the rotations.
    const verifier = createVerifier({ issuer: a.issuer, audience: API });
    // Failures counted per rotation, instance, kid and reason, to keep the report short.
    const failures = new Map<string, number>();
    const kidsSeen = new Set<string>();
    let verified = 0;
    let rotations = 0;
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i += 1) {
        const instance = i % 2 ? b : a;
        let token: string | undefined;
        try {
          token = await apiToken(instance.origin, service, API, 'things:read');
          kidsSeen.add(decodeProtectedHeader(token).kid!);
          await verifier.verify(token);
          verified += 1;
        } catch (error) {
          const key = `after rotation ${rotations}, from ${instance === a ? 'a' : 'b'}, kid ${token ? decodeProtectedHeader(token).kid : '-'}: ${(error as Error).message}`;
          failures.set(key, (failures.get(key) ?? 0) + 1);
        }
      }
    })();

    try {
      await sleep(300);
      for (let rotation = 1; rotation <= 3; rotation += 1) {
        const before = await publishedKids(a.origin);
        await admin.rotate();
        const rotatedAt = Date.now();
        rotations = rotation;
        const keys = await admin.keys();
        const [current] = kidOf(keys, 'RS256', 'current');
        expect(before).toContain(current);

        // b signs with the new key, and publishes the same key set, within a second.
        let followedAt: number | undefined;
        while (Date.now() - rotatedAt < 3_000) {
          const kid = decodeProtectedHeader(await apiToken(b.origin, service, API, 'things:read')).kid;
          if (kid === current) {
            followedAt = Date.now();
            break;
          }
          await sleep(20);
        }
        expect({ rotation, followed: followedAt !== undefined }).toEqual({ rotation, followed: true });
        expect(followedAt! - rotatedAt).toBeLessThan(1_000);
        expect(await publishedKids(b.origin)).toEqual(await publishedKids(a.origin));
        await sleep(1_500);
      }
    } finally {
      running = false;
      await loop;
    }
    expect(Object.fromEntries(failures)).toEqual({});
    expect(verified).toBeGreaterThan(20);
    // Four RS256 keys signed during the test: the first and one per rotation.
    expect(kidsSeen.size).toBe(4);
  });
});
