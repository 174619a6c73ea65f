// Checklist R6: two real server processes (dist/main.js) on one PostgreSQL schema, behind
// what would be a load balancer (both present its address as the issuer). While both serve
// a steady mix of requests, one of them gets SIGKILL. Expected: the survivor is unaffected
// (every request on it, including ones in flight at the moment of the kill, gets its normal
// answer; no 5xx; it stays ready), state lives in the database so sessions and tokens made by
// the dead instance carry on at the survivor (a sign-in begun on it finishes there, a signed-in
// browser's session is recognised there, its refresh token redeems there exactly once), and
// the killed instance, started again, is ready in under 10 s with the migrations check
// passing, without making anything anew (same signing keys, each migration recorded once).
// PostgreSQL only, like every two-instance test.
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import pg from 'pg';
import { basicAuthorization, createAdminClient } from '../helpers/admin.js';
import { GENEROUS_LIMITS, startApp, usingPostgres } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { createUser, registerClient, REDIRECT_URI, PASSWORD, type RegisteredClient } from '../helpers/oidc.js';
import { freePort, halfSentPost, startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

const describePostgres = usingPostgres ? describe : describe.skip;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Kind = 'token' | 'introspection' | 'discovery' | 'jwks';
const KINDS: readonly Kind[] = ['token', 'introspection', 'discovery', 'jwks'];

interface Sample {
  /** The instance the request was sent to. */
  target: 'a' | 'b';
  kind: Kind;
  started: number;
  ended: number;
  /** 0: no answer (connection refused or reset). */
  status: number;
}

/** `url` (on the issuer, i.e. the load balancer's address) sent to one instance instead. */
function at(origin: string, url: string): string {
  const target = new URL(url);
  return `${origin}${target.pathname}${target.search}`;
}

describePostgres('R6 when one of two instances on one PostgreSQL is killed (SIGKILL) under traffic', () => {
  const schema = `crash_${randomBytes(5).toString('hex')}`;
  const databaseUrl = (() => {
    const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://unused');
    url.searchParams.set('schema', schema);
    return url.toString();
  })();
  let env: Record<string, string>;
  let ports: { a: number; b: number };
  let origins: { a: string; b: string };
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  let issuer: string;
  let service: RegisteredClient;
  let webApp: RegisteredClient;
  let user: { id: string; email: string };
  let sql: pg.Client;

  beforeAll(async () => {
    const [lbPort, portA, portB] = [await freePort(), await freePort(), await freePort()];
    ports = { a: portA, b: portB };
    origins = { a: `http://127.0.0.1:${portA}`, b: `http://127.0.0.1:${portB}` };
    // The address of the load balancer in front of both: nothing listens there; the test
    // sends each request to the instance it chooses.
    issuer = `http://127.0.0.1:${lbPort}`;
    env = {
      DATABASE_URL: databaseUrl,
      ISSUER: issuer,
      SECRET_KEY: randomBytes(32).toString('base64'),
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
      KEY_ROTATION_INTERVAL: '0',
      PURGE_INTERVAL: '0',
      LOG_LEVEL: 'info',
      MAIL_DIR: path.join(tmpdir(), `gatehouse-test-mail-${process.pid}`),
      // Limits on, but far above what this test sends from one address.
      ...GENEROUS_LIMITS,
    };
    // Set-up as an operator would do it, through an instance on the same store (which also
    // migrates it and makes the signing keys), stopped before the two processes start.
    const setup = await startApp({ env: { DATABASE_URL: databaseUrl, ISSUER: issuer, SECRET_KEY: env.SECRET_KEY!, COOKIE_KEYS: env.COOKIE_KEYS! } });
    try {
      service = await createAdminClient(setup, 'none').then(({ clientId, clientSecret }) => ({ clientId, clientSecret }));
      webApp = await registerClient(setup, { grant_types: ['authorization_code', 'refresh_token'], first_party: true });
      const created = await createUser(setup);
      user = { id: created.id, email: created.email };
    } finally {
      await setup.stop();
    }
    [a, b] = await Promise.all([
      startServerProcess({ ...env, PORT: String(portA) }),
      startServerProcess({ ...env, PORT: String(portB) }),
    ]);
    sql = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await sql.connect();
  }, 90_000);

  afterAll(async () => {
    await stopServerProcess(a);
    await stopServerProcess(b);
    if (sql) {
      await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.end();
    }
  });

  const basic = () => basicAuthorization(service.clientId, service.clientSecret!);

  /** An authorization request (code + PKCE) addressed to the issuer. */
  function authorization(scope: string, extra: Record<string, string> = {}) {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: webApp.clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope,
      state: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...(scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
      ...extra,
    }).toString();
    return { url: url.toString(), verifier };
  }

  /** Follows redirects on one instance, submitting the login and consent forms, up to the client's redirect URI. */
  async function browse(browser: Browser, origin: string, first: Hop | string): Promise<Hop> {
    let hop = typeof first === 'string' ? await browser.request(at(origin, first)) : first;
    for (let i = 0; i < 12; i += 1) {
      if (hop.location) {
        if (hop.location.startsWith(REDIRECT_URI)) return hop;
        hop = await browser.request(at(origin, hop.location));
      } else if (hop.status === 200 && hop.body.includes('/login"')) {
        hop = await browser.request(at(origin, new URL(formAction(hop.body, '/login'), issuer).toString()), {
          form: { csrf: inputValue(hop.body, 'csrf'), login: user.email, password: PASSWORD },
        });
      } else if (hop.status === 200 && hop.body.includes('/confirm"')) {
        hop = await browser.request(at(origin, new URL(formAction(hop.body, '/confirm'), issuer).toString()), { form: { csrf: inputValue(hop.body, 'csrf') } });
      } else {
        break;
      }
    }
    throw new Error(`the flow did not return to the client (status ${hop.status}): ${hop.body.slice(0, 300)}`);
  }

  async function token(origin: string, params: Record<string, string>, client: RegisteredClient = webApp) {
    const response = await fetch(`${origin}/token`, {
      method: 'POST',
      headers: { authorization: basicAuthorization(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    return { status: response.status, body: (await response.json()) as { access_token?: string; refresh_token?: string; id_token?: string; error?: string } };
  }

  async function redeem(origin: string, callback: string, verifier: string) {
    const code = new URL(callback).searchParams.get('code');
    if (!code) throw new Error(`no code in ${callback}`);
    return token(origin, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
  }

  async function send(target: 'a' | 'b', kind: Kind, lastToken: string | undefined): Promise<Sample> {
    const started = Date.now();
    const origin = origins[target];
    try {
      let response: Response;
      if (kind === 'token' || kind === 'introspection') {
        response = await fetch(`${origin}/token${kind === 'introspection' ? '/introspection' : ''}`, {
          method: 'POST',
          headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(kind === 'token' ? { grant_type: 'client_credentials' } : { token: lastToken ?? 'none' }),
          signal: AbortSignal.timeout(10_000),
        });
      } else {
        response = await fetch(`${origin}${kind === 'jwks' ? '/jwks' : '/.well-known/openid-configuration'}`, { signal: AbortSignal.timeout(10_000) });
      }
      await response.arrayBuffer();
      return { target, kind, started, ended: Date.now(), status: response.status };
    } catch {
      return { target, kind, started, ended: Date.now(), status: 0 };
    }
  }

  async function keysInStore(): Promise<string[]> {
    const { rows } = await sql.query<{ kid: string; alg: string; status: string }>(`SELECT kid, alg, status FROM "${schema}".signing_keys ORDER BY kid`);
    return rows.map((row) => `${row.alg}:${row.status}:${row.kid}`);
  }

  test('then the survivor answers every request normally, sessions and tokens of the dead instance carry on there exactly once, and the restarted instance is ready in < 10 s with nothing made twice', async () => {
    // Before the crash, on instance a: a browser signs in completely (its session and a
    // refresh token are a's work), and a second browser starts a sign-in and stops at the login page.
    const signedIn = new Browser();
    // max_age: the ID tokens then carry auth_time, the time of this sign-in.
    const first = authorization('openid offline_access', { max_age: '3600' });
    const firstCallback = await browse(signedIn, origins.a, first.url);
    const fromA = await redeem(origins.a, firstCallback.location!, first.verifier);
    expect(fromA.status).toBe(200);
    const refreshFromA = fromA.body.refresh_token!;
    expect(refreshFromA).toBeTruthy();
    const authTime = decodeJwt(fromA.body.id_token!).auth_time;
    expect(authTime).toEqual(expect.any(Number));

    const halfway = new Browser();
    const second = authorization('openid');
    let loginPage = await halfway.request(at(origins.a, second.url));
    for (let i = 0; i < 5 && loginPage.location; i += 1) loginPage = await halfway.request(at(origins.a, loginPage.location));
    expect(loginPage.status).toBe(200);
    expect(loginPage.body).toContain('/login"');

    const keysBefore = await keysInStore();
    const sessionsBefore = await sql.query<{ id: string }>(`SELECT id FROM "${schema}".oidc_payloads WHERE model = 'Session' AND account_id = $1`, [user.id]);
    expect(sessionsBefore.rows).toHaveLength(1);
    const migrationsBefore = await sql.query<{ count: number }>(`SELECT count(*)::int AS count FROM "${schema}"._prisma_migrations`);

    // Traffic: three clients on each instance, each sending one request after another round the mix.
    const samples: Sample[] = [];
    let lastToken: string | undefined;
    let running = true;
    const workers = (['a', 'b'] as const).flatMap((target) => Array.from({ length: 3 }, async (_, worker) => {
      for (let i = worker; running; i += 1) {
        const sample = await send(target, KINDS[i % KINDS.length]!, lastToken);
        samples.push(sample);
        await sleep(sample.status === 0 ? 50 : 5);
      }
    }));
    // Issues one token at a time for the introspection requests to look at.
    const tokenSource = (async () => {
      while (running) {
        const reply = await token(origins.b, { grant_type: 'client_credentials' }, service).catch(() => undefined);
        if (reply?.body.access_token) lastToken = reply.body.access_token;
        await sleep(200);
      }
    })();

    await sleep(1_500);
    // Requests in flight on b at the moment a dies.
    const inFlight = Array.from({ length: 4 }, () => halfSentPost(ports.b, '/token', { grant_type: 'client_credentials' }, { authorization: basicAuthorization(service.clientId, service.clientSecret!) }));
    await sleep(200);
    const killedAt = Date.now();
    const exited = new Promise((resolve) => a!.child.once('exit', resolve));
    a!.child.kill('SIGKILL');
    await exited;
    const deadAt = Date.now();
    await sleep(200);
    for (const request of inFlight) request.finish();
    const inFlightAnswers = await Promise.all(inFlight.map((request) => request.answer));
    await sleep(2_000);
    running = false;
    await Promise.all([...workers, tokenSource]);

    // The survivor: every request, before, during and after the crash, got its normal answer.
    const show = (list: Sample[]) => list.map((s) => `${s.target} ${s.kind} @${s.started - killedAt}ms: ${s.status}`);
    const onB = samples.filter((s) => s.target === 'b');
    expect(onB.filter((s) => s.ended > killedAt + 1_000).length).toBeGreaterThan(20);
    expect(show(onB.filter((s) => s.status !== 200))).toEqual([]);
    for (const answer of inFlightAnswers) {
      expect(answer.status).toBe(200);
      expect((JSON.parse(answer.body) as { access_token?: string }).access_token).toBeTruthy();
    }
    // The dead instance: normal answers until the kill, then no answer at all (what a load
    // balancer sees and drains); never a 5xx.
    const onA = samples.filter((s) => s.target === 'a');
    expect(show(onA.filter((s) => s.ended < killedAt && s.status !== 200))).toEqual([]);
    expect(onA.filter((s) => s.started > deadAt).length).toBeGreaterThan(0);
    expect(show(onA.filter((s) => s.started > deadAt && s.status !== 0))).toEqual([]);
    expect(show(samples.filter((s) => s.status >= 500))).toEqual([]);
    expect(b!.child.exitCode).toBeNull();
    expect((await fetch(`${origins.b}/readyz`)).status).toBe(200);

    // Sessions survive: the browser signed in at a is still signed in at b (no login page;
    // same sign-in, same auth_time) …
    const silent = authorization('openid', { prompt: 'none', max_age: '3600' });
    const silentCallback = await browse(signedIn, origins.b, silent.url);
    expect(new URL(silentCallback.location!).searchParams.get('error')).toBeNull();
    const silentTokens = await redeem(origins.b, silentCallback.location!, silent.verifier);
    expect(silentTokens.status).toBe(200);
    expect(decodeJwt(silentTokens.body.id_token!)).toMatchObject({ sub: user.id, auth_time: authTime });
    // … the sign-in begun at a finishes at b, and its code redeems there once.
    const finished = await browse(halfway, origins.b, loginPage);
    const halfwayTokens = await redeem(origins.b, finished.location!, second.verifier);
    expect(halfwayTokens.status).toBe(200);
    expect(decodeJwt(halfwayTokens.body.id_token!).sub).toBe(user.id);
    expect((await redeem(origins.b, finished.location!, second.verifier)).status).toBe(400);
    // … and a's refresh token redeems at b.
    const refreshed = await token(origins.b, { grant_type: 'refresh_token', refresh_token: refreshFromA });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(refreshed.body.id_token!).sub).toBe(user.id);

    // The killed instance starts again: ready in under 10 s, with the migrations check passing.
    const restartStarted = Date.now();
    a = await startServerProcess({ ...env, PORT: String(ports.a) });
    let ready: { status: number; body: { status?: string; checks?: Record<string, string> } } | undefined;
    while (Date.now() - restartStarted < 15_000) {
      const response = await fetch(`${origins.a}/readyz`);
      ready = { status: response.status, body: (await response.json()) as { status?: string; checks?: Record<string, string> } };
      if (response.status === 200) break;
      await sleep(50);
    }
    const readyAfter = Date.now() - restartStarted;
    expect(ready).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', migrations: 'ok', keys: 'ok' } } });
    expect(readyAfter).toBeLessThan(10_000);

    // Nothing made twice: the same signing keys (the restart made none), each migration
    // recorded once and finished, the signed-in browser's session still the one row.
    expect(await keysInStore()).toEqual(keysBefore);
    const [jwksA = [], jwksB = []] = await Promise.all([origins.a, origins.b].map(async (origin) => ((await (await fetch(`${origin}/jwks`)).json()) as { keys: JWK[] }).keys));
    expect(jwksA).toEqual(jwksB);
    const migrations = await sql.query<{ migration_name: string; finished_at: Date | null; rolled_back_at: Date | null }>(`SELECT migration_name, finished_at, rolled_back_at FROM "${schema}"._prisma_migrations`);
    expect(migrations.rows).toHaveLength(migrationsBefore.rows[0]!.count);
    expect(new Set(migrations.rows.map((row) => row.migration_name)).size).toBe(migrations.rows.length);
    expect(migrations.rows.filter((row) => !row.finished_at || row.rolled_back_at)).toEqual([]);
    const sessionsAfter = await sql.query<{ id: string }>(`SELECT id FROM "${schema}".oidc_payloads WHERE model = 'Session' AND account_id = $1`, [user.id]);
    // The first browser's session and the one the halfway browser got at b.
    expect(sessionsAfter.rows.map((row) => row.id)).toEqual(expect.arrayContaining(sessionsBefore.rows.map((row) => row.id)));
    expect(sessionsAfter.rows).toHaveLength(2);

    // The restarted instance serves: its tokens are valid at b, it signs with the keys b
    // publishes, and the browser signed in before the crash is still signed in there.
    const fromRestarted = await token(origins.a, { grant_type: 'client_credentials' }, service);
    expect(fromRestarted.status).toBe(200);
    const introspected = await fetch(`${origins.b}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: fromRestarted.body.access_token! }),
    });
    expect(await introspected.json()).toMatchObject({ active: true });
    const again = authorization('openid', { prompt: 'none', max_age: '3600' });
    const againTokens = await redeem(origins.a, (await browse(signedIn, origins.a, again.url)).location!, again.verifier);
    expect(againTokens.status).toBe(200);
    expect(decodeJwt(againTokens.body.id_token!)).toMatchObject({ sub: user.id, auth_time: authTime });
    expect(jwksB.map((key) => key.kid)).toContain(decodeProtectedHeader(againTokens.body.id_token!).kid);
    // The refresh token a issued before it died, already redeemed at b, is refused at the
    // restarted a (redeemed exactly once); its reuse revokes the grant, so the successor b
    // issued stops working as well.
    const replayed = await token(origins.a, { grant_type: 'refresh_token', refresh_token: refreshFromA });
    expect(replayed).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
    const successor = await token(origins.b, { grant_type: 'refresh_token', refresh_token: refreshed.body.refresh_token! });
    expect(successor).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });

    // The survivor logged no error through all of it.
    const errors = b!.output().split('\n').filter((line) => /"level":(50|60)\b/.test(line));
    expect(errors).toEqual([]);
    process.stdout.write(`R6: ${onB.length} requests on the survivor, ${onA.length} on the killed instance; restarted instance ready after ${readyAfter} ms\n`);
  }, 60_000);
});
