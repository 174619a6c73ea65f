// Checklist R7: an instance whose clock is 5 minutes ahead (NTP off), started as a real
// server process with its Date shifted (test/helpers/shift-clock.cjs), beside one whose
// clock is right, on a PostgreSQL of the test's own. Expected: the skewed instance alarms
// (a warning in its log, gatehouse_clock_skew_seconds ≈ 300); a token it issues is stored
// to expire its TTL after the database's now(), and after that TTL the instance with the
// right clock finds it inactive, although the token's own exp, written by the skewed
// instance, is five minutes later. An instance 2 s off reports the 2 s and raises no alarm.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { basicHeader } from '../helpers/http.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { postgresBinaries } from '../helpers/private-postgres.js';
import { sleep } from '../helpers/security.js';
import { sendTraffic } from '../helpers/traffic-samples.js';

const bin = postgresBinaries();
const describeWithPostgres = bin ? describe : describe.skip;

const OFFSET_SECONDS = 300;
const TOKEN_TTL = 3;

describeWithPostgres('R7 when one instance\'s clock is 5 minutes ahead of the database\'s', () => {
  let gatehouse: GatehouseProcess<undefined>;
  let database: pg.Client;

  beforeAll(async () => {
    gatehouse = await startGatehouseProcess(bin!, {
      env: {
        NODE_OPTIONS: `--require ${path.resolve('test/helpers/shift-clock.cjs')}`,
        TEST_CLOCK_OFFSET_MS: String(OFFSET_SECONDS * 1000),
        CLIENT_CREDENTIALS_TTL: String(TOKEN_TTL),
        LOG_LEVEL: 'info',
      },
    });
    database = new pg.Client({ connectionString: gatehouse.postgres.url });
    await database.connect();
  }, 120_000);
  afterAll(async () => {
    await database?.end().catch(() => {});
    await gatehouse?.destroy();
  });

  test('then it alarms, and a token it issues expires after its TTL by the database\'s clock', async () => {
    // The alarm: a warning naming the skew, and the gauge.
    const findWarning = () => gatehouse.server.output().split('\n').find((line) => line.includes('clock differs from the database'));
    for (let waited = 0; !findWarning() && waited < 3_000; waited += 100) await sleep(100);
    const warning = findWarning();
    expect(warning).toBeDefined();
    const logged = JSON.parse(warning!) as { level: number; skewSeconds: number };
    expect(logged.level).toBe(40);
    expect(Math.abs(logged.skewSeconds - OFFSET_SECONDS)).toBeLessThan(2);
    const metrics = await (await fetch(`${gatehouse.origin}/metrics`)).text();
    const gauge = Number(/^gatehouse_clock_skew_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(Math.abs(gauge - OFFSET_SECONDS)).toBeLessThan(2);

    const right = await gatehouse.startSibling({ NODE_OPTIONS: '', TEST_CLOCK_OFFSET_MS: '0' });
    const issued = await sendTraffic({ origin: gatehouse.origin, client: gatehouse.service }, 'token');
    expect(issued.status).toBe(200);
    const introspect = async (origin: string) => {
      const response = await fetch(`${origin}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basicHeader(gatehouse.service.clientId, gatehouse.service.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: issued.token! }),
      });
      return (await response.json()) as { active: boolean; exp?: number };
    };
    const fresh = await introspect(right.origin);
    expect(fresh.active).toBe(true);
    // The token itself says the skewed instance's time: exp about 5 minutes ahead...
    expect(fresh.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(OFFSET_SECONDS - 5);
    // ...but its row expires TOKEN_TTL seconds after the database's now().
    const { rows } = await database.query<{ seconds: number }>(
      "SELECT EXTRACT(EPOCH FROM (expires_at - now()))::float8 AS seconds FROM oidc_payloads WHERE model = 'ClientCredentials' ORDER BY expires_at DESC LIMIT 1",
    );
    expect(rows[0]!.seconds).toBeGreaterThan(0);
    expect(rows[0]!.seconds).toBeLessThanOrEqual(TOKEN_TTL);

    // After the TTL, the instance with the right clock, which would accept the token by
    // its exp for five more minutes, finds it gone.
    await sleep((TOKEN_TTL + 1) * 1000);
    expect((await introspect(right.origin)).active).toBe(false);
    expect((await introspect(gatehouse.origin)).active).toBe(false);
  });
});

describeWithPostgres('R7 when an instance\'s clock is 2 s off', () => {
  let gatehouse: GatehouseProcess<undefined>;

  beforeAll(async () => {
    gatehouse = await startGatehouseProcess(bin!, {
      env: { NODE_OPTIONS: `--require ${path.resolve('test/helpers/shift-clock.cjs')}`, TEST_CLOCK_OFFSET_MS: '2000', LOG_LEVEL: 'info' },
    });
  }, 120_000);
  afterAll(async () => {
    await gatehouse?.destroy();
  });

  test('then it reports the 2 s and raises no alarm', async () => {
    const metrics = await (await fetch(`${gatehouse.origin}/metrics`)).text();
    const gauge = Number(/^gatehouse_clock_skew_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(Math.abs(gauge - 2)).toBeLessThan(0.5);
    expect(gatehouse.server.output()).not.toContain('clock differs from the database');
  });
});
