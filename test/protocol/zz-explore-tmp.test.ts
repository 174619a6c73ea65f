import { randomBytes } from 'node:crypto';
import { startApp, type TestApp } from '../helpers/app.js';
import { adminToken, adminRequest } from '../helpers/admin.js';
let app: TestApp;
beforeAll(async () => { app = await startApp({ env: { NODE_ENV: 'production', ISSUER: 'https://id.example.test', TRUST_PROXY: 'true', SECRET_KEY: randomBytes(32).toString('base64'), COOKIE_KEYS: randomBytes(32).toString('base64url') } }); });
afterAll(async () => { await app.destroy(); });
test('explore', async () => {
  const t = await adminToken(app);
  for (const [type, uri] of [['web', 'http://localhost:8080/cb'], ['web', 'http://127.0.0.1:8080/cb'], ['native', 'http://127.0.0.1:8080/cb'], ['native', 'http://localhost:8080/cb']]) {
    const r = await adminRequest(app, t, 'POST', '/clients', { client_name: 'x', application_type: type, token_endpoint_auth_method: 'none', redirect_uris: [uri] });
    console.log(type, uri, r.status, r.text.slice(0, 300));
  }
});
