// Checklist R1/I6: PostgreSQL is stopped for a few seconds while a steady mix of requests
// runs (client-credentials tokens, introspection, the authorization endpoint that opens a
// sign-in page, discovery, JWKS), then started again. While it is down, database-backed
// requests answer 503 with Retry-After in bounded time and the in-memory endpoints keep
// answering; after it is back the error rate is 0 within 10 s, with no restart, no lost
// committed token and no unhandled rejection.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createAdminClient, type AdminCredentials } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { basicHeader } from '../helpers/http.js';
import { authRequest, registerClient, relyingParty } from '../helpers/oidc.js';
import { createPrivatePostgres, postgresBinaries, type PrivatePostgres } from '../helpers/private-postgres.js';
import { sleep } from '../helpers/security.js';
import { steadyTraffic, type Sample as TrafficSample } from '../helpers/traffic-samples.js';

const bin = postgresBinaries();
const describeWithPostgres = bin ? describe : describe.skip;

type Kind = 'token' | 'introspection' | 'authorize' | 'discovery' | 'jwks';
const DATABASE_BACKED: readonly Kind[] = ['token', 'introspection', 'authorize'];

type Sample = TrafficSample<Kind>;

describeWithPostgres('R1 when PostgreSQL is restarted under steady traffic', () => {
  let postgres: PrivatePostgres;
  let app: TestApp;
  let service: AdminCredentials;
  let authorizeUrl: string;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    postgres = await createPrivatePostgres(bin!);
    app = await startApp({ env: { DATABASE_URL: postgres.url, CLIENT_CACHE_TTL: '0' } });
    service = await createAdminClient(app, 'none');
    const rp = await registerClient(app, { client_name: 'Outage RP' });
    authorizeUrl = (await authRequest(await relyingParty(app, rp))).url.toString();
  }, 120_000);
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await app?.destroy().catch(() => {});
    await postgres?.destroy();
  });

  const expectedWhenUp: Record<Kind, number[]> = { token: [200], introspection: [200], authorize: [302, 303], discovery: [200], jwks: [200] };
  const kinds: Kind[] = ['token', 'introspection', 'authorize', 'discovery', 'jwks'];

  test('then database-backed requests get a fast 503 while it is down, memory-backed ones 200, and the errors stop within 10 s of its return with every earlier token intact', async () => {
    const samples: Sample[] = [];
    const issued: string[] = [];
    // Four clients, each sending one request after another, round the mix.
    const traffic = steadyTraffic({ origin: app.origin, client: service, authorizeUrl }, { clients: 4, kinds, pauseMs: 20 }, samples, issued);

    await sleep(2_000);
    const before = samples.length;
    const tokensBefore = [...issued];
    expect(tokensBefore.length).toBeGreaterThan(0);

    await postgres.stop();
    const down = Date.now();
    await sleep(1_000);
    const ready = await fetch(`${app.origin}/readyz`);
    const readyRetryAfter = ready.headers.get('retry-after');
    const health = await fetch(`${app.origin}/healthz`);
    await sleep(3_000);
    const upAgain = Date.now();
    await postgres.start();
    const back = Date.now();
    await sleep(11_000);
    await traffic.stop();

    const show = (list: Sample[]) => list.map((s) => `${s.kind}@${s.started - down}ms:${s.status}/${s.ms}ms`).join(', ');
    // Before the outage: all fine.
    const preOutage = samples.slice(0, before).filter((s) => s.started + s.ms < down - 500);
    expect(show(preOutage.filter((s) => !expectedWhenUp[s.kind].includes(s.status)))).toBe('');

    // While down (requests started after the stop and finished before the start began).
    const during = samples.filter((s) => s.started >= down && s.started + s.ms <= upAgain);
    expect(during.filter((s) => DATABASE_BACKED.includes(s.kind)).length).toBeGreaterThan(3);
    expect(show(during.filter((s) => DATABASE_BACKED.includes(s.kind) && (s.status !== 503 || !s.retryAfter)))).toBe('');
    // The sign-in page's error page stays a page; the JSON endpoints answer JSON.
    expect(show(during.filter((s) => s.kind === 'authorize' && !s.contentType?.startsWith('text/html')))).toBe('');
    expect(show(during.filter((s) => (s.kind === 'token' || s.kind === 'introspection') && !s.contentType?.startsWith('application/json')))).toBe('');
    expect(show(during.filter((s) => !DATABASE_BACKED.includes(s.kind) && s.status !== 200))).toBe('');
    expect(ready.status).toBe(503);
    expect(readyRetryAfter).toBeTruthy();
    expect(health.status).toBe(200);
    // No request hung beyond the bounded timeout, at any time.
    expect(show(samples.filter((s) => s.ms > 6_000))).toBe('');
    expect(samples.filter((s) => s.status === 0)).toEqual([]);

    // Back: from 10 s after the start, every request succeeds (no restart of the app).
    const recovered = samples.filter((s) => s.started >= back + 10_000);
    expect(recovered.length).toBeGreaterThan(0);
    const lastFailure = samples.filter((s) => s.started >= back && !expectedWhenUp[s.kind].includes(s.status));
    expect(show(recovered.filter((s) => !expectedWhenUp[s.kind].includes(s.status)))).toBe('');
    expect(lastFailure.every((s) => s.started < back + 10_000)).toBe(true);

    // Nothing committed before the outage was lost.
    for (const token of tokensBefore) {
      const reply = await fetch(`${app.origin}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basicHeader(service.clientId, service.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }),
      });
      expect(reply.status).toBe(200);
      expect(((await reply.json()) as { active?: boolean }).active).toBe(true);
    }
    expect((await fetch(`${app.origin}/readyz`)).status).toBe(200);
    expect(rejections).toEqual([]);
  }, 60_000);
});
