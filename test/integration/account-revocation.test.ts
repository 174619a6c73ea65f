// B12: a password change or disabling a user ends their sessions and revokes their tokens.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, TEST_ACTOR, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn } from '../helpers/oidc.js';

describe('B12 password change and disabling revoke everything a user holds', () => {
  let app: TestApp;
  let config: oidc.Configuration;

  beforeAll(async () => {
    app = await startApp();
    const client = await registerClient(app, { first_party: true, scope: 'openid email offline_access' });
    config = await relyingParty(app, client);
  });
  afterAll(async () => {
    await app.destroy();
  });

  const request = (params: Record<string, string> = {}) => authRequest(config, { scope: 'openid email', ...params });

  async function signedInUser() {
    const user = await createUser(app);
    const browser = new Browser();
    const first = await request({ scope: 'openid email offline_access', prompt: 'consent' });
    const tokens = await exchange(config, await signIn(browser, app, first, user.email), first);
    expect(tokens.refresh_token).toBeTruthy();
    return { user, browser, tokens };
  }

  async function expectSignedOutEverywhere(browser: Browser, tokens: oidc.TokenEndpointResponse) {
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
    const silent = await request({ prompt: 'none' });
    const hop = await browser.follow(silent.url.toString(), app.issuer);
    expect(new URL(hop.location!).searchParams.get('error')).toBe('login_required');
  }

  test('when a user gets a new password, then old sessions, refresh and access tokens stop working and the new password signs in', async () => {
    const { user, browser, tokens } = await signedInUser();
    await app.app.services.accounts.setPassword(user.email, { password: 'a brand new passphrase' }, TEST_ACTOR);
    await expectSignedOutEverywhere(browser, tokens);
    await expect(signIn(new Browser(), app, await request(), user.email)).rejects.toThrow(/did not return to the client \(status 400\)/);
    const callback = await signIn(new Browser(), app, await request(), user.email, { password: 'a brand new passphrase' });
    expect(callback.searchParams.get('code')).toBeTruthy();
  });

  test('when a user is disabled, then everything they hold ends and they cannot sign in until enabled again', async () => {
    const { user, browser, tokens } = await signedInUser();
    await app.app.services.accounts.setDisabled(user.id, true, TEST_ACTOR);
    await expectSignedOutEverywhere(browser, tokens);
    await expect(signIn(new Browser(), app, await request(), user.email)).rejects.toThrow(/status 400/);
    await app.app.services.accounts.setDisabled(user.id, false, TEST_ACTOR);
    expect((await signIn(new Browser(), app, await request(), user.email)).searchParams.get('code')).toBeTruthy();
  });
});
