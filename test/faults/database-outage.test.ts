// PostgreSQL goes away under a running Gatehouse and comes back: requests during the
// outage fail fast with 503 and Retry-After (never a hang or a 500), readiness reports
// it, and the service recovers by itself with every committed change intact.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { clientCredentialsToken, createAdminClient, type AdminCredentials } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { createPrivatePostgres, postgresBinaries, type PrivatePostgres } from '../helpers/private-postgres.js';
import { readLog, waitForLog } from '../helpers/security.js';

const bin = postgresBinaries();
const describeWithPostgres = bin ? describe : describe.skip;

describeWithPostgres('when PostgreSQL stops and starts again', () => {
  let postgres: PrivatePostgres;
  let app: TestApp;
  let service: AdminCredentials;

  beforeAll(async () => {
    postgres = await createPrivatePostgres(bin!);
    app = await startApp({ env: { DATABASE_URL: postgres.url, CLIENT_CACHE_TTL: '0' } });
    service = await createAdminClient(app, 'none');
  }, 120_000);
  afterAll(async () => {
    await app?.destroy().catch(() => {});
    await postgres?.destroy();
  });

  test('then requests get 503 fast while it is down, and everything works again once it is back', async () => {
    expect((await clientCredentialsToken(app, service, {})).status).toBe(200);

    await postgres.stop();
    const started = Date.now();
    const during = await clientCredentialsToken(app, service, {}).catch((error: unknown) => ({ status: 0, body: { error: String(error) } }));
    expect(Date.now() - started).toBeLessThan(7_000);
    expect(during.status).toBe(503);
    // Logged as an outage, a warning line without a stack, not as a fault in the code.
    const warnings = await waitForLog(app, (line) => line.msg === 'database unavailable');
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((line) => line.level === 40 && line.err === undefined)).toBe(true);
    expect((await readLog(app)).filter((line) => line.level >= 50)).toEqual([]);
    const ready = await fetch(`${app.origin}/readyz`);
    expect(ready.status).toBe(503);
    expect((await fetch(`${app.origin}/healthz`)).status).toBe(200);
    const discovery = await fetch(`${app.origin}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);

    await postgres.start();
    let recovered = 0;
    for (let attempt = 0; attempt < 40 && recovered !== 200; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      recovered = (await clientCredentialsToken(app, service, {})).status;
    }
    expect(recovered).toBe(200);
    expect((await fetch(`${app.origin}/readyz`)).status).toBe(200);
  }, 120_000);
});
