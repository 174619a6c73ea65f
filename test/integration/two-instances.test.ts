// Two Gatehouse processes on one PostgreSQL, no sticky sessions: any instance serves any
// step. PGlite is a single-process store, so this file runs only against PostgreSQL
// (TEST_DATABASE_URL, as in CI).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { startApp, startTogether, usingPostgres, type TestApp } from '../helpers/app.js';
import { Browser, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn, submitLogin, REDIRECT_URI } from '../helpers/oidc.js';

const describePostgres = usingPostgres ? describe : describe.skip;

describePostgres('two instances on one PostgreSQL', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await startApp();
    b = await startApp({ shareStoreWith: a, env: { ISSUER: a.issuer } });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.destroy();
  });

  /** The same path on instance B (both present A's issuer, as behind one load balancer). */
  function bUrl(url: string): string {
    const target = new URL(url);
    return `${b.origin}${target.pathname}${target.search}`;
  }

  test('when a login starts on A and finishes on B, then the code redeems and the user is signed in', async () => {
    const user = await createUser(a);
    const client = await registerClient(a, { first_party: true });
    const config = await relyingParty(a, client);
    const browser = new Browser();
    const request = await authRequest(config);

    const start = await browser.request(request.url.toString());
    expect(start.status).toBe(303);
    const loginPage = await browser.request(bUrl(start.location!));
    expect(loginPage.status).toBe(200);
    let hop = await submitLogin(browser, { ...b, issuer: b.origin }, loginPage, user.email);
    // Follow the remaining hops on B until the client's redirect URI.
    for (let i = 0; i < 5 && hop.location && !hop.location.startsWith(REDIRECT_URI); i += 1) hop = await browser.request(bUrl(hop.location));
    expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);

    const tokens = await exchange(config, new URL(hop.location!), request);
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  test('when a token is issued by A, then B introspects and revokes it, and A sees the revocation', async () => {
    const service = await registerClient(a, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const onA = await relyingParty(a, service);
    const tokens = await oidc.clientCredentialsGrant(onA, {});
    const basic = `Basic ${Buffer.from(`${service.clientId}:${service.clientSecret}`).toString('base64')}`;
    const introspect = (origin: string) =>
      fetch(`${origin}/token/introspection`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${tokens.access_token}` }).then((r) => r.json());
    expect(await introspect(b.origin)).toMatchObject({ active: true });
    const revoked = await fetch(`${b.origin}/token/revocation`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${tokens.access_token}` });
    expect(revoked.status).toBe(200);
    expect(await introspect(a.issuer)).toEqual({ active: false });
  });

  test('when 20 redemptions of one code hit both instances at once, then at most one succeeds', async () => {
    const user = await createUser(a);
    const client = await registerClient(a, { first_party: true });
    const config = await relyingParty(a, client);
    const request = await authRequest(config);
    const callback = await signIn(new Browser(), a, request, user.email);
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: REDIRECT_URI,
      code_verifier: request.verifier,
    }).toString();
    const basic = `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`;
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${i % 2 ? b.origin : a.issuer}/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(1);
    expect(statuses.filter((status) => status !== 200).every((status) => status === 400)).toBe(true);
  });

  test('when two instances start on an empty store at the same moment, then they create and publish one key set', async () => {
    const [one, two] = await startTogether(2);
    try {
      const [jwksOne, jwksTwo] = await Promise.all([one!, two!].map((instance) => fetch(`${instance.origin}/jwks`).then((r) => r.json())));
      // A current and a next key per algorithm, made once for both instances.
      expect(jwksOne.keys).toHaveLength(4);
      expect(jwksTwo).toEqual(jwksOne);
      const stored = await one!.db.prisma.signingKey.findMany({ select: { alg: true, status: true } });
      expect(stored.map((key) => `${key.alg}:${key.status}`).sort()).toEqual(['ES256:current', 'ES256:next', 'RS256:current', 'RS256:next']);
    } finally {
      await two!.stop();
      await one!.destroy();
    }
  });

  test('when two instances migrate a fresh schema at the same moment, then each migration is applied once', async () => {
    const url = new URL(process.env.TEST_DATABASE_URL!);
    url.searchParams.set('schema', `m_${Date.now().toString(36)}`);
    const [one, two] = await Promise.all([openDatabase({ databaseUrl: url.toString(), dataDir: '' }), openDatabase({ databaseUrl: url.toString(), dataDir: '' })]);
    try {
      const results = await Promise.all([migrate(one), migrate(two)]);
      expect(results.flatMap((result) => result.applied)).toHaveLength(results[0]!.total);
      const rows = await one.prisma.$queryRawUnsafe<{ count: bigint }[]>('SELECT count(*)::int AS count FROM "_prisma_migrations"');
      expect(Number(rows[0]!.count)).toBe(results[0]!.total);
    } finally {
      await one.prisma.$executeRawUnsafe(`DROP SCHEMA "${url.searchParams.get('schema')}" CASCADE`);
      await Promise.all([one.close(), two.close()]);
    }
  });
});
