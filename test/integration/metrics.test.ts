import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
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

  test('when paths carry ids, then they are labelled by pattern', () => {
    expect(routeLabel('/interaction/abc123/login')).toBe('/interaction/:uid/login');
    expect(routeLabel('/auth/xyz')).toBe('/auth/:uid');
    expect(routeLabel('/token')).toBe('/token');
    expect(routeLabel('/wp-admin/setup.php')).toBe('other');
  });
});
