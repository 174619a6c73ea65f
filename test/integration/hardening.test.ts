// Edge cases found in review: secrets that must stay sealed, races that must resolve one
// way, inputs that must be refused cleanly.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { resolveSecrets } from '../../src/crypto/secrets.js';
import { createLogger } from '../../src/logger.js';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { UNUSED_REGISTRATION, createUser, registerClient } from '../helpers/oidc.js';

describe('hardening', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  const adapter = (model: string) => {
    const { services } = app.app;
    const Adapter = createAdapterClass({ payloads: services.stores.payloads, secretBox: services.secretBox, findClient: async () => undefined, registeredClients: UNUSED_REGISTRATION });
    return new Adapter(model);
  };

  test('when an interaction carries the browser session id, then it is stored sealed and read back intact', async () => {
    const interactions = adapter('Interaction');
    const cookie = 'session-cookie-value-0123456789abcdef';
    await interactions.upsert('uid-sealed', { jti: 'uid-sealed', kind: 'Interaction', session: { uid: 'u1', cookie, accountId: 'a1' } }, 60);
    expect(JSON.stringify(await app.db.prisma.oidcPayload.findMany({ where: { model: 'Interaction' } }))).not.toContain(cookie);
    expect(await interactions.find('uid-sealed')).toMatchObject({ session: { cookie } });
  });

  test('when the same assertion id is recorded by concurrent requests, then exactly one is accepted', async () => {
    const replay = adapter('ReplayDetection');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => replay.upsert('client-1:jti-1', { jti: 'client-1:jti-1', kind: 'ReplayDetection', iss: 'client-1' }, 60)),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((result) => result.status === 'rejected')).toMatchObject({ reason: { error: 'invalid_request' } });
  });

  test('when two consents for one client are recorded at once, then both sets of scopes are kept', async () => {
    const user = await createUser(app);
    const client = await registerClient(app);
    const { consents } = app.app.services;
    await Promise.all([consents.remember(user.id, client.clientId, ['openid', 'email']), consents.remember(user.id, client.clientId, ['openid', 'profile'])]);
    expect(await consents.preApprovedScopes(user.id, { clientId: client.clientId, firstParty: false }, ['openid', 'email', 'profile', 'phone'])).toEqual(['openid', 'email', 'profile']);
  });

  test('when a username looks like an email address, then it is refused', async () => {
    await expect(createUser(app, { username: 'ada@example.com' })).rejects.toMatchObject({ code: 'invalid_input', fields: [{ field: 'username' }] });
  });

  test('when the end-session endpoint gets a form POST, then it answers with the same request as a GET', async () => {
    const response = await fetch(`${app.origin}/session/end`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'state=abc',
      redirect: 'manual',
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/session/end?state=abc');
  });

  test('when only COOKIE_KEYS is generated, then the configured SECRET_KEY is never written to disk', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-secrets-'));
    try {
      const secretKey = Buffer.alloc(32, 7).toString('base64');
      const config = loadConfig({ DATA_DIR: dataDir, SECRET_KEY: secretKey });
      const secrets = await resolveSecrets(config, createLogger({ level: 'silent' }));
      expect(secrets.secretKey).toBe(secretKey);
      const file = await readFile(path.join(dataDir, 'secrets.json'), 'utf8');
      expect(file).not.toContain(secretKey);
      expect(JSON.parse(file).cookieKeys).toEqual(secrets.cookieKeys);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('client cache', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ env: { CLIENT_CACHE_TTL: '1' } });
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when a client was loaded, then it is served from memory until its time is up or it is forgotten', async () => {
    const client = await registerClient(app);
    const { clients } = app.app.services;
    expect(await clients.providerMetadata(client.clientId)).toMatchObject({ client_id: client.clientId, client_secret: client.clientSecret });
    await app.db.prisma.client.update({ where: { id: client.clientId }, data: { name: 'renamed', metadata: { client_name: 'renamed' } } });
    expect(await clients.providerMetadata(client.clientId)).toMatchObject({ client_name: 'Test App' });
    clients.forget(client.clientId);
    expect(await clients.providerMetadata(client.clientId)).toMatchObject({ client_name: 'renamed' });
    await app.db.prisma.client.update({ where: { id: client.clientId }, data: { metadata: { client_name: 'again' } } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await clients.providerMetadata(client.clientId)).toMatchObject({ client_name: 'again' });
  });
});
