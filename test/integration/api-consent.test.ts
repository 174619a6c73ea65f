// A user's login for a registered API: the consent page explains the API's scopes in the
// API's own words, and the access token that comes back is the API's JWT.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, authRequest, createUser, exchange, registerClient, relyingParty, submitConsent, submitLogin } from '../helpers/oidc.js';

const API = 'https://ledger.example.com';

describe('consent for a registered API', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp();
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when a client asks a user for API scopes, then the consent page describes them and the token is for that API', async () => {
    const admin = await adminToken(app);
    expect((await adminRequest(app, admin, 'POST', '/apis', {
      identifier: API,
      name: 'Ledger',
      scopes: [{ name: 'ledger:read', description: 'Read your ledger entries' }, { name: 'ledger:export' }],
      access_token_ttl: 300,
    })).status).toBe(201);
    const client = await registerClient(app, { api_scopes: { [API]: ['ledger:read', 'ledger:export'] } });
    const user = await createUser(app);
    const config = await relyingParty(app, client);
    const request = await authRequest(config, { scope: 'openid ledger:read ledger:export', resource: API });

    const browser = new Browser();
    let hop = await browser.follow(request.url.toString(), app.issuer);
    hop = await submitLogin(browser, app, hop, user.email);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('Read your ledger entries');
    // A scope without a description is named, with the API it belongs to.
    expect(hop.body).toContain('Use the “ledger:export” permission of Ledger');
    hop = await submitConsent(browser, app, hop);

    const tokens = await exchange(config, new URL(hop.location!), request);
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ aud: API, sub: user.id, client_id: client.clientId, scope: 'ledger:read ledger:export' });
    expect(claims.exp! - claims.iat!).toBe(300);
  });
});
