// Token exchange (RFC 8693) for service-to-service delegation, over HTTP against the real
// app with openid-client's generic grant request as the calling service. A user signs in
// to a web app that calls the Orders API; the Orders service exchanges the user's token
// for one to the Inventory API, which may exchange it again for the Warehouse API.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createVerifier } from 'gatehouse/verify';
import { adminRequest, adminToken, basicAuthorization, userTokens } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { createUser, oidc, registerClient, relyingParty, type RegisteredClient } from '../helpers/oidc.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const ORDERS = 'https://orders.example.com';
const INVENTORY = 'https://inventory.example.com';
const WAREHOUSE = 'https://warehouse.example.com';
const ORDERS_TTL = 600;
const INVENTORY_TTL = 3600;

describe('token exchange (RFC 8693)', () => {
  let app: TestApp;
  let admin: string;
  let web: RegisteredClient;
  let ordersService: RegisteredClient;
  let inventoryService: RegisteredClient;
  let noPolicy: RegisteredClient;
  let user: { id: string; email: string };
  /** The user's JWT access token for the Orders API, obtained by the web app. */
  let ordersToken: string;

  beforeAll(async () => {
    app = await startApp();
    admin = await adminToken(app);
    for (const [identifier, scopes, ttl] of [
      [ORDERS, ['orders:read'], ORDERS_TTL],
      [INVENTORY, ['inventory:read', 'inventory:write'], INVENTORY_TTL],
      [WAREHOUSE, ['warehouse:read'], 300],
    ] as const) {
      const created = await adminRequest(app, admin, 'POST', '/apis', { identifier, scopes: scopes.map((name) => ({ name })), access_token_ttl: ttl });
      expect(created.status).toBe(201);
    }
    web = await registerClient(app, {
      client_name: 'Shop web',
      grant_types: ['authorization_code', 'refresh_token', GRANT],
      api_scopes: { [ORDERS]: ['orders:read'] },
      // A token issued to the web app itself may be exchanged by it.
      token_exchange: { audiences: [INVENTORY], scopes: ['inventory:read'] },
    });
    const service = (name: string, policy: Record<string, unknown> | undefined) => adminRequest(app, admin, 'POST', '/clients', {
      client_name: name, grant_types: [GRANT], ...(policy ? { token_exchange: policy } : {}),
    });
    const orders = await service('orders service', { audiences: [INVENTORY], scopes: ['inventory:read'], subject_token_audiences: [ORDERS] });
    expect(orders.status).toBe(201);
    ordersService = { clientId: orders.body.client.client_id, clientSecret: orders.body.client_secret };
    const inventory = await service('inventory service', { audiences: [WAREHOUSE], scopes: ['warehouse:read'], subject_token_audiences: [INVENTORY] });
    inventoryService = { clientId: inventory.body.client.client_id, clientSecret: inventory.body.client_secret };
    const plain = await service('no policy', undefined);
    noPolicy = { clientId: plain.body.client.client_id, clientSecret: plain.body.client_secret };
    user = await createUser(app);
    const signedIn = await userTokens(app, web, user.email, { scope: 'openid orders:read', params: { resource: ORDERS } });
    expect(signedIn.status).toBe(200);
    ordersToken = signedIn.body.access_token!;
  });
  afterAll(async () => {
    await app.destroy();
  });

  /** A token exchange by `client` as a service makes it with openid-client. */
  async function exchange(client: RegisteredClient, params: Record<string, string>) {
    const config = await relyingParty(app, client);
    return oidc.genericGrantRequest(config, GRANT, { subject_token_type: ACCESS_TOKEN, ...params });
  }

  /** The raw token endpoint answer, for refusals. */
  async function rawExchange(client: RegisteredClient, params: Record<string, string>) {
    const response = await fetch(`${app.origin}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(client.clientSecret ? { authorization: basicAuthorization(client.clientId, client.clientSecret) } : {}),
      },
      body: new URLSearchParams({ grant_type: GRANT, subject_token_type: ACCESS_TOKEN, ...(client.clientSecret ? {} : { client_id: client.clientId }), ...params }),
    });
    return { status: response.status, body: await response.json() as { error?: string; error_description?: string } };
  }

  test('when discovery is read, then it lists the token exchange grant type', async () => {
    const metadata = await (await fetch(`${app.origin}/.well-known/openid-configuration`)).json() as { grant_types_supported: string[] };
    expect(metadata.grant_types_supported).toContain(GRANT);
  });

  test('when the Orders service exchanges the user\'s token for Inventory, then a JWT for Inventory with the user, narrowed scope and act, which gatehouse/verify accepts', async () => {
    const subject = decodeJwt(ordersToken);
    const response = await exchange(ordersService, { subject_token: ordersToken, resource: INVENTORY, scope: 'inventory:read' });
    expect(response).toEqual(expect.objectContaining({ issued_token_type: ACCESS_TOKEN, scope: 'inventory:read' }));
    expect(response.token_type.toLowerCase()).toBe('bearer');
    expect(decodeProtectedHeader(response.access_token).typ).toBe('at+jwt');
    const claims = decodeJwt(response.access_token);
    expect(claims).toEqual(expect.objectContaining({
      iss: app.issuer, sub: user.id, aud: INVENTORY, client_id: ordersService.clientId, scope: 'inventory:read', act: { sub: ordersService.clientId },
    }));
    // Not beyond the subject token's life, though the Inventory API allows an hour.
    expect(claims.exp!).toBeLessThanOrEqual(subject.exp!);
    expect(response.expires_in).toBeLessThanOrEqual(ORDERS_TTL);

    const verified = await createVerifier({ issuer: app.issuer, audience: INVENTORY }).verify(response.access_token);
    expect(verified.claims.act).toEqual({ sub: ordersService.clientId });
    await expect(createVerifier({ issuer: app.issuer, audience: ORDERS }).verify(response.access_token)).rejects.toMatchObject({ code: 'invalid_token' });
  });

  test('when the exchanged token is exchanged again downstream, then act nests the whole chain', async () => {
    const first = await exchange(ordersService, { subject_token: ordersToken, audience: INVENTORY });
    expect(first.scope).toBe('inventory:read');
    const second = await exchange(inventoryService, { subject_token: first.access_token, resource: WAREHOUSE, scope: 'warehouse:read' });
    const claims = decodeJwt(second.access_token);
    expect(claims).toEqual(expect.objectContaining({
      sub: user.id, aud: WAREHOUSE, client_id: inventoryService.clientId,
      act: { sub: inventoryService.clientId, act: { sub: ordersService.clientId } },
    }));
    expect(second.expires_in).toBeLessThanOrEqual(300);
  });

  test('when the service asks for an API outside its policy, then invalid_target', async () => {
    expect((await rawExchange(ordersService, { subject_token: ordersToken, resource: WAREHOUSE })).body.error).toBe('invalid_target');
    expect((await rawExchange(ordersService, { subject_token: ordersToken, resource: 'https://unknown.example.com' })).body.error).toBe('invalid_target');
    expect((await rawExchange(ordersService, { subject_token: ordersToken })).body.error).toBe('invalid_target');
  });

  test('when the service asks for a scope wider than its policy, then invalid_scope', async () => {
    const response = await rawExchange(ordersService, { subject_token: ordersToken, resource: INVENTORY, scope: 'inventory:read inventory:write' });
    expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'invalid_scope' });
  });

  test('when a client holding the grant has no policy, then unauthorized_client', async () => {
    const response = await rawExchange(noPolicy, { subject_token: ordersToken, resource: INVENTORY });
    expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'unauthorized_client' });
  });

  test('when a public client tries, then it cannot be registered for the grant and its request is unauthorized_client', async () => {
    const refused = await adminRequest(app, admin, 'POST', '/clients', {
      client_name: 'public exchanger', token_endpoint_auth_method: 'none', redirect_uris: ['http://localhost:8080/callback'],
      grant_types: ['authorization_code', GRANT], token_exchange: { audiences: [INVENTORY], scopes: ['inventory:read'] },
    });
    expect(refused.status).toBe(400);
    const spa = await registerClient(app, { client_name: 'SPA', token_endpoint_auth_method: 'none' });
    const response = await rawExchange(spa, { subject_token: ordersToken, resource: INVENTORY });
    expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'unauthorized_client' });
  });

  test('when the subject token was neither issued to the client nor for an API it serves, then invalid_grant', async () => {
    // The Inventory service serves Inventory, not Orders.
    const response = await rawExchange(inventoryService, { subject_token: ordersToken, resource: WAREHOUSE });
    expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });

  test('when the subject token is forged or not a token at all, then invalid_grant, never 5xx', async () => {
    const [header, payload] = ordersToken.split('.');
    for (const subject of [`${header}.${payload}.AAAA`, 'not-a-token', 'x'.repeat(20_000)]) {
      const response = await rawExchange(ordersService, { subject_token: subject, resource: INVENTORY });
      expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    }
    const wrongType = await rawExchange(ordersService, { subject_token: ordersToken, resource: INVENTORY, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' });
    expect(wrongType.body.error).toBe('invalid_request');
  });

  test('when the client\'s own opaque token is exchanged, then it works; once revoked, invalid_grant', async () => {
    const signedIn = await userTokens(app, web, user.email, { scope: 'openid' });
    const opaque = signedIn.body.access_token!;
    expect(opaque.split('.')).toHaveLength(1);
    const exchanged = await exchange(web, { subject_token: opaque, resource: INVENTORY });
    expect(decodeJwt(exchanged.access_token)).toEqual(expect.objectContaining({ sub: user.id, aud: INVENTORY, act: { sub: web.clientId } }));

    const revoked = await fetch(`${app.origin}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(web.clientId, web.clientSecret!) },
      body: new URLSearchParams({ token: opaque }),
    });
    expect(revoked.status).toBe(200);
    const response = await rawExchange(web, { subject_token: opaque, resource: INVENTORY });
    expect({ status: response.status, error: response.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
  });

  test('when an exchange succeeds, then it is in the audit trail with the service as actor', async () => {
    const events = await adminRequest(app, admin, 'GET', `/audit-events?action=token_exchange.success&actor=${ordersService.clientId}`);
    expect(events.status).toBe(200);
    expect(events.body.items[0]).toEqual(expect.objectContaining({
      action: 'token_exchange.success',
      actor: expect.objectContaining({ type: 'client', id: ordersService.clientId }),
      target: { type: 'user', id: user.id },
      after: expect.objectContaining({ audience: INVENTORY }),
    }));
  });

  describe('the policy through the admin API', () => {
    test('when a policy names an API that is not registered, or a scope no audience defines, then 400 naming the fields', async () => {
      const response = await adminRequest(app, admin, 'PATCH', `/clients/${noPolicy.clientId}`, {
        token_exchange: { audiences: ['https://nowhere.example.com'], scopes: ['inventory:read'] },
      });
      expect(response.status).toBe(400);
      expect(response.body.errors.map((entry: { field: string }) => entry.field)).toEqual(expect.arrayContaining(['token_exchange.audiences[0]', 'token_exchange.scopes']));
    });

    test('when a policy is set with PATCH, then it is returned and takes effect', async () => {
      const policy = { audiences: [INVENTORY], scopes: ['inventory:read'], subject_token_audiences: [ORDERS] };
      const patched = await adminRequest(app, admin, 'PATCH', `/clients/${noPolicy.clientId}`, { token_exchange: policy });
      expect(patched.status).toBe(200);
      expect((await adminRequest(app, admin, 'GET', `/clients/${noPolicy.clientId}`)).body.token_exchange).toEqual(policy);
      expect((await exchange(noPolicy, { subject_token: ordersToken, resource: INVENTORY })).scope).toBe('inventory:read');
    });

    test('when a client registers itself with a token exchange policy, then invalid_client_metadata', async () => {
      const iat = await adminRequest(app, admin, 'POST', '/registration-tokens', {});
      expect(iat.status).toBe(201);
      const response = await fetch(`${app.origin}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${iat.body.token}` },
        body: JSON.stringify({
          client_name: 'sneaky', redirect_uris: ['https://sneaky.example.com/cb'],
          token_exchange: { audiences: [INVENTORY], scopes: ['inventory:read'] },
        }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_client_metadata');
    });
  });
});
