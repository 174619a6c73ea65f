import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, REDIRECT_URI, createUser, registerClient, relyingParty, authRequest, signIn, oidc } from '../helpers/oidc.js';

let app: TestApp;
beforeAll(async () => { app = await startApp(); });
afterAll(async () => { await app.destroy(); });

async function raw(url: string, init: RequestInit = {}) {
  const r = await fetch(url, { redirect: 'manual', ...init });
  const body = await r.text();
  return { status: r.status, location: r.headers.get('location'), body: body.slice(0, 200), headers: Object.fromEntries(r.headers) };
}

test('probe', async () => {
  const disc = await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json();
  console.log(JSON.stringify(disc, null, 1));
  const conf = await registerClient(app);
  const pub = await registerClient(app, { token_endpoint_auth_method: 'none' });
  const legacy = await registerClient(app, { require_pkce: false });
  const native = await registerClient(app, { application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb'] });
  const base = { response_type: 'code', scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeKt8zyYIlE7hG4ySzMQ', code_challenge_method: 'S256' };
  const q = (p: Record<string, string>) => `${app.issuer}/auth?${new URLSearchParams(p)}`;
  const out: unknown[] = [];
  for (const ru of [REDIRECT_URI, REDIRECT_URI + '/', 'http://localhost:8080/Callback', 'http://LOCALHOST:8080/callback', 'http://localhost:8081/callback', 'http://localhost:8080/callback?x=1', 'http://localhost:8080/callback/../evil', 'http://localhost:8080%2Fcallback', 'https://localhost:8080/callback', 'http://user@localhost:8080/callback','http://localhost:8080/callback#', 'http://localhost:8080/callback%2F', 'http://localhost:8080/%63allback', 'http://localhost:8080/callback ', 'http://localhost.evil.com:8080/callback', 'http://localhost:8080@evil.com/callback']) {
    out.push([ru, await raw(q({ ...base, client_id: conf.clientId, redirect_uri: ru }))]);
  }
  for (const ru of ['http://127.0.0.1:9999/cb', 'http://[::1]:1234/cb', 'http://127.0.0.1/cb', 'http://localhost:8080/cb', 'http://127.0.0.1:9999/cb/']) {
    out.push(['native', ru, await raw(q({ ...base, client_id: native.clientId, redirect_uri: ru }))]);
  }
  out.push(['noresptype', await raw(q({ ...base, response_type: '', client_id: conf.clientId, redirect_uri: REDIRECT_URI }))]);
  const nort: Record<string,string> = { ...base, client_id: conf.clientId, redirect_uri: REDIRECT_URI }; delete nort.response_type;
  out.push(['noresptype2', await raw(q(nort))]);
  for (const rt of ['token', 'id_token token', 'code token', 'code id_token', 'id_token', 'none', 'bogus'])
    out.push([rt, await raw(q({ ...base, response_type: rt, client_id: conf.clientId, redirect_uri: REDIRECT_URI }))]);
  const nopk: Record<string,string> = { ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI }; delete nopk.code_challenge; delete nopk.code_challenge_method;
  out.push(['pub nopkce', await raw(q(nopk))]);
  out.push(['conf nopkce', await raw(q({ ...nopk, client_id: conf.clientId }))]);
  out.push(['legacy nopkce', await raw(q({ ...nopk, client_id: legacy.clientId }))]);
  out.push(['plain', await raw(q({ ...base, code_challenge_method: 'plain', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['short', await raw(q({ ...base, code_challenge: 'abcdefghij', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['nomethod', await raw(q({ ...base, code_challenge_method: '', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['request', await raw(q({ ...base, request: 'eyJhbGciOiJub25lIn0.eyJhIjoxfQ.', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['request_uri', await raw(q({ ...base, request_uri: 'https://evil.example/r', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['request_uri urn', await raw(q({ ...base, request_uri: 'urn:ietf:params:oauth:request_uri:abc', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['bigstate', (await raw(q({ ...base, state: 'a'.repeat(10000), client_id: pub.clientId, redirect_uri: REDIRECT_URI }))).status]);
  out.push(['bignonce', (await raw(q({ ...base, nonce: 'a'.repeat(10000), client_id: pub.clientId, redirect_uri: REDIRECT_URI }))).status]);
  out.push(['bigru', (await raw(q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI + '?' + 'a'.repeat(10000) }))).status]);
  out.push(['dup ru', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI })}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`)]);
  out.push(['dup scope', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI })}&scope=openid`)]);
  out.push(['pct', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI })}&state=%zz`)]);
  out.push(['nul', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI })}&nonce=a%00b`)]);
  out.push(['bracket', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI })}&a[b][c]=1`)]);
  out.push(['bracket state', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI }).replace('state=st','state[a]=1')}`)]);
  out.push(['badutf8', await raw(`${q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI })}&login_hint=%C3%28`)]);
  out.push(['cors', await raw(q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI }), { headers: { origin: 'http://localhost:8080' } })]);
  out.push(['options', await raw(q({ ...base, client_id: pub.clientId, redirect_uri: REDIRECT_URI }), { method: 'OPTIONS', headers: { origin: 'http://localhost:8080', 'access-control-request-method': 'GET' } })]);
  out.push(['noclient', await raw(q({ ...base, redirect_uri: REDIRECT_URI }))]);
  out.push(['noscope', await raw(q({ ...base, scope: '', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['badscope', await raw(q({ ...base, scope: 'profile', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['prompt none', await raw(q({ ...base, prompt: 'none', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['post bad ct', await raw(`${app.issuer}/auth`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' })]);
  out.push(['post huge', await raw(`${app.issuer}/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=' + 'b'.repeat(200000) })]);
  out.push(['max_age bad', await raw(q({ ...base, max_age: 'abc', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['resp mode', await raw(q({ ...base, response_mode: 'fragment', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['claims', await raw(q({ ...base, claims: '{bad', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  out.push(['id_token_hint', await raw(q({ ...base, id_token_hint: 'garbage', client_id: pub.clientId, redirect_uri: REDIRECT_URI }))]);
  console.log(JSON.stringify(out, null, 1));
});
