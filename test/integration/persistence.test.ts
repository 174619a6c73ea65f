import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, authRequest, createUser, ensureRoles, exchange, oidc, registerClient, relyingParty, signIn } from '../helpers/oidc.js';

describe('state survives restarts and is stored safely', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when the app restarts between login and token exchange, then the code still redeems and the session is kept', async () => {
    const user = await createUser(app);
    const client = await registerClient(app, { first_party: true });
    const browser = new Browser();
    let config = await relyingParty(app, client);
    const request = await authRequest(config);
    const callback = await signIn(browser, app, request, user.email);

    app = await app.restart();
    config = await relyingParty(app, client);
    const tokens = await exchange(config, callback, request);
    expect(tokens.claims()?.sub).toBe(user.id);

    // The browser session from before the restart still signs in silently.
    const silent = await authRequest(config, { prompt: 'none' });
    const hop = await browser.follow(silent.url.toString(), app.issuer);
    expect(new URL(hop.location!).searchParams.get('code')).toBeTruthy();
  });

  test('when a full flow has run, then a dump of the database holds no token, code, session, secret or private key', async () => {
    const user = await createUser(app);
    const client = await registerClient(app, { scope: 'openid email offline_access', first_party: true });
    const config = await relyingParty(app, client);
    const browser = new Browser();
    const request = await authRequest(config, { scope: 'openid email offline_access', prompt: 'consent' });
    const callback = await signIn(browser, app, request, user.email);
    const code = callback.searchParams.get('code')!;
    const tokens = await exchange(config, callback, request);
    const sessionCookie = (await browser.jar.getCookies(app.issuer)).find((cookie) => cookie.key === '_session')!.value;

    const tables = await Promise.all([
      app.db.prisma.oidcPayload.findMany(),
      app.db.prisma.client.findMany(),
      app.db.prisma.signingKey.findMany(),
      app.db.prisma.user.findMany(),
    ]);
    const dump = JSON.stringify(tables);
    for (const secret of [code, tokens.access_token, tokens.refresh_token!, sessionCookie, client.clientSecret!]) {
      expect(secret.length).toBeGreaterThan(20);
      expect(dump).not.toContain(secret);
    }
    expect(dump).not.toMatch(/"d":"/);
    expect(dump).not.toContain('PRIVATE KEY');
  });

  test('when a service uses client credentials, then it gets an access token only, active at introspection with its roles', async () => {
    await ensureRoles(app, ['billing:write']);
    const service = await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [], scope: 'roles', roles: ['billing:write'] });
    const config = await relyingParty(app, service);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'roles' });
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.id_token).toBeUndefined();
    const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspection).toMatchObject({ active: true, client_id: service.clientId, scope: 'roles', roles: ['billing:write'] });
  });
});
