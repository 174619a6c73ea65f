import { startApp, type TestApp } from '../helpers/app.js';
import { TEST_ACTOR } from '../helpers/oidc.js';
let app: TestApp;
beforeAll(async () => { app = await startApp(); });
afterAll(async () => { await app.destroy(); });
test('explore', async () => {
  await fetch(`${app.origin}/.well-known/openid-configuration`).then((r) => r.text());
  const t0 = Date.now();
  for (let i = 0; i < 1000; i++) await app.app.services.clients.createClient({ client_name: `b ${i}`, grant_types: ['client_credentials'] }, TEST_ACTOR);
  console.log('elapsed', Date.now() - t0);
  for (let i = 0; i < 3; i++) {
    try { const r = await fetch(`${app.origin}/.well-known/openid-configuration`); console.log('ok', r.status); await r.text(); }
    catch (e) { console.log('fail', (e as Error & { cause?: unknown }).cause); }
  }
});
