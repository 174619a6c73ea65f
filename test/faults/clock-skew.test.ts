// Checklist R7: an instance whose clock is 5 minutes ahead (NTP off), started as a real
// server process with its Date shifted (test/helpers/shift-clock.cjs), on a PostgreSQL of
// the test's own whose clock is right. Expected: the instance alarms (a warning in its log
// and gatehouse_clock_skew_seconds ≈ 300); a token it issues lives no longer than its TTL
// by the database's clock (the row's expiry is the database's now() plus the TTL, and
// after the TTL the token is inactive, although by the instance's own clock it would
// still have five minutes to go); and an instance with a right clock sees no alarm.
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

    const target = { origin: gatehouse.origin, client: gatehouse.service };
    const issued = await sendTraffic(target, 'token');
    expect(issued.status).toBe(200);
    const introspect = async () => {
      const response = await fetch(`${gatehouse.origin}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basicHeader(gatehouse.service.clientId, gatehouse.service.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: issued.token! }),
      });
      return (await response.json()) as { active: boolean; exp?: number };
    };
    const fresh = await introspect();
    expect(fresh.active).toBe(true);
    // The token itself says the instance's time (exp about 5 minutes ahead)...
    expect(fresh.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(OFFSET_SECONDS - 5);
    // ...but its row expires TOKEN_TTL seconds after the database's now().
    const { rows } = await database.query<{ seconds: number }>(
      "SELECT EXTRACT(EPOCH FROM (expires_at - now()))::float8 AS seconds FROM oidc_payloads WHERE model = 'ClientCredentials' ORDER BY expires_at DESC LIMIT 1",
    );
    expect(rows[0]!.seconds).toBeGreaterThan(0);
    expect(rows[0]!.seconds).toBeLessThanOrEqual(TOKEN_TTL);

    await sleep((TOKEN_TTL + 1) * 1000);
    expect((await introspect()).active).toBe(false);
  });
});

describeWithPostgres('R7 when an instance\'s clock is right', () => {
  let gatehouse: GatehouseProcess<undefined>;

  beforeAll(async () => {
    gatehouse = await startGatehouseProcess(bin!, { env: { LOG_LEVEL: 'info' } });
  }, 120_000);
  afterAll(async () => {
    await gatehouse?.destroy();
  });

  test('then it raises no alarm and reports a skew under a second', async () => {
    const metrics = await (await fetch(`${gatehouse.origin}/metrics`)).text();
    const gauge = Number(/^gatehouse_clock_skew_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(Math.abs(gauge)).toBeLessThan(1);
    expect(gatehouse.server.output()).not.toContain('clock differs from the database');
  });
});
