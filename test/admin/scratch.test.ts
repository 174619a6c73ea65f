import { startApp, type TestApp } from '../helpers/app.js';
import { adminRequest, adminToken } from '../helpers/admin.js';

let app: TestApp;
beforeAll(async () => { app = await startApp(); });
afterAll(async () => { await app.destroy(); });

test('probe', async () => {
  const tok = await adminToken(app);
  const rt = await adminRequest(app, tok, 'POST', '/registration-tokens', { expires_in: 3600 });
  console.log('rt', rt.status, rt.text);
  const reg = await fetch(`${app.origin}/reg`, { method: 'POST', headers: { authorization: `Bearer ${rt.body.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'dyn', redirect_uris: ['https://rp.example/cb'] }) });
  const regBody = await reg.json() as Record<string, unknown>;
  console.log('reg', reg.status, JSON.stringify(regBody));
  const got = await adminRequest(app, tok, 'GET', `/clients/${regBody.client_id}`);
  console.log('dyn-get', got.status, got.text);
  const list = await adminRequest(app, tok, 'GET', '/registration-tokens');
  console.log('rt-list', list.text);
  const del = await adminRequest(app, tok, 'DELETE', `/registration-tokens/${rt.body.id}`);
  console.log('del', del.status, del.text);
  const reg2 = await fetch(`${app.origin}/reg`, { method: 'POST', headers: { authorization: `Bearer ${rt.body.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'dyn', redirect_uris: ['https://rp.example/cb'] }) });
  console.log('reg-after-revoke', reg2.status, await reg2.text());
  const keys = await adminRequest(app, tok, 'GET', '/keys');
  console.log('keys', keys.text.slice(0, 1500));
  const rot = await adminRequest(app, tok, 'POST', '/keys/rotate');
  console.log('rot', rot.status, JSON.stringify(rot.body.items.map((k: any) => [k.kid, k.alg, k.status, k.retired_at])));
  const jwks = await (await fetch(`${app.origin}/jwks`)).json() as { keys: Array<{ kid: string }> };
  console.log('jwks', JSON.stringify(jwks.keys.map((k) => k.kid)));
  const audit = await adminRequest(app, tok, 'GET', '/audit-events?limit=3');
  console.log('audit', audit.text.slice(0, 2500));
  const au2 = await adminRequest(app, tok, 'GET', '/audit-events?action=key.rotate');
  console.log('audit2', au2.text.slice(0, 1500));
});
