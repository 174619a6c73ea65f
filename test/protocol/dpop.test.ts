// DPoP (RFC 9449) at Gatehouse's own endpoints, driven by openid-client's DPoP support as a
// real client uses it: tokens bound to the client's key (cnf.jkt, token_type DPoP),
// userinfo enforcing the proof, a public client's refresh token bound to the key,
// clients registered with dpop_bound_access_tokens, and checklist D5's forged proofs.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK } from 'jose';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { forgedProofs, makeProof, proofKey, type ProofKey } from '../helpers/dpop.js';
import { authRequest, Browser, createUser, oidc, registerClient, relyingParty, signIn, type RegisteredClient } from '../helpers/oidc.js';

const API = 'https://orders.example.com';

describe('DPoP (RFC 9449)', () => {
  let app: TestApp;
  let admin: string;
  let publicClient: RegisteredClient;
  let publicConfig: oidc.Configuration;
  let user: { id: string; email: string };
  let key: CryptoKeyPair;
  let keyJkt: string;
  let tokens: { access_token: string; refresh_token?: string | undefined; token_type: string };
  let userinfo: string;

  beforeAll(async () => {
    app = await startApp();
    admin = await adminToken(app);
    expect((await adminRequest(app, admin, 'POST', '/apis', { identifier: API, scopes: [{ name: 'orders:read' }] })).status).toBe(201);
    publicClient = await registerClient(app, {
      client_name: 'DPoP SPA',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      api_scopes: { [API]: ['orders:read'] },
    });
    user = await createUser(app);
    publicConfig = await relyingParty(app, publicClient);
    userinfo = `${app.origin}/me`;

    key = await oidc.randomDPoPKeyPair('ES256');
    keyJkt = await calculateJwkThumbprint(await exportJWK(key.publicKey));
    const request = await authRequest(publicConfig, { scope: 'openid offline_access', prompt: 'consent' });
    const callback = await signIn(new Browser(), app, request, user.email);
    const response = await oidc.authorizationCodeGrant(
      publicConfig, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce },
      undefined, { DPoP: oidc.getDPoPHandle(publicConfig, key) },
    );
    tokens = { access_token: response.access_token, refresh_token: response.refresh_token, token_type: response.token_type };
  });
  afterAll(async () => {
    await app.destroy();
  });

  /** userinfo with a hand-made proof (or none) and the given scheme. */
  async function callUserinfo(scheme: 'DPoP' | 'Bearer', proof?: string) {
    const response = await fetch(userinfo, {
      headers: { authorization: `${scheme} ${tokens.access_token}`, ...(proof ? { dpop: proof } : {}) },
    });
    return { status: response.status, challenge: response.headers.get('www-authenticate'), body: await response.json().catch(() => undefined) as any };
  }

  test('when discovery is read, then it advertises the DPoP proof algorithms', async () => {
    const metadata = await (await fetch(`${app.origin}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
  });

  test('when a client redeems its code with a DPoP proof, then the access token is DPoP-bound and a refresh token is issued', () => {
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.refresh_token).toEqual(expect.any(String));
  });

  test('when the bound token is used at userinfo with a proof by its key, then the claims come back', async () => {
    const claims = await oidc.fetchUserInfo(publicConfig, tokens.access_token, user.id, { DPoP: oidc.getDPoPHandle(publicConfig, key) });
    expect(claims.sub).toBe(user.id);
  });

  test('when the bound token is sent with the DPoP scheme but no proof, then 400 invalid_request and no claims', async () => {
    const response = await callUserinfo('DPoP');
    expect({ status: response.status, error: response.body?.error, sub: response.body?.sub }).toEqual({ status: 400, error: 'invalid_request', sub: undefined });
  });

  test('when the bound token comes with a proof signed by another key, then 401 invalid_token', async () => {
    const other = await proofKey();
    const response = await callUserinfo('DPoP', await makeProof(other, { htm: 'GET', htu: userinfo, accessToken: tokens.access_token }));
    expect({ status: response.status, error: response.body?.error }).toEqual({ status: 401, error: 'invalid_token' });
  });

  test('when the bound token is sent as a plain Bearer token, then 401', async () => {
    const response = await callUserinfo('Bearer');
    expect(response.status).toBe(401);
    expect(response.body?.error).toBe('invalid_token');
  });

  test('when a public client refreshes without a proof, then invalid_grant; with a proof by the bound key, then a new bound token', async () => {
    const { refresh_token: refreshToken } = tokens;
    await expect(oidc.refreshTokenGrant(publicConfig, refreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const otherKey = await oidc.randomDPoPKeyPair('ES256');
    await expect(oidc.refreshTokenGrant(publicConfig, refreshToken!, undefined, { DPoP: oidc.getDPoPHandle(publicConfig, otherKey) }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
    const refreshed = await oidc.refreshTokenGrant(publicConfig, refreshToken!, undefined, { DPoP: oidc.getDPoPHandle(publicConfig, key) });
    expect(refreshed.token_type.toLowerCase()).toBe('dpop');
    const claims = await oidc.fetchUserInfo(publicConfig, refreshed.access_token, user.id, { DPoP: oidc.getDPoPHandle(publicConfig, key) });
    expect(claims.sub).toBe(user.id);
  });

  describe('a client registered with dpop_bound_access_tokens', () => {
    let bound: RegisteredClient;
    let boundConfig: oidc.Configuration;

    beforeAll(async () => {
      const created = await adminRequest(app, admin, 'POST', '/clients', {
        client_name: 'DPoP-only worker',
        grant_types: ['client_credentials'],
        api_scopes: { [API]: ['orders:read'] },
        dpop_bound_access_tokens: true,
      });
      expect(created.status).toBe(201);
      bound = { clientId: created.body.client.client_id, clientSecret: created.body.client_secret };
      boundConfig = await relyingParty(app, bound);
    });

    test('when it is read through the admin API, then dpop_bound_access_tokens is true; a PATCH turns it off and on', async () => {
      expect((await adminRequest(app, admin, 'GET', `/clients/${bound.clientId}`)).body.dpop_bound_access_tokens).toBe(true);
      const off = await adminRequest(app, admin, 'PATCH', `/clients/${bound.clientId}`, { dpop_bound_access_tokens: false });
      expect(off.body.client.dpop_bound_access_tokens).toBe(false);
      expect((await oidc.clientCredentialsGrant(boundConfig, { resource: API })).token_type.toLowerCase()).toBe('bearer');
      const on = await adminRequest(app, admin, 'PATCH', `/clients/${bound.clientId}`, { dpop_bound_access_tokens: true });
      expect(on.body.client.dpop_bound_access_tokens).toBe(true);
    });

    test('when it asks for a token without a DPoP proof, then invalid_grant', async () => {
      await expect(oidc.clientCredentialsGrant(boundConfig, { resource: API })).rejects.toMatchObject({ error: 'invalid_grant' });
    });

    test('when it asks with a proof, then the API\'s JWT access token carries cnf.jkt of the proof key', async () => {
      const workerKey = await oidc.randomDPoPKeyPair('ES256');
      const response = await oidc.clientCredentialsGrant(boundConfig, { resource: API }, { DPoP: oidc.getDPoPHandle(boundConfig, workerKey) });
      expect(response.token_type.toLowerCase()).toBe('dpop');
      expect(decodeProtectedHeader(response.access_token).typ).toBe('at+jwt');
      expect(decodeJwt(response.access_token)).toEqual(expect.objectContaining({
        aud: API,
        cnf: { jkt: await calculateJwkThumbprint(await exportJWK(workerKey.publicKey)) },
      }));
    });
  });

  test('when userinfo gets a hand-made proof by the bound key, then 200 (the refusals above differ from it in one thing only)', async () => {
    const ownProofKey: ProofKey = { privateKey: key.privateKey, publicKey: key.publicKey, publicJwk: await exportJWK(key.publicKey) };
    expect(await calculateJwkThumbprint(ownProofKey.publicJwk)).toBe(keyJkt);
    const response = await callUserinfo('DPoP', await makeProof(ownProofKey, { htm: 'GET', htu: userinfo, accessToken: tokens.access_token }));
    expect(response.status).toBe(200);
  });

  describe('D5: forged DPoP proofs are refused with 4xx, never 5xx', () => {
    test('when each forged proof is sent to the token endpoint and to userinfo, then every answer is 4xx', async () => {
      const forgeKey = await proofKey();
      const tokenEndpoint = `${app.origin}/token`;
      const atToken = await forgedProofs(forgeKey, { htm: 'POST', htu: tokenEndpoint });
      const atUserinfo = await forgedProofs(forgeKey, { htm: 'GET', htu: userinfo, accessToken: tokens.access_token });
      const results: Record<string, number[]> = {};
      for (const [name, proof] of Object.entries(atToken)) {
        const token = await fetch(tokenEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? 'x', client_id: publicClient.clientId }),
        });
        const me = await callUserinfo('DPoP', atUserinfo[name]);
        results[name] = [token.status, me.status];
      }
      for (const [name, [tokenStatus, userinfoStatus]] of Object.entries(results)) {
        expect({ name, tokenStatus: tokenStatus! >= 400 && tokenStatus! < 500, userinfoStatus: userinfoStatus! >= 400 && userinfoStatus! < 500 })
          .toEqual({ name, tokenStatus: true, userinfoStatus: true });
      }
    });
  });
});
