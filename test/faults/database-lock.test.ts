// Checklist R3/I6: a long lock on the table every token lives in (`oidc_payloads`, held
// ACCESS EXCLUSIVE by another session, as a careless migration or a manual fix would),
// then one on `clients` while more token requests arrive at once than the pool has
// connections. The app is given a 1 s statement timeout, a 1 s connect timeout and a
// pool of 4. Expected: requests that need a locked table answer 503 with Retry-After in
// bounded time (the statement timeout cancels the lock wait; a request that finds every
// connection taken stops waiting at the connect timeout), never a hang or a 500;
// discovery, JWKS and /healthz, which do not need the database, stay 200 and fast, and so
// does readiness (the database itself answers); once a lock is released everything works
// again without a restart.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createAdminClient, type AdminCredentials } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { basicHeader } from '../helpers/http.js';
import { createPrivatePostgres, postgresBinaries, type PrivatePostgres } from '../helpers/private-postgres.js';
import { sleep } from '../helpers/security.js';
import { percentile, sendTraffic, steadyTraffic, type Sample as TrafficSample } from '../helpers/traffic-samples.js';

const bin = postgresBinaries();
// Without PostgreSQL's binaries there is no server of our own to lock.
const describeWithPostgres = bin ? describe : describe.skip;

type Kind = 'token' | 'introspection' | 'discovery' | 'jwks' | 'healthz';
const DATABASE_BACKED: readonly Kind[] = ['token', 'introspection'];

type Sample = TrafficSample<Kind>;

const POOL = 4;
/**
 * The longest a request may take while a lock is held: two statement timeouts (1 s each:
 * the store sends one grouped token statement at a time, so a request can wait for one
 * that is cancelled and then be cancelled itself) or a wait for a connection (1 s) and
 * a statement timeout, plus 1.5 s for the rest of the request. Without the connect
 * timeout the burst below would queue for connections, five rounds of 1 s; without the
 * statement timeout requests would wait as long as the lock is held.
 */
const BOUND_MS = 3_500;

describeWithPostgres('R3 when a long lock holds the token table and the pool runs out', () => {
  let postgres: PrivatePostgres;
  let app: TestApp;
  let service: AdminCredentials;
  let locker: pg.Client;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    postgres = await createPrivatePostgres(bin!);
    app = await startApp({
      env: {
        DATABASE_URL: postgres.url,
        DATABASE_POOL_MAX: String(POOL),
        DATABASE_STATEMENT_TIMEOUT: '1',
        DATABASE_CONNECT_TIMEOUT: '1',
        CLIENT_CACHE_TTL: '0',
      },
    });
    service = await createAdminClient(app, 'none');
    locker = new pg.Client({ connectionString: postgres.url });
    await locker.connect();
  }, 120_000);
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await locker?.end().catch(() => {});
    await app?.destroy().catch(() => {});
    await postgres?.destroy();
  });

  const send = (kind: Kind, token?: string) => sendTraffic({ origin: app.origin, client: service }, kind, token);

  test('then requests that need the locked table get 503 within the timeouts, memory-served routes and readiness stay 200, and the release ends the errors', async () => {
    const before = await send('token');
    expect(before.status).toBe(200);
    const earlier = before.token!;

    const samples: Sample[] = [];
    // Two clients send token and introspection requests, one after another (fewer than
    // the pool's connections), while one polls the routes served from memory.
    const target = { origin: app.origin, client: service };
    const traffic = [
      steadyTraffic(target, { clients: 2, kinds: DATABASE_BACKED, pauseMs: 50 }, samples, [earlier]),
      steadyTraffic(target, { clients: 1, kinds: ['discovery', 'jwks', 'healthz'], pauseMs: 25 }, samples),
    ];
    /** Backends of the app waiting for a lock right now. */
    const waitingForLock = async () =>
      Number((await locker.query<{ count: string }>("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).rows[0]!.count);

    await sleep(1_000);
    // Phase 1: the token table is locked.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE oidc_payloads IN ACCESS EXCLUSIVE MODE');
    const locked = Date.now();
    await sleep(700);
    // Are requests really waiting on the lock (not failing some other way)?
    const waitingOnTokens = await waitingForLock();
    await sleep(800);
    // The database answers (only one table is locked): the instance stays ready, so a
    // load balancer does not drain every instance over one table.
    const readyWhileLocked = await fetch(`${app.origin}/readyz`, { signal: AbortSignal.timeout(15_000) });
    await sleep(1_500);
    await locker.query('COMMIT');
    const released = Date.now();
    await sleep(2_500);

    // Phase 2: the clients table, read by every token request (CLIENT_CACHE_TTL=0) on a
    // connection of its own, is locked, and five times as many token requests as the
    // pool has connections arrive at once: every connection ends up waiting on the lock,
    // and the requests that find none free give up at the connect timeout.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE clients IN ACCESS EXCLUSIVE MODE');
    const exhausted = Date.now();
    const pending = Promise.all(Array.from({ length: 5 * POOL }, () => send('token')));
    await sleep(500);
    const waitingInBurst = await waitingForLock();
    const burst = await pending;
    await locker.query('COMMIT');
    const releasedAgain = Date.now();
    await sleep(3_000);
    await Promise.all(traffic.map((running) => running.stop()));

    const show = (list: Sample[]) => list.map((s) => `${s.kind}@${s.started - locked}ms:${s.status}/${s.ms}ms`).join(', ');
    const finished = (s: Sample) => s.started + s.ms;
    const backed = samples.filter((s) => DATABASE_BACKED.includes(s.kind));

    expect(show(backed.filter((s) => finished(s) < locked))).not.toBe('');
    expect(show(backed.filter((s) => finished(s) < locked && s.status !== 200))).toBe('');

    // While locked: 503 with Retry-After (the OAuth JSON error at /token), within the bound.
    const during = backed.filter((s) => (s.started >= locked && finished(s) < released) || (s.started >= exhausted && finished(s) < releasedAgain));
    expect(during.filter((s) => s.kind === 'token').length).toBeGreaterThan(1);
    expect(during.filter((s) => s.kind === 'introspection').length).toBeGreaterThan(1);
    expect(show([...during, ...burst].filter((s) => s.status !== 503 || s.retryAfter === null))).toBe('');
    expect(show([...during, ...burst].filter((s) => s.kind === 'token' && s.error !== 'temporarily_unavailable'))).toBe('');
    expect(show([...samples, ...burst].filter((s) => s.ms > BOUND_MS))).toBe('');
    expect(show(samples.filter((s) => s.status === 0 || (s.status >= 500 && s.status !== 503)))).toBe('');
    expect(waitingOnTokens).toBeGreaterThan(0);
    // The pool was exhausted, and never exceeded.
    expect(waitingInBurst).toBe(POOL);
    expect(readyWhileLocked.status).toBe(200);

    // Discovery, JWKS and /healthz never wait on the database: always 200, none near a
    // database timeout (1 s), and p99 < 100 ms while the locks are held.
    const memory = samples.filter((s) => !DATABASE_BACKED.includes(s.kind));
    const memoryWhileLocked = memory.filter((s) => (s.started >= locked && s.started < released) || (s.started >= exhausted && s.started < releasedAgain));
    expect(memoryWhileLocked.length).toBeGreaterThan(30);
    expect(show(memory.filter((s) => s.status !== 200 || s.ms >= 500))).toBe('');
    expect(percentile(memoryWhileLocked.map((s) => s.ms), 99)).toBeLessThan(100);

    // Released: from 2 s on, everything succeeds again in the same app, and tokens issued
    // before the lock are intact.
    const recovered = backed.filter((s) => (s.started >= released + 2_000 && s.started < exhausted) || s.started >= releasedAgain + 2_000);
    expect(recovered.filter((s) => s.kind === 'token' && s.started >= releasedAgain).length).toBeGreaterThan(2);
    expect(show(recovered.filter((s) => s.status !== 200))).toBe('');
    const introspected = await fetch(`${app.origin}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basicHeader(service.clientId, service.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: earlier }),
    });
    expect(((await introspected.json()) as { active?: boolean }).active).toBe(true);
    expect((await fetch(`${app.origin}/readyz`)).status).toBe(200);
    expect(rejections).toEqual([]);
  }, 60_000);
});
