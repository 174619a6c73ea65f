import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';

describe('health and readiness', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when everything is up, then /healthz and /readyz answer 200 with JSON checks', async () => {
    const health = await fetch(`${app.origin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${app.origin}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', keys: 'ok' } });
  });

  test('when the database is gone, then /readyz fails fast with 503 and Retry-After while /healthz still passes', async () => {
    await app.db.close();
    const started = performance.now();
    const ready = await fetch(`${app.origin}/readyz`);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toMatchObject({ status: 'unavailable', checks: { database: 'unreachable' } });
    expect((await fetch(`${app.origin}/healthz`)).status).toBe(200);
  });
});
