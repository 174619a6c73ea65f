import { startApp, type TestApp } from '../helpers/app.js';
import { adminToken, adminRequest } from '../helpers/admin.js';
import { Browser, createUser, registerClient, REDIRECT_URI, TEST_ACTOR, submitLogin } from '../helpers/oidc.js';

let app: TestApp;
let token: string;
beforeAll(async () => { app = await startApp(); token = await adminToken(app); });
afterAll(async () => { await app.destroy(); });

const show = (label: string, r: { status: number; headers: Headers; text: string }) =>
  console.log(label, r.status, r.headers.get('content-type'), r.headers.get('www-authenticate') ?? '', r.text.slice(0, 600));

test('explore', async () => {
  const user = await createUser(app);
  const iat = await adminRequest(app, token, 'POST', '/registration-tokens', { expires_in: 3600 });
  show('iat', iat);
  show('iat list', await adminRequest(app, token, 'GET', '/registration-tokens'));
  const reg = async (body: unknown, t = iat.body.token) => fetch(`${app.origin}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() }));
  show('garbage', await reg({ redirect_uris: [REDIRECT_URI] }, 'garbage'));
  show('reg plo', await reg({ redirect_uris: [REDIRECT_URI], post_logout_redirect_uris: ['http://a.example/x'] }));
  show('reg roles', await reg({ redirect_uris: [REDIRECT_URI], gatehouse_roles: ['admin'] }));
  show('reg roles2', await reg({ redirect_uris: [REDIRECT_URI], roles: ['admin'] }));
  show('reg scope admin', await reg({ redirect_uris: [REDIRECT_URI], scope: 'openid admin' }));
  show('reg fp false', await reg({ redirect_uris: [REDIRECT_URI], first_party: false }));
  // timing
  let t0 = Date.now();
  for (let i = 0; i < 50; i++) await app.app.services.clients.createClient({ client_name: `bulk ${i}`, grant_types: ['client_credentials'] }, TEST_ACTOR);
  console.log('service 50', Date.now() - t0);
  t0 = Date.now();
  for (let i = 0; i < 50; i++) await adminRequest(app, token, 'POST', '/clients', { client_name: `bulk ${i}`, grant_types: ['client_credentials'] });
  console.log('http 50', Date.now() - t0);
  // xss consent
  const c = await registerClient(app, { client_name: '<img src=x onerror=alert(1)>', logo_uri: 'https://l.example/x.png?a="><script>alert(1)</script>' });
  const b = new Browser();
  const u = `${app.issuer}/auth?${new URLSearchParams({ client_id: c.clientId, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid', state: 's1', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeKt8zyYIlE7hG4ySzMQ', code_challenge_method: 'S256' })}`;
  const login = await b.follow(u, app.issuer);
  console.log('login page', login.body.match(/<main[\s\S]*<\/main>/)?.[0] ?? login.body.slice(-1500));
  const consent = await submitLogin(b, app, login, user.email);
  console.log('consent page', consent.status, consent.body.match(/<main[\s\S]*<\/main>/)?.[0] ?? consent.body.slice(-2000));
  show('after patch', await adminRequest(app, token, 'PATCH', `/clients/${c.clientId}`, { disabled: true }));
  show('rotate', await adminRequest(app, token, 'POST', `/clients/${c.clientId}/secret`, { grace_period_seconds: 2 }));
});
