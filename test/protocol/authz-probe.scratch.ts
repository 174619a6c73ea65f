import { startApp, type TestApp } from '../helpers/app.js';
import { REDIRECT_URI, registerClient, createUser, relyingParty, authRequest, signIn, exchange, Browser } from '../helpers/oidc.js';

let app: TestApp;
beforeAll(async () => { app = await startApp(); });
afterAll(async () => { await app.destroy(); });

async function raw(url: string, init: RequestInit = {}) {
  const r = await fetch(url, { redirect: 'manual', ...init });
  const body = await r.text();
  const m = /Error code: ([^)]*)\)/.exec(body);
  return { status: r.status, location: r.headers.get('location'), code: m?.[1], body: m ? '' : body.slice(0, 200) };
}

test('probe', async () => {
  const pub = await registerClient(app, { token_endpoint_auth_method: 'none' });
  const base = { response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeKt8zyYIlE7hG4ySzMQ', code_challenge_method: 'S256', client_id: pub.clientId, redirect_uri: REDIRECT_URI };
  const q = (p: Record<string, string>) => `${app.issuer}/auth?${new URLSearchParams(p)}`;
  const out: unknown[] = [];
  out.push(['prompt bogus', await raw(q({ ...base, prompt: 'bogus' }))]);
  out.push(['prompt none login', await raw(q({ ...base, prompt: 'none login' }))]);
  out.push(['resume bogus', await raw(`${app.issuer}/auth/bogus`)]);
  out.push(['resume nul', await raw(`${app.issuer}/auth/a%00b`)]);
  out.push(['interaction nul', await raw(`${app.issuer}/interaction/a%00b`)]);
  out.push(['no query', await raw(`${app.issuer}/auth`)]);
  out.push(['unknown client', await raw(q({ ...base, client_id: 'nope', redirect_uri: 'https://evil.example/cb' }))]);
  out.push(['bad ru', await raw(q({ ...base, redirect_uri: 'https://evil.example/cb' }))]);
  const noru: Record<string,string> = { ...base }; delete noru.redirect_uri;
  out.push(['no ru', await raw(q(noru))]);
  const nocid: Record<string,string> = { ...base }; delete nocid.client_id;
  out.push(['no cid', await raw(q(nocid))]);
  out.push(['big scope', (await raw(q({ ...base, scope: 'openid '.repeat(1500) }))).status]);
  out.push(['big login_hint', (await raw(q({ ...base, login_hint: 'x'.repeat(10000) }))).status]);
  out.push(['big challenge', await raw(q({ ...base, code_challenge: 'x'.repeat(10000) }))]);
  out.push(['44 challenge', await raw(q({ ...base, code_challenge: 'x'.repeat(44) }))]);
  out.push(['tilde challenge', await raw(q({ ...base, code_challenge: 'x'.repeat(42) + '~' }))]);
  out.push(['plus challenge', await raw(q({ ...base, code_challenge: 'x'.repeat(42) + '+' }))]);
  out.push(['end evil', await raw(`${app.issuer}/session/end?post_logout_redirect_uri=https://evil.example/`)]);
  out.push(['end evil cid', await raw(`${app.issuer}/session/end?client_id=${pub.clientId}&post_logout_redirect_uri=https://evil.example/`)]);
  out.push(['root next', await raw(`${app.issuer}/?next=https://evil.example/`)]);
  // auth_time default?
  const user = await createUser(app);
  const config = await relyingParty(app, pub);
  const b = new Browser();
  const req = await authRequest(config);
  const cb = await signIn(b, app, req, user.email);
  const t = await exchange(config, cb, req);
  out.push(['claims', t.claims()]);
  const r2 = await authRequest(config, { prompt: 'none' });
  const h = await b.request(r2.url.toString());
  out.push(['silent', h.status, h.location]);
  console.log(JSON.stringify(out, null, 1));
});
