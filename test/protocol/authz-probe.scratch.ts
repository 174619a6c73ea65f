import { startApp, type TestApp } from '../helpers/app.js';
import { REDIRECT_URI, registerClient } from '../helpers/oidc.js';

let app: TestApp;
beforeAll(async () => { app = await startApp(); });
afterAll(async () => { await app.destroy(); });

async function raw(url: string, init: RequestInit = {}) {
  const r = await fetch(url, { redirect: 'manual', ...init });
  const body = await r.text();
  return { status: r.status, location: r.headers.get('location'), body: body.slice(0, 1500) };
}

test('probe', async () => {
  const pub = await registerClient(app, { token_endpoint_auth_method: 'none' });
  const base = { response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeKt8zyYIlE7hG4ySzMQ', code_challenge_method: 'S256', client_id: pub.clientId, redirect_uri: REDIRECT_URI };
  const q = (p: Record<string, string>) => `${app.issuer}/auth?${new URLSearchParams(p)}`;
  const out: unknown[] = [];
  out.push(['nul nonce', await raw(`${q(base)}&nonce=a%00b`)]);
  out.push(['nul state', await raw(`${q(base)}&state=a%00b`)]);
  out.push(['nul login_hint', await raw(`${q(base)}&login_hint=a%00b`)]);
  out.push(['nul extra', await raw(`${q(base)}&foo=a%00b`)]);
  out.push(['nul client_id', await raw(`${q({ ...base, client_id: pub.clientId + '\0' })}`)]);
  out.push(['pct state', await raw(`${q(base)}&state=%zz`)]);
  out.push(['pct client', await raw(`${q({ ...base, client_id: '' })}%zz`)]);
  out.push(['badutf8 state', await raw(`${q(base)}&state=%C3%28`)]);
  out.push(['crlf state', await raw(`${q({ ...base, response_type: 'token' })}&state=a%0D%0ALocation:%20x`)]);
  out.push(['long client_id', (await raw(`${q({ ...base, client_id: 'x'.repeat(10000) })}`)).status]);
  out.push(['20k url', (await raw(`${q({ ...base, foo: 'x'.repeat(20000) })}`)).status]);
  out.push(['post form', await raw(`${app.issuer}/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(base).toString() })]);
  console.log(JSON.stringify(out, null, 1));
});
