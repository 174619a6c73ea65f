// Checklist R14/I7: a soak at 70 % of the capacity measured at its start. The real server
// process (dist/main.js) on a PostgreSQL of the test's own takes a steady mix of
// client-credentials tokens, introspection, discovery and JWKS, plus sign-ins through the
// authorization code flow (sessions, grants, interactions, codes), with short artifact
// lifetimes and a purge every two seconds. Expected, comparing the first third of the
// measured period with the last: no p99 drift over 20 % (a third's p99 being the median of
// its windows' p99s), resident memory within 20 %, the artifact and counter tables at a
// plateau (the purge keeps up), and the event loop never delayed 100 ms or more. The
// suite's one-minute run judges the median latency instead of p99, and not memory: both
// need a longer soak to mean anything.
//
// The suite soaks for 60 s (SOAK_SECONDS); `npm run soak` runs the checklist's 30 minutes
// (SOAK_REPORT=file.json keeps every reading).
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { Browser, formAction, inputValue } from '../helpers/browser.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { authRequest, createUser, exchange, oidc, PASSWORD, REDIRECT_URI, registerClient } from '../helpers/oidc.js';
import { postgresBinaries } from '../helpers/private-postgres.js';
import { sleep } from '../helpers/security.js';
import { percentile, sendTraffic, type Sample, type TrafficKind } from '../helpers/traffic-samples.js';

const bin = postgresBinaries();
// The soak brings its own PostgreSQL, so the suite runs it once, in its PostgreSQL pass
// (TEST_DATABASE_URL set); `npm run soak` runs it on its own.
const describeWithPostgres = bin && (process.env.TEST_DATABASE_URL || process.env.SOAK_SECONDS) ? describe : describe.skip;

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
/** Artifact lifetimes for the soak, seconds: rows expire, and the purge must remove them. */
const ARTIFACT_TTL = 10;
const PURGE_INTERVAL = 2;
/** Before measuring: every artifact made at the start has expired and been purged once. */
const WARM_UP_MS = (ARTIFACT_TTL + 2 * PURGE_INTERVAL) * 1000;
const LOAD_SHARE = 0.7;
const MIX: readonly TrafficKind[] = ['token', 'introspection', 'token', 'discovery', 'token', 'introspection', 'jwks'];
/** One sign-in through the authorization code flow at most this often, ms (each costs an argon2 hash). */
const SIGN_IN_EVERY_MS = 1_000;

interface Reading {
  at: number;
  rssBytes: number;
  payloadRows: number;
  counterRows: number;
  /** The event loop's longest delay since the reading before, ms. */
  lagMaxMs: number;
}

interface SoakFixtures {
  webClient: { clientId: string; clientSecret: string };
  email: string;
}

describeWithPostgres('R14 soak at 70 % of measured capacity', () => {
  let gatehouse: GatehouseProcess<SoakFixtures>;
  let database: pg.Client;
  let config: oidc.Configuration;

  beforeAll(async () => {
    gatehouse = await startGatehouseProcess<SoakFixtures>(bin!, {
      prepare: async (setup) => {
        const web = await registerClient(setup, { first_party: true, client_name: 'Soak web app' });
        const user = await createUser(setup);
        return { webClient: { clientId: web.clientId, clientSecret: web.clientSecret! }, email: user.email };
      },
      env: {
        LOG_LEVEL: 'warn',
        PURGE_INTERVAL: String(PURGE_INTERVAL),
        ...Object.fromEntries(
          ['CLIENT_CREDENTIALS_TTL', 'ACCESS_TOKEN_TTL', 'AUTHORIZATION_CODE_TTL', 'SESSION_TTL', 'SESSION_IDLE_TTL', 'GRANT_TTL', 'INTERACTION_TTL', 'ID_TOKEN_TTL']
            .map((name) => [name, String(ARTIFACT_TTL)]),
        ),
      },
    });
    database = new pg.Client({ connectionString: gatehouse.postgres.url });
    await database.connect();
    const { webClient } = gatehouse.fixtures;
    config = await oidc.discovery(new URL(gatehouse.origin), webClient.clientId, { client_secret: webClient.clientSecret }, oidc.ClientSecretBasic(webClient.clientSecret), {
      execute: [oidc.allowInsecureRequests],
    });
  }, 120_000);
  afterAll(async () => {
    await database?.end().catch(() => {});
    await gatehouse?.destroy();
  });

  const target = () => ({ origin: gatehouse.origin, client: gatehouse.service });

  /** Reads the server's memory, its tables' sizes and its event loop's longest delay since the last reading. */
  async function read(): Promise<Reading> {
    const status = readFileSync(`/proc/${gatehouse.server.child.pid}/status`, 'utf8');
    const rssBytes = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
    const { rows } = await database.query<{ payloads: number; counters: number }>(
      'SELECT (SELECT count(*)::int FROM oidc_payloads) AS payloads, (SELECT count(*)::int FROM rate_counters) AS counters',
    );
    // prom-client reports the longest delay since its previous collection.
    const metrics = await (await fetch(`${gatehouse.origin}/metrics`)).text();
    const lagMaxMs = Number(/^gatehouse_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(metrics)![1]) * 1000;
    return { at: Date.now(), rssBytes, payloadRows: rows[0]!.payloads, counterRows: rows[0]!.counters, lagMaxMs };
  }

  /** One person signing in: authorization request, sign-in form, code, tokens. */
  async function signIn(): Promise<boolean> {
    const browser = new Browser();
    const request = await authRequest(config, { scope: 'openid' });
    const login = await browser.follow(request.url.toString(), gatehouse.origin);
    const answer = await browser.follow(new URL(formAction(login.body, '/login'), gatehouse.origin).toString(), gatehouse.origin, {
      form: { csrf: inputValue(login.body, 'csrf'), login: gatehouse.fixtures.email, password: PASSWORD },
    });
    if (!answer.location?.startsWith(REDIRECT_URI)) return false;
    const tokens = await exchange(config, new URL(answer.location), request);
    return Boolean(tokens.id_token);
  }

  /**
   * Sends the mix at `perSecond` requests a second (paced, at most 64 in flight) and signs
   * someone in every second, until `until`; records every request.
   */
  async function drive(perSecond: number, until: number, samples: Array<Sample<TrafficKind>>, signIns: boolean[]): Promise<void> {
    const issued: string[] = [];
    const started = Date.now();
    let sent = 0;
    let inFlight = 0;
    const pending = new Set<Promise<void>>();
    const signInLoop = (async () => {
      while (Date.now() < until) {
        const next = Date.now() + SIGN_IN_EVERY_MS;
        signIns.push(await signIn().catch(() => false));
        await sleep(Math.max(0, next - Date.now()));
      }
    })();
    while (Date.now() < until) {
      const due = Math.floor(((Date.now() - started) / 1000) * perSecond);
      while (sent < due && inFlight < 64) {
        const kind = MIX[sent % MIX.length]!;
        sent += 1;
        inFlight += 1;
        const request = sendTraffic(target(), kind, issued[issued.length - 1]).then((sample) => {
          // Only what is judged is kept: a 30-minute soak records over a million requests.
          samples.push({ kind: sample.kind, started: sample.started, ms: sample.ms, status: sample.status, retryAfter: null });
          if (sample.token) issued.push(sample.token);
          if (issued.length > 100) issued.splice(0, 50);
          inFlight -= 1;
        });
        pending.add(request);
        void request.finally(() => pending.delete(request));
      }
      await sleep(5);
    }
    await Promise.all([...pending, signInLoop]);
  }

  test(`then over ${SOAK_SECONDS} s latency does not drift over 20 %, memory and table sizes stay flat, and the event loop is never held 100 ms`, async () => {
    // Capacity: the mix as fast as 16 clients can send it, 5 s.
    const probe: Array<Sample<TrafficKind>> = [];
    const probeEnd = Date.now() + 5_000;
    await Promise.all(Array.from({ length: 16 }, async (_, client) => {
      for (let i = client; Date.now() < probeEnd; i += 1) probe.push(await sendTraffic(target(), MIX[i % MIX.length]!));
    }));
    expect(probe.filter((s) => s.status !== 200)).toEqual([]);
    const capacity = probe.length / 5;
    const rate = Math.round(capacity * LOAD_SHARE);

    const samples: Array<Sample<TrafficKind>> = [];
    const signIns: boolean[] = [];
    const readings: Reading[] = [];
    const soakStart = Date.now();
    const soakEnd = soakStart + WARM_UP_MS + SOAK_SECONDS * 1000;
    await read(); // resets the event-loop maximum: the capacity probe is not part of the soak
    const reader = (async () => {
      while (Date.now() < soakEnd) {
        await sleep(1_000);
        readings.push(await read());
      }
    })();
    await drive(rate, soakEnd, samples, signIns);
    await reader;

    // The measured period, after the warm-up, in thirds.
    const measuredFrom = soakStart + WARM_UP_MS;
    const third = (SOAK_SECONDS * 1000) / 3;
    const inThird = <T,>(list: T[], at: (item: T) => number, index: number) =>
      list.filter((item) => at(item) >= measuredFrom + index * third && at(item) < measuredFrom + (index + 1) * third);
    // Ten minutes or more: long enough to judge p99 drift and memory growth.
    const long = SOAK_SECONDS >= 600;
    // A third's latency is the median over its windows (a thirtieth of the soak, at least
    // 5 s) of each window's percentile: drift is a trend over many windows, not one
    // window's pause. The percentile is p99 for a soak of 10 minutes or more; over the
    // suite's one minute a window's p99 is a handful of requests that met a GC pause or an
    // argon2 hash, so that run judges the median's drift instead.
    const windowMs = Math.max(5_000, (SOAK_SECONDS * 1000) / 30);
    const judged = long ? 99 : 50;
    const latency = (list: Array<Sample<TrafficKind>>) => {
      const backed = list.filter((s) => s.kind === 'token' || s.kind === 'introspection');
      const windows = new Map<number, number[]>();
      for (const s of backed) {
        const index = Math.floor((s.started - measuredFrom) / windowMs);
        const window = windows.get(index);
        if (window) window.push(s.ms);
        else windows.set(index, [s.ms]);
      }
      return percentile([...windows.values()].map((durations) => percentile(durations, judged)), 50);
    };
    const p99 = (list: Array<Sample<TrafficKind>>) => percentile(list.filter((s) => s.kind === 'token' || s.kind === 'introspection').map((s) => s.ms), 99);
    const first = { samples: inThird(samples, (s) => s.started, 0), readings: inThird(readings, (r) => r.at, 0) };
    const last = { samples: inThird(samples, (s) => s.started, 2), readings: inThird(readings, (r) => r.at, 2) };
    const max = (values: number[]) => Math.max(...values);
    const summary = {
      capacityPerSecond: Math.round(capacity),
      ratePerSecond: rate,
      achievedPerSecond: Math.round(samples.filter((s) => s.started >= measuredFrom).length / SOAK_SECONDS),
      signIns: signIns.length,
      p99Ms: { first: p99(first.samples), last: p99(last.samples) },
      judgedPercentile: judged,
      judgedMs: { first: latency(first.samples), last: latency(last.samples) },
      rssMiB: { first: Math.round(max(first.readings.map((r) => r.rssBytes)) / 2 ** 20), last: Math.round(max(last.readings.map((r) => r.rssBytes)) / 2 ** 20) },
      payloadRows: { first: max(first.readings.map((r) => r.payloadRows)), last: max(last.readings.map((r) => r.payloadRows)) },
      counterRows: { first: max(first.readings.map((r) => r.counterRows)), last: max(last.readings.map((r) => r.counterRows)) },
      eventLoopLagMaxMs: Math.round(max(readings.map((r) => r.lagMaxMs))),
    };
    console.log(`soak: ${JSON.stringify(summary)}`);
    // SOAK_REPORT=file keeps every reading, for a look at the trend of a long soak.
    if (process.env.SOAK_REPORT) writeFileSync(process.env.SOAK_REPORT, JSON.stringify({ summary, readings }, null, 1));

    // Every request answered, and most of the planned load was sent.
    expect(samples.filter((s) => s.status !== 200).map((s) => `${s.kind}:${s.status}`)).toEqual([]);
    expect(signIns.filter((ok) => !ok)).toEqual([]);
    expect(summary.achievedPerSecond).toBeGreaterThan(rate * 0.8);
    expect(first.samples.length).toBeGreaterThan(100);
    // No drift over 20 % (a millisecond of slack for a latency of a few milliseconds).
    expect(summary.judgedMs.last).toBeLessThanOrEqual(Math.max(summary.judgedMs.first * 1.2, summary.judgedMs.first + 1));
    // Memory: no growth beyond 20 % from the first third to the last. Within a minute the
    // heap is still finding its size (±20 % between runs), so only a long soak tells a leak.
    if (long) expect(summary.rssMiB.last).toBeLessThanOrEqual(summary.rssMiB.first * 1.2);
    // Rows: the artifacts of ten seconds and the current rate-limit windows, not of the whole soak.
    expect(summary.payloadRows.last).toBeLessThanOrEqual(summary.payloadRows.first * 1.2);
    expect(summary.counterRows.last).toBeLessThanOrEqual(Math.max(summary.counterRows.first * 1.2, summary.counterRows.first + 10));
    expect(summary.eventLoopLagMaxMs).toBeLessThan(100);
    expect(gatehouse.server.child.exitCode).toBeNull();
  }, (SOAK_SECONDS + 120) * 1000);
});
