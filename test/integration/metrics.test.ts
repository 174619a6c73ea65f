import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sqlOperation } from '../../src/db/query-timing.js';
import { routeLabel } from '../../src/http/metrics.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, authRequest, createUser, oidc, registerClient, relyingParty, submitLogin } from '../helpers/oidc.js';

const TOKEN = 'metrics-token-for-tests-0123456789';

describe('Prometheus metrics', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp({ env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await app.destroy();
  });

  const scrape = async () => {
    const response = await fetch(`${app.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  };
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };

  test('when no or a wrong token is presented, then /metrics answers 401 with a Bearer challenge', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${TOKEN}`]) {
      const response = await fetch(`${app.origin}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });

  test('when flows run, then the token, login and request counters move', async () => {
    const before = await scrape();
    const service = await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    await oidc.clientCredentialsGrant(await relyingParty(app, service), {});

    const user = await createUser(app);
    const browser = new Browser();
    const config = await relyingParty(app, await registerClient(app, { first_party: true }));
    const page = await browser.follow((await authRequest(config)).url.toString(), app.issuer);
    await submitLogin(browser, app, page, user.email, 'not the password');
    await submitLogin(browser, app, page, user.email);

    const after = await scrape();
    const delta = (series: string) => value(after, series) - value(before, series);
    expect(delta('gatehouse_tokens_issued_total{grant_type="client_credentials"}')).toBe(1);
    expect(delta('gatehouse_logins_total{result="failure"}')).toBe(1);
    expect(delta('gatehouse_logins_total{result="success"}')).toBe(1);
    expect(delta('gatehouse_security_events_total{action="login.failure"}')).toBe(1);
    expect(delta('gatehouse_security_events_total{action="login.success"}')).toBe(1);
    expect(delta('gatehouse_http_requests_total{method="POST",route="/token",status="200"}')).toBe(1);
    expect(delta('gatehouse_http_requests_total{method="POST",route="/interaction/:uid/login",status="303"}')).toBe(1);
    expect(after).toMatch(/^gatehouse_http_request_duration_seconds_bucket\{/m);
    expect(after).toMatch(/^gatehouse_process_cpu_seconds_total /m);
    // Interaction ids never become label values.
    expect(after).not.toMatch(/route="\/interaction\/[A-Za-z0-9_-]{20,}/);
  });

  test('when a token request runs, then its SQL statements are timed by verb in the query histogram', async () => {
    const service = await relyingParty(app, await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] }));
    const before = await scrape();
    // The client lookup reads (select); the issued token is stored (insert).
    await oidc.clientCredentialsGrant(service, {});
    const after = await scrape();
    const delta = (series: string) => value(after, series) - value(before, series);

    expect(after).toMatch(/^# TYPE gatehouse_db_query_duration_seconds histogram$/m);
    expect(delta('gatehouse_db_query_duration_seconds_count{operation="select",outcome="ok"}')).toBeGreaterThanOrEqual(1);
    expect(delta('gatehouse_db_query_duration_seconds_count{operation="insert",outcome="ok"}')).toBeGreaterThanOrEqual(1);
    expect(delta('gatehouse_db_query_duration_seconds_sum{operation="select",outcome="ok"}')).toBeGreaterThan(0);
    // Buckets are cumulative up to +Inf, which equals the count.
    expect(value(after, 'gatehouse_db_query_duration_seconds_bucket{le="+Inf",operation="select",outcome="ok"}'))
      .toBe(value(after, 'gatehouse_db_query_duration_seconds_count{operation="select",outcome="ok"}'));
    expect(after).toMatch(/^gatehouse_db_query_duration_seconds_bucket\{le="0\.0005",operation="select",outcome="ok"\} /m);
    expect(after).not.toMatch(/gatehouse_db_query_duration_seconds_count\{[^}]*outcome="error"/);
  });

  test('when a statement fails, then it is counted with outcome="error"', async () => {
    const errors = async () => value(await scrape(), 'gatehouse_db_query_duration_seconds_count{operation="select",outcome="error"}');
    const before = await errors();
    await expect(app.db.prisma.$queryRawUnsafe('SELECT * FROM no_such_table')).rejects.toThrow();
    expect(await errors()).toBe(before + 1);
  });

  test('when SQL is classified, then only its leading verb counts', () => {
    expect(sqlOperation('SELECT 1')).toBe('select');
    expect(sqlOperation('\n      select id FROM users')).toBe('select');
    expect(sqlOperation('(SELECT 1) UNION (SELECT 2)')).toBe('select');
    expect(sqlOperation('INSERT INTO "public"."clients" ...')).toBe('insert');
    expect(sqlOperation('\tUpdate users SET x = 1')).toBe('update');
    expect(sqlOperation('DELETE FROM user_tokens')).toBe('delete');
    for (const sql of ['BEGIN', 'COMMIT', 'ROLLBACK', 'SAVEPOINT s1', 'RELEASE SAVEPOINT s1', 'START TRANSACTION']) {
      expect(sqlOperation(sql)).toBe('transaction');
    }
    // A CTE's verb comes later; a longer word is not the verb; nothing is not a verb.
    expect(sqlOperation('WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x')).toBe('other');
    expect(sqlOperation('selection')).toBe('other');
    expect(sqlOperation('select_x')).toBe('other');
    expect(sqlOperation('SET search_path = x')).toBe('other');
    expect(sqlOperation('')).toBe('other');
  });

  test('when paths carry ids, then they are labelled by pattern', () => {
    expect(routeLabel('/interaction/abc123/login')).toBe('/interaction/:uid/login');
    expect(routeLabel('/auth/xyz')).toBe('/auth/:uid');
    expect(routeLabel('/token')).toBe('/token');
    expect(routeLabel('/wp-admin/setup.php')).toBe('other');
  });
});
