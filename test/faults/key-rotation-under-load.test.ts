// Checklist R4, a CI-sized version (about 25 s instead of a 30-min soak): two instances on one
// PostgreSQL serve a steady stream of client-credentials requests for JWT access tokens
// (an RS256 and an ES256 API) and of refresh-token requests that return ID tokens,
// alternating between the instances, while the signing keys are rotated four times
// through instance a's admin API. Resource servers verify every token as it arrives:
//  - a strict one, through a cached remote JWKS (jose) fetched via a round-robin "load
//    balancer" from either instance, caching exactly JWKS_MAX_AGE and never refetching
//    for an unknown kid, so it accepts a token only if its key was published at least
//    one JWKS cache lifetime before the token was used;
//  - gatehouse/verify with its defaults, against instance b's JWKS.
// Expected: 0 validation failures, no 5xx, every token's kid published by both instances
// at least JWKS_MAX_AGE before the token was requested, no key signing before its rotation
// or after the next one, both instances on the new current kid at once (NOTIFY; well
// within KEY_REFRESH_INTERVAL), and every key that signed still published at the end
// (its tokens have not expired). PostgreSQL only, like every two-instance test.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { createVerifier } from 'gatehouse/verify';
import { adminRequest, basicAuthorization, clientCredentialsToken, createAdminClient, userTokens, type AdminCredentials } from '../helpers/admin.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { createUser, registerClient, type RegisteredClient } from '../helpers/oidc.js';

const describePostgres = usingPostgres ? describe : describe.skip;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds verifiers may cache the JWKS; rotations are spaced further apart than this. */
const JWKS_MAX_AGE = 2;
/** The periodic key check; the documented latest bound for an instance to follow a rotation. */
const KEY_REFRESH_INTERVAL = 3;
/** "At once": how soon after the rotate call returned the other instance must sign with the new key. */
const SWITCH_BOUND_MS = 1_000;
const ROTATIONS = 4;
/**
 * The pause between one rotation's return and the next rotation's call. The key a rotation
 * publishes as next signs from the following rotation on, so this is its head start: more
 * than a JWKS cache lifetime, as KEY_ROTATION_INTERVAL > JWKS_MAX_AGE ensures for scheduled ones.
 */
const ROTATION_PAUSE_MS = JWKS_MAX_AGE * 1000 + 1_500;

const RS_API = 'https://rotation-load-rs.example.com';
const ES_API = 'https://rotation-load-es.example.com';
const ALGS = ['RS256', 'ES256'] as const;

type Instance = 'a' | 'b';
interface KeyView { kid: string; alg: string; status: 'current' | 'next' | 'retired' }
interface Issued {
  instance: Instance;
  kind: 'access' | 'id';
  alg: string;
  kid: string;
  started: number;
  ended: number;
  token: string;
  audience: string;
}
interface Rotation {
  sentAt: number;
  returnedAt: number;
  current: Record<string, string>;
}

/** A pass-through to /jwks that alternates between the instances, as a load balancer would. */
async function roundRobinJwks(origins: string[], onStatus: (status: number) => void): Promise<{ url: string; close(): Promise<void> }> {
  let turn = 0;
  const server: Server = createServer((_req, res) => {
    const origin = origins[turn++ % origins.length]!;
    fetch(`${origin}/jwks`).then(async (upstream) => {
      onStatus(upstream.status);
      res.statusCode = upstream.status;
      res.setHeader('content-type', 'application/json');
      res.end(await upstream.text());
    }, () => {
      onStatus(0);
      res.statusCode = 502;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describePostgres('R4 key rotation under load, two instances on one PostgreSQL', () => {
  let a: TestApp;
  let b: TestApp;
  let adminCredentials: AdminCredentials;
  let service: RegisteredClient;
  let webApp: RegisteredClient;
  let refreshToken: string;

  beforeAll(async () => {
    const env = {
      KEY_ROTATION_INTERVAL: '0',
      KEY_REFRESH_INTERVAL: String(KEY_REFRESH_INTERVAL),
      JWKS_MAX_AGE: String(JWKS_MAX_AGE),
    };
    a = await startApp({ env });
    b = await startApp({ shareStoreWith: a, env: { ...env, ISSUER: a.issuer } });
    adminCredentials = await createAdminClient(a);
    for (const [identifier, alg] of [[RS_API, 'RS256'], [ES_API, 'ES256']] as const) {
      const created = await adminCall('POST', '/apis', { identifier, scopes: [{ name: 'things:read' }], access_token_ttl: 600, signing_alg: alg });
      expect(created.status).toBe(201);
    }
    service = await registerClient(a, {
      grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [],
      api_scopes: { [RS_API]: ['things:read'], [ES_API]: ['things:read'] },
    });
    webApp = await registerClient(a, { grant_types: ['authorization_code', 'refresh_token'], first_party: true });
    const user = await createUser(a);
    const tokens = await userTokens(a, webApp, user.email, { scope: 'openid offline_access' });
    expect(tokens.status).toBe(200);
    refreshToken = tokens.body.refresh_token!;
  }, 60_000);
  afterAll(async () => {
    await b?.stop();
    await a?.destroy();
  });

  async function adminCall(method: string, path: string, body?: unknown) {
    const { status, body: tokens } = await clientCredentialsToken(a, adminCredentials, { scope: 'admin' });
    if (status !== 200) throw new Error(`no admin token: ${status} ${JSON.stringify(tokens)}`);
    return adminRequest(a, tokens.access_token, method, path, body);
  }

  const currentKids = (keys: KeyView[]) => Object.fromEntries(ALGS.map((alg) => [alg, keys.find((key) => key.alg === alg && key.status === 'current')!.kid]));

  test('when keys rotate 4 times on one instance under steady token traffic on both, then no resource server rejects a token, every kid was published a JWKS lifetime before use, both instances switch at once, and nothing answers 5xx', async () => {
    const origins: Record<Instance, string> = { a: a.origin, b: b.origin };
    /** Every status any request of the test got (0: no answer), by what it was. */
    const statuses: Array<{ what: string; status: number }> = [];
    const issued: Issued[] = [];
    const failures = new Map<string, number>();
    const fail = (key: string) => failures.set(key, (failures.get(key) ?? 0) + 1);
    /** When each kid was first seen in each instance's JWKS (the moment the answer arrived). */
    const firstSeen = new Map<string, Partial<Record<Instance, number>>>();

    const lb = await roundRobinJwks([a.origin, b.origin], (status) => statuses.push({ what: 'jwks via load balancer', status }));
    // The strict resource server: caches the JWKS for exactly JWKS_MAX_AGE and never
    // refetches early for an unknown kid (cooldown far beyond the test), so a key must
    // be in the JWKS a whole cache lifetime before it signs.
    const strictJwks = createRemoteJWKSet(new URL(lb.url), { cacheMaxAge: JWKS_MAX_AGE * 1000, cooldownDuration: 10 * 60_000 });
    // A resource server using gatehouse/verify with library defaults, on instance b's JWKS.
    const library = createVerifier({ issuer: a.issuer, audience: [RS_API, ES_API], jwksUri: `${b.origin}/jwks` });

    let polling = true;
    const poller = (async () => {
      while (polling) {
        await Promise.all((['a', 'b'] as const).map(async (instance) => {
          try {
            const response = await fetch(`${origins[instance]}/jwks`);
            statuses.push({ what: `jwks of ${instance}`, status: response.status });
            if (response.status !== 200) return;
            const { keys } = (await response.json()) as { keys: JWK[] };
            const at = Date.now();
            for (const key of keys) {
              const seen = firstSeen.get(key.kid!) ?? {};
              seen[instance] ??= at;
              firstSeen.set(key.kid!, seen);
            }
          } catch {
            statuses.push({ what: `jwks of ${instance}`, status: 0 });
          }
        }));
        await sleep(50);
      }
    })();

    let running = true;
    async function verify(entry: Issued): Promise<void> {
      const label = `${entry.kind} from ${entry.instance} (${entry.alg}, kid ${entry.kid})`;
      await jwtVerify(entry.token, strictJwks, { issuer: a.issuer, audience: entry.audience, algorithms: [entry.alg] })
        .catch((error: Error) => fail(`strict resource server: ${label}: ${error.message}`));
      if (entry.kind === 'access') {
        await library.verify(entry.token).catch((error: Error) => fail(`gatehouse/verify: ${label}: ${error.message}`));
      }
    }

    const clientCredentialsWorker = async (worker: number) => {
      for (let i = worker; running; i += 1) {
        const instance: Instance = i % 2 ? 'b' : 'a';
        const audience = Math.floor(i / 2) % 2 ? ES_API : RS_API;
        const started = Date.now();
        try {
          const response = await fetch(`${origins[instance]}/token`, {
            method: 'POST',
            headers: { authorization: basicAuthorization(service.clientId, service.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience, scope: 'things:read' }),
          });
          const body = (await response.json()) as { access_token?: string };
          const ended = Date.now();
          statuses.push({ what: `token (client credentials) from ${instance}`, status: response.status });
          if (response.status !== 200 || !body.access_token) {
            fail(`client credentials from ${instance}: ${response.status} ${JSON.stringify(body)}`);
            continue;
          }
          const header = decodeProtectedHeader(body.access_token);
          const entry: Issued = { instance, kind: 'access', alg: header.alg!, kid: header.kid!, started, ended, token: body.access_token, audience };
          issued.push(entry);
          await verify(entry);
        } catch (error) {
          statuses.push({ what: `token (client credentials) from ${instance}`, status: 0 });
          fail(`client credentials from ${instance}: ${(error as Error).message}`);
        }
      }
    };

    // One refresh-token chain, each refresh on the other instance: an ID token each time.
    const idTokenWorker = async () => {
      for (let i = 0; running; i += 1) {
        const instance: Instance = i % 2 ? 'b' : 'a';
        const started = Date.now();
        try {
          const response = await fetch(`${origins[instance]}/token`, {
            method: 'POST',
            headers: { authorization: basicAuthorization(webApp.clientId, webApp.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
          });
          const body = (await response.json()) as { id_token?: string; refresh_token?: string };
          const ended = Date.now();
          statuses.push({ what: `token (refresh) from ${instance}`, status: response.status });
          if (response.status !== 200 || !body.id_token || !body.refresh_token) {
            fail(`refresh from ${instance}: ${response.status} ${JSON.stringify(body)}`);
            break; // the chain is broken; nothing more to learn from it
          }
          refreshToken = body.refresh_token;
          const header = decodeProtectedHeader(body.id_token);
          const entry: Issued = { instance, kind: 'id', alg: header.alg!, kid: header.kid!, started, ended, token: body.id_token, audience: webApp.clientId };
          issued.push(entry);
          await verify(entry);
        } catch (error) {
          statuses.push({ what: `token (refresh) from ${instance}`, status: 0 });
          fail(`refresh from ${instance}: ${(error as Error).message}`);
          break;
        }
        await sleep(20);
      }
    };

    const rotations: Rotation[] = [];
    let initial: Record<string, string>;
    let workers: Array<Promise<void>> = [];
    try {
      const keys = await adminCall('GET', '/keys');
      expect(keys.status).toBe(200);
      initial = currentKids(keys.body.items as KeyView[]);
      // The poller has seen the starting keys for a whole JWKS lifetime before any token is asked for.
      await sleep(JWKS_MAX_AGE * 1000 + 500);
      workers = [...Array.from({ length: 4 }, (_, worker) => clientCredentialsWorker(worker)), idTokenWorker()];

      await sleep(1_500);
      for (let rotation = 1; rotation <= ROTATIONS; rotation += 1) {
        const sentAt = Date.now();
        const rotated = await adminCall('POST', '/keys/rotate');
        const returnedAt = Date.now();
        statuses.push({ what: 'admin rotate on a', status: rotated.status });
        expect(rotated.status).toBe(200);
        rotations.push({ sentAt, returnedAt, current: currentKids(rotated.body.items as KeyView[]) });
        await sleep(ROTATION_PAUSE_MS);
      }
    } finally {
      running = false;
      await Promise.all(workers);
      polling = false;
      await poller;
      await lb.close();
    }
    const stoppedAt = Date.now();

    // Nothing answered 5xx, and every request got an answer.
    expect(statuses.filter((entry) => entry.status >= 500 || entry.status === 0)).toEqual([]);
    // Not one token refused by either resource server, and every token request succeeded.
    expect(Object.fromEntries(failures)).toEqual({});

    // Steady traffic: plenty of tokens, from both instances, of every kind.
    const count = (filter: (entry: Issued) => boolean) => issued.filter(filter).length;
    for (const instance of ['a', 'b'] as const) {
      for (const alg of ALGS) expect({ instance, alg, many: count((e) => e.instance === instance && e.kind === 'access' && e.alg === alg) > 50 }).toEqual({ instance, alg, many: true });
      expect({ instance, idTokens: count((e) => e.instance === instance && e.kind === 'id') > 10 }).toEqual({ instance, idTokens: true });
    }

    // Each rotation promoted the key published as next: a new kid per algorithm every time.
    const epochs = [initial!, ...rotations.map((rotation) => rotation.current)];
    for (const alg of ALGS) expect(new Set(epochs.map((epoch) => epoch[alg])).size).toBe(ROTATIONS + 1);

    // Publish before sign: each token's kid was in the JWKS of both instances at least one
    // JWKS cache lifetime before the token was asked for.
    const unpublished = issued.filter((entry) => {
      const seen = firstSeen.get(entry.kid);
      const latest = entry.started - JWKS_MAX_AGE * 1000;
      return !seen || seen.a === undefined || seen.b === undefined || seen.a > latest || seen.b > latest;
    });
    expect(unpublished.slice(0, 5).map((e) => `${e.kind} from ${e.instance}, kid ${e.kid} requested at ${e.started}, first seen ${JSON.stringify(firstSeen.get(e.kid))}`)).toEqual([]);

    // Each key signs only from its rotation on, until the next rotation has reached the
    // instance: a at once (it reloads before the rotate call returns), b within SWITCH_BOUND_MS
    // (the NOTIFY; KEY_REFRESH_INTERVAL would be the latest without it).
    expect(SWITCH_BOUND_MS).toBeLessThan(KEY_REFRESH_INTERVAL * 1000);
    const epochStart = (j: number) => (j === 0 ? -Infinity : rotations[j - 1]!.sentAt);
    const epochEnd = (j: number, instance: Instance) => (j === ROTATIONS ? Infinity : rotations[j]!.returnedAt + (instance === 'b' ? SWITCH_BOUND_MS : 0));
    const misSigned = issued.filter((entry) => !epochs.some((epoch, j) =>
      epoch[entry.alg] === entry.kid && entry.ended > epochStart(j) && entry.started < epochEnd(j, entry.instance)));
    expect(misSigned.slice(0, 5).map((e) => `${e.kind} from ${e.instance} (${e.alg}) requested ${e.started}–${e.ended} signed by ${e.kid}; epochs ${JSON.stringify(rotations.map((r) => [r.sentAt, r.returnedAt]))}`)).toEqual([]);

    // Both instances did switch to every new key: each signed with it between its rotation
    // and the next one. How late b was: its last old-key token requested after the rotate call returned.
    const lag: number[] = [];
    for (let j = 1; j <= ROTATIONS; j += 1) {
      const { returnedAt, current } = rotations[j - 1]!;
      const until = j < ROTATIONS ? rotations[j]!.sentAt : stoppedAt;
      for (const instance of ['a', 'b'] as const) {
        for (const alg of ALGS) {
          const signed = count((e) => e.instance === instance && e.alg === alg && e.kid === current[alg] && e.started >= returnedAt && e.started < until);
          expect({ rotation: j, instance, alg, signedWithNewKey: signed > 0 }).toEqual({ rotation: j, instance, alg, signedWithNewKey: true });
        }
      }
      const late = issued.filter((e) => e.instance === 'b' && e.started >= returnedAt && e.started < until && e.kid !== current[e.alg]);
      lag.push(Math.max(0, ...late.map((e) => e.started - returnedAt)));
    }
    expect(Math.max(...lag)).toBeLessThan(SWITCH_BOUND_MS);

    // Every key that signed is still published by both instances (its tokens are valid for
    // 600 s), and a resource server that fetches the JWKS now accepts every token.
    const usedKids = [...new Set(issued.map((entry) => entry.kid))];
    expect(usedKids.length).toBe(2 * (ROTATIONS + 1));
    for (const origin of [a.origin, b.origin]) {
      const published = ((await (await fetch(`${origin}/jwks`)).json()) as { keys: JWK[] }).keys.map((key) => key.kid);
      expect(usedKids.filter((kid) => !published.includes(kid))).toEqual([]);
      const fresh = createRemoteJWKSet(new URL(`${origin}/jwks`));
      const refused: string[] = [];
      for (const entry of issued) {
        await jwtVerify(entry.token, fresh, { issuer: a.issuer, audience: entry.audience }).catch((error: Error) => refused.push(`${entry.kid}: ${error.message}`));
      }
      expect(refused.slice(0, 5)).toEqual([]);
    }
    process.stdout.write(`R4: ${issued.length} tokens (${count((e) => e.kind === 'id')} ID tokens), ${ROTATIONS} rotations, rotate calls took ${rotations.map((r) => r.returnedAt - r.sentAt).join(', ')} ms, b's switch lag per rotation (ms): ${lag.join(', ')}\n`);
  }, 60_000);
});
