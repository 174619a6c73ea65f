// examples/resource-server.mjs as a user runs it: a separate process that imports
// `gatehouse/verify` through the package's exports and verifies real tokens offline.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken, clientCredentialsToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { TEST_ACTOR } from '../helpers/oidc.js';

const API = 'https://invoices.example.com';

describe('examples/resource-server.mjs', () => {
  let app: TestApp;
  let example: ChildProcess;
  const port = 19_000 + Math.floor(Math.random() * 1000);

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    example?.kill();
    await app.destroy();
  });

  test('when a service calls the example API, then a token with invoices:read is accepted and others are refused', async () => {
    const admin = await adminToken(app);
    const created = await adminRequest(app, admin, 'POST', '/apis', {
      identifier: API,
      scopes: [{ name: 'invoices:read', description: 'Read your invoices' }, { name: 'invoices:write' }],
    });
    expect(created.status).toBe(201);
    const reader = await app.app.services.clients.createClient(
      { client_name: 'invoice reader', grant_types: ['client_credentials'], api_scopes: { [API]: ['invoices:read', 'invoices:write'] } },
      TEST_ACTOR,
    );
    const credentials = { clientId: reader.client.client_id, clientSecret: reader.client_secret! };

    example = spawn(process.execPath, [path.resolve('examples/resource-server.mjs')], {
      env: { PATH: process.env.PATH ?? '', ISSUER: app.issuer, API_IDENTIFIER: API, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(example.stdout!, 'data');
    const invoices = (token?: string) =>
      fetch(`http://127.0.0.1:${port}/invoices`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    const anonymous = await invoices();
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer realm="${API}"`);

    const read = await clientCredentialsToken(app, credentials, { resource: API, scope: 'invoices:read' });
    expect(read.status).toBe(200);
    expect((await invoices(read.body.access_token)).status).toBe(200);

    const write = await clientCredentialsToken(app, credentials, { resource: API, scope: 'invoices:write' });
    const refused = await invoices(write.body.access_token);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"');

    const tampered = `${read.body.access_token!.slice(0, -4)}AAAA`;
    expect((await invoices(tampered)).status).toBe(401);
  });
});
