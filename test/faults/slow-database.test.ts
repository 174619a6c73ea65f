// Checklist R2/I6: the network between Gatehouse and PostgreSQL turns slow while steady
// traffic runs. The real server process (dist/main.js) reaches its database through a
// latency proxy (test/helpers/latency-proxy.ts, in place of toxiproxy), set to 0, then
// 200 ms per chunk, then 2 s per chunk (beyond the 1 s statement and connect timeouts
// the server is given here), then 0 again. Expected: at 200 ms tokens are still issued,
// only slower; at 2 s database-backed requests get 503 with Retry-After within a bound
// (never a hang, never a 500); discovery and /jwks, served from memory, keep p99 < 50 ms
// throughout; once the latency is gone everything works again without a restart, and the
// process never dies.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { AdminCredentials } from '../helpers/admin.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { startLatencyProxy, type LatencyProxy } from '../helpers/latency-proxy.js';
import { postgresBinaries } from '../helpers/private-postgres.js';
import { sleep } from '../helpers/security.js';
import { percentile, sendTraffic, steadyTraffic, type Sample as TrafficSample } from '../helpers/traffic-samples.js';

const bin = postgresBinaries();
// Without PostgreSQL's binaries there is no server of our own to slow down.
const describeWithPostgres = bin ? describe : describe.skip;

type Kind = 'token' | 'introspection' | 'discovery' | 'jwks';
const DATABASE_BACKED: readonly Kind[] = ['token', 'introspection'];

type Sample = TrafficSample<Kind>;

/** The server's timeouts for this test, seconds: statement (the client gives up 1 s later) and connect. */
const STATEMENT_TIMEOUT = 1;
const CONNECT_TIMEOUT = 1;
/**
 * The longest any request may take, in any phase: the store sends one grouped token
 * statement at a time, so a request can wait for one that is late (statement timeout +
 * the client's 1 s grace: 2 s) and then be late itself (2 s), plus 1 s for the rest. The
 * 2 s latency alone makes one round trip 4 s, and a request makes several.
 */
const BOUND_MS = 5_000;

describeWithPostgres('R2 when the database turns slow under steady traffic', () => {
  let gatehouse: GatehouseProcess<undefined>;
  let proxy: LatencyProxy;
  let origin: string;
  let service: AdminCredentials;

  beforeAll(async () => {
    gatehouse = await startGatehouseProcess(bin!, {
      route: async (databaseUrl) => {
        const target = new URL(databaseUrl);
        proxy = await startLatencyProxy({ host: target.hostname, port: Number(target.port) });
        return proxy.through(databaseUrl);
      },
      env: {
        DATABASE_STATEMENT_TIMEOUT: String(STATEMENT_TIMEOUT),
        DATABASE_CONNECT_TIMEOUT: String(CONNECT_TIMEOUT),
        // Every token request reads its client from the database, not from a cache.
        CLIENT_CACHE_TTL: '0',
        PURGE_INTERVAL: '0',
      },
    });
    ({ origin, service } = gatehouse);
  }, 120_000);
  afterAll(async () => {
    await gatehouse?.destroy();
    await proxy?.close();
  });

  const send = (kind: Kind, token?: string) => sendTraffic({ origin, client: service }, kind, token);

  test('then tokens are slower at 200 ms, 503 in bounded time beyond the timeouts, discovery and JWKS stay fast, and it recovers without a restart', async () => {
    const pid = gatehouse.server.child.pid;
    const samples: Sample[] = [];
    const issued: string[] = [];
    // Three clients alternate token and introspection requests, one after another, while
    // one polls the endpoints served from memory.
    const traffic = [
      steadyTraffic({ origin, client: service }, { clients: 3, kinds: DATABASE_BACKED, pauseMs: 50 }, samples, issued),
      steadyTraffic({ origin, client: service }, { clients: 1, kinds: ['discovery', 'jwks'], pauseMs: 25 }, samples),
    ];

    await sleep(2_000);
    const slow = Date.now();
    proxy.setLatency(200);
    await sleep(6_000);
    const stalled = Date.now();
    const connectionsBeforeStall = proxy.connectionsOpened();
    proxy.setLatency(2_000);
    await sleep(4_000);
    const readyWhileStalled = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(15_000) });
    const healthWhileStalled = await fetch(`${origin}/healthz`);
    await sleep(3_000);
    const connectionsDuringStall = proxy.connectionsOpened() - connectionsBeforeStall;
    const healed = Date.now();
    proxy.setLatency(0);
    await sleep(9_000);
    await Promise.all(traffic.map((running) => running.stop()));

    const show = (list: Sample[]) => list.map((s) => `${s.kind}@${s.started - slow}ms:${s.status}/${s.ms}ms`).join(', ');
    const finished = (s: Sample) => s.started + s.ms;
    const backed = samples.filter((s) => DATABASE_BACKED.includes(s.kind));

    // No latency: everything works.
    const baseline = backed.filter((s) => finished(s) < slow);
    expect(baseline.length).toBeGreaterThan(3);
    expect(show(baseline.filter((s) => s.status !== 200))).toBe('');

    // 200 ms per chunk: still 200, only slower, at least one round trip through the proxy
    // (a request and its answer, 2 × 200 ms) each.
    const slower = backed.filter((s) => s.started >= slow && finished(s) < stalled);
    expect(slower.filter((s) => s.kind === 'token').length).toBeGreaterThan(2);
    expect(show(slower.filter((s) => s.status !== 200))).toBe('');
    expect(show(slower.filter((s) => s.ms < 400))).toBe('');
    expect(percentile(slower.map((s) => s.ms), 50)).toBeGreaterThan(percentile(baseline.map((s) => s.ms), 50) + 400);

    // 2 s per chunk, beyond every timeout: 503 with Retry-After, the OAuth JSON error at
    // /token, and readiness fails while liveness passes.
    const beyond = backed.filter((s) => s.started >= stalled && finished(s) < healed);
    expect(beyond.filter((s) => s.kind === 'token').length).toBeGreaterThan(2);
    expect(show(beyond.filter((s) => s.status !== 503 || s.retryAfter === null))).toBe('');
    expect(show(beyond.filter((s) => s.kind === 'token' && s.error !== 'temporarily_unavailable'))).toBe('');
    expect(readyWhileStalled.status).toBe(503);
    expect(healthWhileStalled.status).toBe(200);
    // No retry storm: each failing request opens at most one connection (plus the
    // notice listener's one reconnect a second).
    expect(connectionsDuringStall).toBeLessThanOrEqual(beyond.length + 10);

    // Never a hang, never a 500, never a dropped connection, in any phase.
    expect(show(samples.filter((s) => s.ms > BOUND_MS))).toBe('');
    expect(show(samples.filter((s) => s.status === 0 || (s.status >= 500 && s.status !== 503)))).toBe('');

    // Discovery and JWKS do not touch the database: always 200, and p99 < 50 ms in each
    // phase from the slow one on (the first seconds warm up this process's HTTP client).
    const memory = samples.filter((s) => !DATABASE_BACKED.includes(s.kind));
    expect(show(memory.filter((s) => s.status !== 200))).toBe('');
    for (const [from, to] of [[slow, stalled], [stalled, healed], [healed, Infinity]] as const) {
      const phase = memory.filter((s) => s.started >= from && s.started < to);
      expect(phase.length).toBeGreaterThan(20);
      expect(percentile(phase.map((s) => s.ms), 99)).toBeLessThan(50);
    }

    // Latency gone: within 5 s every request succeeds again, in the same process.
    const recovered = backed.filter((s) => s.started >= healed + 5_000);
    expect(recovered.filter((s) => s.kind === 'token').length).toBeGreaterThan(2);
    expect(show(recovered.filter((s) => s.status !== 200))).toBe('');
    const lastToken = issued[issued.length - 1];
    const introspected = await send('introspection', lastToken);
    expect(introspected.status).toBe(200);
    expect((await fetch(`${origin}/readyz`)).status).toBe(200);
    expect(gatehouse.server.child.exitCode).toBeNull();
    expect(gatehouse.server.child.signalCode).toBeNull();
    expect(gatehouse.server.child.pid).toBe(pid);
    expect(gatehouse.server.output()).not.toMatch(/unhandled error|uncaught|unhandledRejection/i);
  }, 60_000);
});
