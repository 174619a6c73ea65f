// Two instances on one PostgreSQL, each caching clients: a change made through one
// instance's admin API reaches the other at once (NOTIFY), so a deleted, disabled or
// re-keyed client fails everywhere immediately (checklist C9), not after the cache TTL.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken, clientCredentialsToken, createAdminClient } from '../helpers/admin.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';

const describePostgres = usingPostgres ? describe : describe.skip;

describePostgres('client changes across instances', () => {
  let a: TestApp;
  let b: TestApp;
  let token: string;

  beforeAll(async () => {
    // A long cache: only the change notice can make instance b forget in time.
    a = await startApp({ env: { CLIENT_CACHE_TTL: '3600' } });
    b = await startApp({ shareStoreWith: a, env: { ISSUER: a.issuer, CLIENT_CACHE_TTL: '3600' } });
    token = await adminToken(a);
  });
  afterAll(async () => {
    await b?.stop();
    await a?.destroy();
  });

  /** Polls briefly: the notice travels through PostgreSQL, asynchronously. */
  async function eventually(check: () => Promise<boolean>): Promise<boolean> {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      if (await check()) return true;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return false;
  }

  test('when a client is disabled or re-keyed through one instance, then the other refuses it within a second', async () => {
    const service = await createAdminClient(a, 'none');
    // Instance b loads and caches the client.
    expect((await clientCredentialsToken(b, service, {})).status).toBe(200);

    const disabled = await adminRequest(a, token, 'PATCH', `/clients/${service.clientId}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(await eventually(async () => (await clientCredentialsToken(b, service, {})).status === 401)).toBe(true);
    expect((await clientCredentialsToken(b, service, {})).body.error).toBe('invalid_client');

    await adminRequest(a, token, 'PATCH', `/clients/${service.clientId}`, { disabled: false });
    expect(await eventually(async () => (await clientCredentialsToken(b, service, {})).status === 200)).toBe(true);

    const rotated = await adminRequest(a, token, 'POST', `/clients/${service.clientId}/secret`, { grace_period_seconds: 0 });
    expect(rotated.status).toBe(200);
    expect(await eventually(async () => (await clientCredentialsToken(b, service, {})).status === 401)).toBe(true);
    expect((await clientCredentialsToken(b, { ...service, clientSecret: rotated.body.client_secret }, {})).status).toBe(200);
  });

  test('when a client is deleted through one instance, then the other answers invalid_client', async () => {
    const service = await createAdminClient(a, 'none');
    expect((await clientCredentialsToken(b, service, {})).status).toBe(200);
    expect((await adminRequest(a, token, 'DELETE', `/clients/${service.clientId}`)).status).toBe(204);
    expect(await eventually(async () => (await clientCredentialsToken(b, service, {})).status === 401)).toBe(true);
  });
});
