// RFC 9700 §4.14.2 (checklist B10): refresh tokens rotate on every use, for confidential
// and public clients alike, and presenting one that was already rotated revokes the whole
// grant: the newest refresh token and every access token die, and the audit trail says so.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { call } from '../helpers/http.js';
import { authRequest, Browser, createUser, exchange, oidc, registerClient, relyingParty, signIn, type RegisteredClient } from '../helpers/oidc.js';

let app: TestApp;
let introspector: RegisteredClient;

beforeAll(async () => {
  app = await startApp();
  introspector = await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [] });
});
afterAll(() => app.destroy());

async function tokensFor(client: RegisteredClient) {
  const user = await createUser(app);
  const config = await relyingParty(app, client);
  const request = await authRequest(config, { scope: 'openid offline_access', prompt: 'consent' });
  const tokens = await exchange(config, await signIn(new Browser(), app, request, user.email), request);
  return { config, tokens, user };
}

async function active(token: string, client: RegisteredClient): Promise<boolean> {
  const reply = await call(`${app.origin}/token/introspection`, { form: { token }, basic: [client.clientId, client.clientSecret!] });
  expect(reply.status).toBe(200);
  return reply.body?.active === true;
}

describe.each([
  ['confidential', { first_party: true }],
  ['public', { first_party: true, token_endpoint_auth_method: 'none' }],
] as const)('B10 refresh token reuse revokes the grant (%s client)', (_kind, metadata) => {
  test('when a rotated refresh token is presented again, then invalid_grant, the newest refresh token and the access tokens are dead, and grant.revoked is audited', async () => {
    const client = await registerClient(app, metadata);
    const { config, tokens, user } = await tokensFor(client);
    const first = tokens.refresh_token!;
    expect(first).toBeTruthy();

    const rotated = await oidc.refreshTokenGrant(config, first);
    expect(rotated.refresh_token).toBeTruthy();
    expect(rotated.refresh_token).not.toBe(first);
    const introspectWith = client.clientSecret ? client : introspector;
    if (client.clientSecret) expect(await active(rotated.access_token, introspectWith)).toBe(true);

    // The old one again: someone holds a copy.
    const replay = await call(`${app.origin}/token`, {
      form: { grant_type: 'refresh_token', refresh_token: first, ...(client.clientSecret ? {} : { client_id: client.clientId }) },
      ...(client.clientSecret ? { basic: [client.clientId, client.clientSecret] as [string, string] } : {}),
    });
    expect(replay.status).toBe(400);
    expect(replay.body?.error).toBe('invalid_grant');
    expect(replay.headers.get('cache-control')).toContain('no-store');

    await expect(oidc.refreshTokenGrant(config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const userinfo = await call(`${app.origin}/me`, { bearer: rotated.access_token });
    expect(userinfo.status).toBe(401);
    const original = await call(`${app.origin}/me`, { bearer: tokens.access_token });
    expect(original.status).toBe(401);
    if (client.clientSecret) expect(await active(rotated.access_token, client)).toBe(false);

    const events = await adminRequest(app, await adminToken(app, 'admin:read'), 'GET', '/audit-events?action=grant.revoked&limit=200');
    const revoked = (events.body.items as Array<{ actor: { type: string; id: string; ip: string | null }; target: { type: string; id: string }; after: { route?: string } }>)
      .filter((event) => event.actor.id === client.clientId);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]!.actor.type).toBe('client');
    expect(revoked[0]!.target.type).toBe('grant');
    expect(revoked[0]!.after.route).toBe('token');
    expect(revoked[0]!.actor.ip).toMatch(/127\.0\.0\.1/);
    expect(user.id).toBeTruthy();
  });
});

describe('token revocation is audited', () => {
  test('when a client revokes its refresh token, then the token stops working and token.revoked names the client and the user, never the token', async () => {
    const client = await registerClient(app, { first_party: true });
    const { config, tokens, user } = await tokensFor(client);
    const revocation = await call(`${app.origin}/token/revocation`, { form: { token: tokens.refresh_token! }, basic: [client.clientId, client.clientSecret!] });
    expect(revocation.status).toBe(200);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const events = await adminRequest(app, await adminToken(app, 'admin:read'), 'GET', '/audit-events?action=token.revoked&limit=200');
    const mine = (events.body.items as Array<{ actor: { type: string; id: string }; after: { kind?: string } }>).filter((event) => event.actor.id === client.clientId);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.actor.type).toBe('client');
    expect(mine[0]!.after.kind).toBe('refresh_token');
    expect(JSON.stringify(events.body)).not.toContain(tokens.refresh_token!);
    expect(JSON.stringify(events.body)).toContain(user.id);
  });
});

describe('token and userinfo answers are never cached', () => {
  test('when tokens and claims are fetched, then the token, userinfo and introspection responses say Cache-Control: no-store', async () => {
    const client = await registerClient(app, { first_party: true });
    const { tokens } = await tokensFor(client);
    const refreshed = await call(`${app.origin}/token`, { form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, basic: [client.clientId, client.clientSecret!] });
    const userinfo = await call(`${app.origin}/me`, { bearer: tokens.access_token });
    const introspection = await call(`${app.origin}/token/introspection`, { form: { token: tokens.access_token }, basic: [client.clientId, client.clientSecret!] });
    for (const reply of [refreshed, userinfo, introspection]) {
      expect(reply.status).toBe(200);
      expect(reply.headers.get('cache-control')).toBe('no-store');
    }
  });
});
