// The README's "integrate a service" walk-through, run as written: the example app signs a
// user in through Gatehouse and shows the verified ID token claims.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, createUser, registerClient, submitConsent, submitLogin } from '../helpers/oidc.js';

describe('examples/relying-party.mjs', () => {
  let app: TestApp;
  let example: ChildProcess;
  const port = 18_000 + Math.floor(Math.random() * 1000);
  const appUrl = `http://localhost:${port}`;

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    example?.kill();
    await app.destroy();
  });

  test('when a user opens the example app, then they sign in at Gatehouse and see their verified claims', async () => {
    const user = await createUser(app);
    const client = await registerClient(app, { redirect_uris: [`${appUrl}/callback`], post_logout_redirect_uris: [] });
    example = spawn(process.execPath, [path.resolve('examples/relying-party.mjs')], {
      env: { PATH: process.env.PATH ?? '', ISSUER: app.issuer, PORT: String(port), CLIENT_ID: client.clientId, CLIENT_SECRET: client.clientSecret! },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(example.stdout!, 'data');

    const browser = new Browser();
    const start = await browser.request(`${appUrl}/`);
    expect(start.status).toBe(302);
    let hop = await browser.follow(start.location!, app.issuer);
    hop = await submitLogin(browser, app, hop, user.email);
    hop = await submitConsent(browser, app, hop);
    expect(hop.location?.startsWith(`${appUrl}/callback?`)).toBe(true);
    const page = await browser.request(hop.location!);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`Signed in as ${user.email} (sub ${user.id})`);
  });
});
