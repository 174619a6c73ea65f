import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startApp, type TestApp } from '../helpers/app.js';
import {
  Browser, POST_LOGOUT_URI, authRequest, createUser, ensureRoles, exchange, oidc, registerClient, relyingParty, signIn,
} from '../helpers/oidc.js';

describe('authorization code flow with PKCE, end to end', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when a user signs in and consents, then the client gets tokens, userinfo, rotation, revocation and logout', async () => {
    await ensureRoles(app, ['reader']);
    const user = await createUser(app, { claims: { name: 'Ada Lovelace', given_name: 'Ada' }, roles: ['reader'] });
    const client = await registerClient(app, { scope: 'openid profile email offline_access roles' });
    const config = await relyingParty(app, client);
    const browser = new Browser();

    const request = await authRequest(config, { scope: 'openid profile email offline_access roles', prompt: 'consent' });
    const callback = await signIn(browser, app, request, user.email);
    expect(callback.searchParams.get('iss')).toBe(app.issuer);
    expect(callback.searchParams.get('state')).toBe(request.state);

    const tokens = await exchange(config, callback, request);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    expect(claims.email).toBe(user.email);
    expect(claims.name).toBe('Ada Lovelace');
    expect(claims.roles).toEqual(['reader']);
    expect(tokens.refresh_token).toBeTruthy();

    // The ID token verifies offline against the live JWKS, signed RS256 by default.
    const jwks = createRemoteJWKSet(new URL(`${app.issuer}/jwks`));
    const verified = await jwtVerify(tokens.id_token!, jwks, { issuer: app.issuer, audience: client.clientId });
    expect(verified.payload.nonce).toBe(request.nonce);
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');

    // The access token carries the user's roles for the APIs that introspect it.
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, sub: user.id, roles: ['reader'] });

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(userinfo.email).toBe(user.email);
    expect(userinfo.given_name).toBe('Ada');

    // Refresh rotates; the old refresh token is refused afterwards.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // Reuse revoked the grant: the newest tokens are dead too (RFC 9700 §4.14.2).
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const afterReuse = await oidc.tokenIntrospection(config, refreshed.access_token);
    expect(afterReuse).toEqual({ active: false });

    // A fresh login (consent remembered, so no consent page), then revoke and introspect.
    const again = await authRequest(config);
    const tokens2 = await exchange(config, await signIn(browser, app, again, user.email, { consent: false }), again);
    expect((await oidc.tokenIntrospection(config, tokens2.access_token)).active).toBe(true);
    await oidc.tokenRevocation(config, tokens2.access_token);
    expect(await oidc.tokenIntrospection(config, tokens2.access_token)).toEqual({ active: false });

    // RP-initiated logout returns to the registered URI with the same state.
    const logoutUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens2.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: 'bye-state',
    });
    const confirm = await browser.follow(logoutUrl.toString(), app.issuer);
    expect(confirm.status).toBe(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    const action = /action="([^"]+)"/.exec(confirm.body)![1]!;
    const done = await browser.follow(new URL(action, app.issuer).toString(), app.issuer, { form: { xsrf, logout: 'yes' } });
    expect(done.location).toBe(`${POST_LOGOUT_URI}?state=bye-state`);

    // The session is gone: a silent request now needs a login.
    const silent = await authRequest(config, { prompt: 'none' });
    const silentHop = await browser.follow(silent.url.toString(), app.issuer);
    expect(new URL(silentHop.location!).searchParams.get('error')).toBe('login_required');
  });
});
