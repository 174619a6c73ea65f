// The admin API end to end over HTTP: create, read, list, replace, change and delete every
// resource (clients, client secrets, users with their sessions and grants, roles, signing
// keys, registration tokens) with a real admin token from /token, and the audit trail every
// change leaves behind. Set-up that is not under test (the admin client itself, a few
// fixtures) goes through the services as an operator's CLI would.
import { startApp, type TestApp } from '../helpers/app.js';
import {
  adminRequest, basicAuthorization, clientCredentialsToken, createAdminClient, expectProblem, problemFields, userTokens,
  type AdminCredentials, type AdminResponse,
} from '../helpers/admin.js';
import { Browser, PASSWORD, REDIRECT_URI, submitLogin } from '../helpers/oidc.js';

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const NEW_PASSWORD = 'an entirely different passphrase 42';

let app: TestApp;
let admin: AdminCredentials;
let token: string;

/** Every change this file makes through the API as `admin`, as the audit trail must show it. */
const expectedEvents: Array<{ action: string; target: string | ((id: string) => boolean) }> = [];
function audited(action: string, target: string | ((id: string) => boolean)): void {
  expectedEvents.push({ action, target });
}

/** Every secret value this file saw issued: none may ever appear in the audit trail. */
const issuedSecrets: string[] = [];

function api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<AdminResponse<T>> {
  return adminRequest<T>(app, token, method, path, body, headers);
}

function expectJson(response: AdminResponse, status: number): any {
  expect({ status: response.status, text: response.text.slice(0, 400) }).toEqual({ status, text: expect.any(String) });
  expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
  expect(response.headers.get('cache-control')).toMatch(/(^|,\s*)no-store\s*(,|$)/);
  return response.body;
}

function expectNoContent(response: AdminResponse): void {
  expect({ status: response.status, text: response.text }).toEqual({ status: 204, text: '' });
}

/** No `"client_secret":` member anywhere in a response, nor any secret value seen so far. */
function expectNoSecret(response: AdminResponse, ...secrets: string[]): void {
  expect(response.text).not.toMatch(/"client_secret"\s*:/);
  for (const secret of secrets) expect(response.text).not.toContain(secret);
}

async function tokenWithSecret(clientId: string, clientSecret: string): Promise<{ status: number; error?: string | undefined }> {
  const { status, body } = await clientCredentialsToken(app, { clientId, clientSecret }, {});
  return { status, error: body.error };
}

async function createClient(body: Record<string, unknown>): Promise<{ client: any; secret?: string }> {
  const created = expectJson(await api('POST', '/clients', body), 201);
  audited('client.create', created.client.client_id);
  if (created.client_secret) issuedSecrets.push(created.client_secret);
  return { client: created.client, secret: created.client_secret };
}

let userCounter = 0;
async function createUser(body: Record<string, unknown> = {}): Promise<any> {
  userCounter += 1;
  const user = expectJson(await api('POST', '/users', { email: `crud-${userCounter}-${Date.now()}@example.com`, password: PASSWORD, ...body }), 201);
  audited('user.create', user.id);
  return user;
}

async function refresh(client: { client_id: string }, secret: string, refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${app.origin}/token`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(client.client_id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function userinfoStatus(accessToken: string): Promise<number> {
  return (await fetch(`${app.origin}/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

beforeAll(async () => {
  // Limits are tested in security.test.ts; here they must not get in the way.
  app = await startApp({ env: { ADMIN_RATE_LIMIT: '100000', ADMIN_IP_RATE_LIMIT: '100000' } });
  admin = await createAdminClient(app, 'admin');
  const issued = await clientCredentialsToken(app, admin, { scope: 'admin' });
  expect(issued.status).toBe(200);
  token = issued.body.access_token!;
});

afterAll(async () => {
  await app?.destroy();
});

describe('clients', () => {
  test('given a new client, when it is created, then 201 shows the client and its secret once, and GET never shows the secret', async () => {
    const response = await api('POST', '/clients', { client_name: 'Shop', redirect_uris: [REDIRECT_URI], logo_uri: 'https://shop.example/logo.png' });
    const created = expectJson(response, 201);
    audited('client.create', created.client.client_id);
    issuedSecrets.push(created.client_secret);
    expect(created.client_secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(created.client).toEqual(expect.objectContaining({
      client_id: expect.stringMatching(/^[A-Za-z0-9_-]{22,}$/),
      client_name: 'Shop',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      logo_uri: 'https://shop.example/logo.png',
      first_party: false,
      require_pkce: true,
      disabled: false,
      dynamic: false,
      roles: [],
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: expect.stringMatching(ISO_UTC),
    }));
    expect(created.client).not.toHaveProperty('client_secret');

    const fetched = await api('GET', `/clients/${created.client.client_id}`);
    expect(expectJson(fetched, 200)).toEqual(created.client);
    expectNoSecret(fetched, created.client_secret);
    const listed = await api('GET', `/clients?q=${created.client.client_id}`);
    expect(expectJson(listed, 200).items).toEqual([created.client]);
    expectNoSecret(listed, created.client_secret);
  });

  test('given a client created without a secret-based method, when it is created, then no secret is returned', async () => {
    const created = expectJson(await api('POST', '/clients', { client_name: 'SPA', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' }), 201);
    audited('client.create', created.client.client_id);
    expect(created).not.toHaveProperty('client_secret');
    expect(created.client.token_endpoint_auth_method).toBe('none');
  });

  test('given more clients than one page, when the listing is walked with next_cursor, then every client comes exactly once in a stable order', async () => {
    const prefix = `page-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) ids.push((await createClient({ client_name: `${prefix} ${i}` })).client.client_id);

    async function walk(): Promise<{ pages: number[]; seen: any[] }> {
      const pages: number[] = [];
      const seen: any[] = [];
      let cursor: string | null = null;
      do {
        const query: string = new URLSearchParams({ q: prefix, limit: '3', ...(cursor ? { cursor } : {}) }).toString();
        const page = expectJson(await api('GET', `/clients?${query}`), 200);
        pages.push(page.items.length);
        seen.push(...page.items);
        cursor = page.next_cursor;
        expect(pages.length).toBeLessThan(10);
      } while (cursor);
      return { pages, seen };
    }

    const first = await walk();
    expect(first.pages).toEqual([3, 3, 1]);
    const seenIds = first.seen.map((client) => client.client_id);
    expect(new Set(seenIds).size).toBe(seenIds.length);
    expect([...seenIds].sort()).toEqual([...ids].sort());
    // Ordered by creation time, then id.
    const order = first.seen.map((client) => [client.created_at, client.client_id].join(' '));
    expect(order).toEqual([...order].sort());
    // The same walk again gives the same sequence.
    expect((await walk()).seen.map((client) => client.client_id)).toEqual(seenIds);
  });

  test('given a cursor the server never issued, when the listing is asked for it, then 400 names the cursor field', async () => {
    const response = await api('GET', '/clients?cursor=not-a-cursor');
    expectProblem(response, 400, 'invalid_input');
    expect(problemFields(response)).toContain('cursor');
  });

  test('given clients with different names, when filtered with q, then only those whose name contains q (any case) or whose id equals q come back', async () => {
    const tag = `Filter${Date.now()}`;
    const a = (await createClient({ client_name: `Alpha ${tag} app` })).client;
    const b = (await createClient({ client_name: `beta ${tag.toLowerCase()} app` })).client;
    await createClient({ client_name: 'Unrelated gamma' });
    const byName = expectJson(await api('GET', `/clients?q=${encodeURIComponent(tag.toUpperCase())}`), 200);
    expect(byName.items.map((client: any) => client.client_id).sort()).toEqual([a.client_id, b.client_id].sort());
    expect(byName.next_cursor).toBeNull();
    const byId = expectJson(await api('GET', `/clients?q=${a.client_id}`), 200);
    expect(byId.items.map((client: any) => client.client_id)).toEqual([a.client_id]);
    const none = expectJson(await api('GET', `/clients?q=${encodeURIComponent(`nothing-${tag}`)}`), 200);
    expect(none).toEqual({ items: [], next_cursor: null });
    // LIKE wildcards in q are plain characters.
    expect(expectJson(await api('GET', '/clients?q=%25'), 200).items).toEqual([]);
    expect(expectJson(await api('GET', '/clients?q=_'), 200).items).toEqual([]);
  });

  test('given a client with optional fields, when it is replaced with PUT, then omitted fields return to their defaults and the id, creation time and secret stay', async () => {
    const { client, secret } = await createClient({
      client_name: 'Machine', grant_types: ['client_credentials'], logo_uri: 'https://m.example/logo.png',
      contacts: ['ops@example.com'], first_party: true, require_pkce: false,
    });
    const response = await api('PUT', `/clients/${client.client_id}`, { client_name: 'Machine v2', grant_types: ['client_credentials'] });
    const replaced = expectJson(response, 200);
    audited('client.replace', client.client_id);
    expect(replaced).not.toHaveProperty('client_secret');
    expect(replaced.client).toEqual(expect.objectContaining({
      client_id: client.client_id,
      client_name: 'Machine v2',
      first_party: false,
      require_pkce: true,
      created_at: client.created_at,
    }));
    expect(replaced.client).not.toHaveProperty('logo_uri');
    expect(replaced.client).not.toHaveProperty('contacts');
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200)).toEqual(replaced.client);
    // The secret was kept.
    expect(await tokenWithSecret(client.client_id, secret!)).toEqual({ status: 200 });
  });

  test('given a client, when it is PATCHed, then only the fields given change', async () => {
    const { client } = await createClient({
      client_name: 'Partial', redirect_uris: [REDIRECT_URI], logo_uri: 'https://p.example/logo.png', contacts: ['a@example.com'],
    });
    const patched = expectJson(await api('PATCH', `/clients/${client.client_id}`, { client_name: 'Partial renamed', first_party: true }), 200);
    audited('client.update', client.client_id);
    expect(patched).not.toHaveProperty('client_secret');
    const { client_name: _name, first_party: _firstParty, updated_at: _updated, ...rest } = patched.client;
    const { client_name: _oldName, first_party: _oldFirstParty, updated_at: _oldUpdated, ...oldRest } = client;
    expect(rest).toEqual(oldRest);
    expect(patched.client.client_name).toBe('Partial renamed');
    expect(patched.client.first_party).toBe(true);
    expect(Date.parse(patched.client.updated_at)).toBeGreaterThanOrEqual(Date.parse(client.updated_at));
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200)).toEqual(patched.client);
  });

  test('given a public client, when PATCH moves it to client_secret_basic, then the new secret is shown in that response only', async () => {
    const { client } = await createClient({ client_name: 'Going confidential', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    const patched = expectJson(await api('PATCH', `/clients/${client.client_id}`, { token_endpoint_auth_method: 'client_secret_basic' }), 200);
    audited('client.update', client.client_id);
    expect(patched.client_secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    issuedSecrets.push(patched.client_secret);
    const fetched = await api('GET', `/clients/${client.client_id}`);
    expect(expectJson(fetched, 200).token_endpoint_auth_method).toBe('client_secret_basic');
    expectNoSecret(fetched, patched.client_secret);
  });

  test('given a client, when it is DELETEd, then 204 and every later read or change of it is 404', async () => {
    const { client } = await createClient({ client_name: 'Doomed', grant_types: ['client_credentials'] });
    expectNoContent(await api('DELETE', `/clients/${client.client_id}`));
    audited('client.delete', client.client_id);
    expectProblem(await api('GET', `/clients/${client.client_id}`), 404, 'not_found');
    expectProblem(await api('DELETE', `/clients/${client.client_id}`), 404, 'not_found');
    expectProblem(await api('PATCH', `/clients/${client.client_id}`, { client_name: 'Back' }), 404, 'not_found');
    expectProblem(await api('PUT', `/clients/${client.client_id}`, { client_name: 'Back' }), 404, 'not_found');
    expect(expectJson(await api('GET', `/clients?q=${client.client_id}`), 200).items).toEqual([]);
  });
});

describe('client secret rotation', () => {
  test('given a client, when its secret is rotated without a grace period, then the new secret works at /token and the old one fails at once with invalid_client', async () => {
    const { client, secret } = await createClient({ client_name: 'Rotating', grant_types: ['client_credentials'] });
    expect(await tokenWithSecret(client.client_id, secret!)).toEqual({ status: 200 });

    const rotated = expectJson(await api('POST', `/clients/${client.client_id}/secret`), 200);
    audited('client.rotate_secret', client.client_id);
    issuedSecrets.push(rotated.client_secret);
    expect(rotated.client_secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(rotated.client_secret).not.toBe(secret);
    expect(rotated.previous_secret_expires_at).toBeNull();
    expect(rotated.client.client_id).toBe(client.client_id);
    expect(rotated.client).not.toHaveProperty('client_secret');

    expect(await tokenWithSecret(client.client_id, rotated.client_secret)).toEqual({ status: 200 });
    expect(await tokenWithSecret(client.client_id, secret!)).toEqual({ status: 401, error: 'invalid_client' });

    // Explicitly 0 behaves the same.
    const again = expectJson(await api('POST', `/clients/${client.client_id}/secret`, { grace_period_seconds: 0 }), 200);
    audited('client.rotate_secret', client.client_id);
    issuedSecrets.push(again.client_secret);
    expect(await tokenWithSecret(client.client_id, again.client_secret)).toEqual({ status: 200 });
    expect(await tokenWithSecret(client.client_id, rotated.client_secret)).toEqual({ status: 401, error: 'invalid_client' });
  });

  test('given a rotation with a 2 s grace period, when the old secret is used, then it works during the grace and fails with invalid_client after it', async () => {
    const { client, secret } = await createClient({ client_name: 'Graceful', grant_types: ['client_credentials'] });
    const before = Date.now();
    const rotated = expectJson(await api('POST', `/clients/${client.client_id}/secret`, { grace_period_seconds: 2 }), 200);
    audited('client.rotate_secret', client.client_id);
    issuedSecrets.push(rotated.client_secret);
    const until = Date.parse(rotated.previous_secret_expires_at);
    expect(until).toBeGreaterThanOrEqual(before + 2000 - 50);
    expect(until).toBeLessThanOrEqual(Date.now() + 2000 + 50);
    expect(rotated.client.previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200).previous_secret_expires_at).toBe(rotated.previous_secret_expires_at);

    expect(await tokenWithSecret(client.client_id, secret!)).toEqual({ status: 200 });
    expect(await tokenWithSecret(client.client_id, rotated.client_secret)).toEqual({ status: 200 });

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()) + 500));
    expect(await tokenWithSecret(client.client_id, secret!)).toEqual({ status: 401, error: 'invalid_client' });
    expect(await tokenWithSecret(client.client_id, rotated.client_secret)).toEqual({ status: 200 });
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200)).not.toHaveProperty('previous_secret_expires_at');
  });

  test('given rotations that cannot happen, when they are asked for, then 409 (no secret), 404 (no client) or 400 naming grace_period_seconds', async () => {
    const { client: publicClient } = await createClient({ client_name: 'No secret', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    expectProblem(await api('POST', `/clients/${publicClient.client_id}/secret`), 409, 'conflict');
    expectProblem(await api('POST', '/clients/no-such-client/secret'), 404, 'not_found');
    const { client } = await createClient({ client_name: 'Bad grace', grant_types: ['client_credentials'] });
    for (const grace of [-1, 7 * 24 * 3600 + 1, 1.5, '60']) {
      const response = await api('POST', `/clients/${client.client_id}/secret`, { grace_period_seconds: grace });
      expectProblem(response, 400, 'invalid_input');
      expect(problemFields(response)).toEqual(['grace_period_seconds']);
    }
  });
});

describe('users', () => {
  test('given a new user with name, username, claims and roles, when created, then 201 shows them and never the password or its hash', async () => {
    expectJson(await api('POST', '/roles', { name: 'support', description: 'Help desk' }), 201);
    audited('role.create', 'support');
    const email = `Ada.${Date.now()}@Example.com`;
    const response = await api('POST', '/users', {
      email, username: 'Ada_L', password: PASSWORD, name: 'Ada Lovelace', roles: ['support'], claims: { given_name: 'Ada', locale: 'en-GB' },
    });
    const user = expectJson(response, 201);
    audited('user.create', user.id);
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: email.toLowerCase(),
      username: 'ada_l',
      name: 'Ada Lovelace',
      email_verified: false,
      disabled: false,
      roles: ['support'],
      claims: { given_name: 'Ada', locale: 'en-GB' },
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: expect.stringMatching(ISO_UTC),
    });
    expect(response.text).not.toContain(PASSWORD);
    expect(response.text).not.toMatch(/argon2|password/i);
    const fetched = await api('GET', `/users/${user.id}`);
    expect(expectJson(fetched, 200)).toEqual(user);
    expect(fetched.text).not.toMatch(/argon2|password/i);
  });

  test('given an existing email or username, when another user is created with it (any case), then 409 problem', async () => {
    const user = await createUser({ username: `dup${Date.now()}` });
    expectProblem(await api('POST', '/users', { email: user.email }), 409, 'conflict');
    expectProblem(await api('POST', '/users', { email: user.email.toUpperCase() }), 409, 'conflict');
    expectProblem(await api('POST', '/users', { email: `other.${user.email}`, username: user.username.toUpperCase() }), 409, 'conflict');
    // The API answered before anything was created.
    expect(expectJson(await api('GET', `/users?q=${encodeURIComponent(`other.${user.email}`)}`), 200).items).toEqual([]);
  });

  test('given several users, when listed with q, then q matches a substring of the email or the username, case-insensitively', async () => {
    const tag = `srch${Date.now()}`;
    const byEmail = await createUser({ email: `${tag}.mail@example.com` });
    const byUsername = await createUser({ username: `${tag}_name` });
    await createUser();
    const found = expectJson(await api('GET', `/users?q=${tag.toUpperCase()}`), 200);
    expect(found.items.map((user: any) => user.id).sort()).toEqual([byEmail.id, byUsername.id].sort());
    expect(found.next_cursor).toBeNull();
    expect(expectJson(await api('GET', `/users?q=${tag}.mail`), 200).items.map((user: any) => user.id)).toEqual([byEmail.id]);
    expect(expectJson(await api('GET', `/users?q=${tag}_name`), 200).items.map((user: any) => user.id)).toEqual([byUsername.id]);
    expect(expectJson(await api('GET', `/users?email=${encodeURIComponent(byEmail.email.toUpperCase())}`), 200).items.map((user: any) => user.id)).toEqual([byEmail.id]);
    expect(expectJson(await api('GET', `/users?q=nobody-${tag}`), 200)).toEqual({ items: [], next_cursor: null });
    // LIKE wildcards in q are plain characters: no address here contains % or a second _.
    expect(expectJson(await api('GET', '/users?q=%25'), 200).items).toEqual([]);
    expect(expectJson(await api('GET', '/users?q=__'), 200).items).toEqual([]);
  });

  test('given a user, when GET names an unknown or malformed id, then 404 problem', async () => {
    expectProblem(await api('GET', '/users/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    expectProblem(await api('GET', '/users/not-a-uuid'), 404, 'not_found');
  });

  test('given a user, when the profile is PATCHed, then the fields given change and the rest stay; a new email is unverified', async () => {
    const user = await createUser({ name: 'Old Name', email_verified: true, claims: { locale: 'fr' } });
    const patched = expectJson(await api('PATCH', `/users/${user.id}`, { name: 'New Name', claims: { given_name: 'New', locale: 'de' } }), 200);
    audited('user.update', user.id);
    expect(patched).toEqual({ ...user, name: 'New Name', claims: { given_name: 'New', locale: 'de' }, updated_at: expect.stringMatching(ISO_UTC) });
    expect(expectJson(await api('GET', `/users/${user.id}`), 200)).toEqual(patched);

    const email = `changed.${Date.now()}@example.com`;
    const moved = expectJson(await api('PATCH', `/users/${user.id}`, { email }), 200);
    audited('user.update', user.id);
    expect(moved).toEqual({ ...patched, email, email_verified: false, updated_at: expect.stringMatching(ISO_UTC) });

    const cleared = expectJson(await api('PATCH', `/users/${user.id}`, { name: null, username: null }), 200);
    audited('user.update', user.id);
    expect(cleared.name).toBeNull();
    expect(cleared.username).toBeNull();
    expect(cleared.claims).toEqual({ given_name: 'New', locale: 'de' });
  });

  test('given a user, when disabled and enabled again, then the flag follows and is visible on GET', async () => {
    const user = await createUser();
    expect(expectJson(await api('POST', `/users/${user.id}/disable`), 200).disabled).toBe(true);
    audited('user.update', user.id);
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).disabled).toBe(true);
    expect(expectJson(await api('GET', `/users?disabled=true`), 200).items.map((item: any) => item.id)).toContain(user.id);
    expect(expectJson(await api('POST', `/users/${user.id}/enable`), 200).disabled).toBe(false);
    audited('user.update', user.id);
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).disabled).toBe(false);
  });

  test('given a user, when DELETEd, then 204 and the user is gone (404) from GET, PATCH and listings', async () => {
    const user = await createUser();
    expectNoContent(await api('DELETE', `/users/${user.id}`));
    audited('user.delete', user.id);
    expectProblem(await api('GET', `/users/${user.id}`), 404, 'not_found');
    expectProblem(await api('PATCH', `/users/${user.id}`, { name: 'Ghost' }), 404, 'not_found');
    expectProblem(await api('DELETE', `/users/${user.id}`), 404, 'not_found');
    expect(expectJson(await api('GET', `/users?email=${encodeURIComponent(user.email)}`), 200).items).toEqual([]);
  });

  describe('after a real sign-in through the pages', () => {
    let client: any;
    let secret: string;
    let user: any;

    beforeAll(async () => {
      ({ client, secret } = (await createClient({ client_name: 'Portal', redirect_uris: [REDIRECT_URI] })) as { client: any; secret: string });
      user = await createUser();
    });

    test('given a new password set through the API, when the user signs in, then only the new password works', async () => {
      const weak = await api('PUT', `/users/${user.id}/password`, { password: 'short' });
      expectProblem(weak, 400, 'invalid_input');
      expect(problemFields(weak)).toEqual(['password']);

      const response = await api('PUT', `/users/${user.id}/password`, { password: NEW_PASSWORD });
      expect(expectJson(response, 200)).toEqual({ ...user, updated_at: expect.stringMatching(ISO_UTC) });
      audited('user.set_password', user.id);
      issuedSecrets.push(NEW_PASSWORD);
      expect(response.text).not.toContain(NEW_PASSWORD);

      const browser = new Browser();
      const url = new URL(`${app.issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: client.client_id, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }).toString();
      const loginPage = await browser.follow(url.toString(), app.issuer);
      const refused = await submitLogin(browser, app, loginPage, user.email, PASSWORD);
      expect(refused.status).toBe(400);

      const tokens = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { password: NEW_PASSWORD });
      expect(tokens.status).toBe(200);
    });

    test('given a signed-in user, when sessions and grants are listed, then the session names the client and the grant its scopes', async () => {
      expectNoContent(await api('DELETE', `/users/${user.id}/sessions`));
      audited('user.revoke_all_sessions', user.id);
      const tokens = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { password: NEW_PASSWORD, scope: 'openid email offline_access' });
      expect(tokens.status).toBe(200);

      const sessions = expectJson(await api('GET', `/users/${user.id}/sessions`), 200);
      expect(sessions).toEqual({
        items: [{ id: expect.any(String), signed_in_at: expect.stringMatching(ISO_UTC), expires_at: expect.stringMatching(ISO_UTC), clients: [client.client_id] }],
      });
      const grants = expectJson(await api('GET', `/users/${user.id}/grants`), 200);
      expect(grants.items).toEqual([expect.objectContaining({ id: expect.any(String), client_id: client.client_id, created_at: expect.stringMatching(ISO_UTC) })]);
      expect(grants.items[0].scope.split(' ').sort()).toEqual(['email', 'offline_access', 'openid']);
    });

    test('given a grant with a refresh token, when the grant is revoked through the API, then the refresh token and access token fail and the grant is gone', async () => {
      expectNoContent(await api('DELETE', `/users/${user.id}/sessions`));
      audited('user.revoke_all_sessions', user.id);
      const tokens = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { password: NEW_PASSWORD, scope: 'openid offline_access' });
      expect(tokens.status).toBe(200);
      expect(tokens.body.refresh_token).toBeTruthy();
      expect(await userinfoStatus(tokens.body.access_token!)).toBe(200);

      const [grant] = expectJson(await api('GET', `/users/${user.id}/grants`), 200).items;
      expectNoContent(await api('DELETE', `/users/${user.id}/grants/${grant.id}`));
      audited('user.revoke_grant', user.id);

      const refreshed = await refresh(client, secret, tokens.body.refresh_token!);
      expect({ status: refreshed.status, error: refreshed.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
      expect(await userinfoStatus(tokens.body.access_token!)).toBe(401);
      expect(expectJson(await api('GET', `/users/${user.id}/grants`), 200).items).toEqual([]);
      expectProblem(await api('DELETE', `/users/${user.id}/grants/${grant.id}`), 404, 'not_found');
    });

    test('given a session, when it is revoked by id, then it is gone with its grant, and a second revocation is 404', async () => {
      const tokens = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { password: NEW_PASSWORD, scope: 'openid offline_access' });
      expect(tokens.status).toBe(200);
      const sessions = expectJson(await api('GET', `/users/${user.id}/sessions`), 200).items;
      expect(sessions.length).toBeGreaterThanOrEqual(1);
      for (const session of sessions) {
        expectNoContent(await api('DELETE', `/users/${user.id}/sessions/${encodeURIComponent(session.id)}`));
        audited('user.revoke_session', user.id);
      }
      expect(expectJson(await api('GET', `/users/${user.id}/sessions`), 200).items).toEqual([]);
      const refreshed = await refresh(client, secret, tokens.body.refresh_token!);
      expect({ status: refreshed.status, error: refreshed.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
      expectProblem(await api('DELETE', `/users/${user.id}/sessions/${encodeURIComponent(sessions[0].id)}`), 404, 'not_found');
    });

    test('given a signed-in user, when all sessions are revoked or the user is disabled, then their tokens stop working at once', async () => {
      const first = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { password: NEW_PASSWORD, scope: 'openid offline_access' });
      expectNoContent(await api('DELETE', `/users/${user.id}/sessions`));
      audited('user.revoke_all_sessions', user.id);
      expect(expectJson(await api('GET', `/users/${user.id}/sessions`), 200).items).toEqual([]);
      expect(expectJson(await api('GET', `/users/${user.id}/grants`), 200).items).toEqual([]);
      expect((await refresh(client, secret, first.body.refresh_token!)).status).toBe(400);

      const second = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { password: NEW_PASSWORD, scope: 'openid offline_access' });
      expect(await userinfoStatus(second.body.access_token!)).toBe(200);
      expectJson(await api('POST', `/users/${user.id}/disable`), 200);
      audited('user.update', user.id);
      expect(await userinfoStatus(second.body.access_token!)).toBe(401);
      expect((await refresh(client, secret, second.body.refresh_token!)).status).toBe(400);
      expectJson(await api('POST', `/users/${user.id}/enable`), 200);
      audited('user.update', user.id);
    });
  });
});

describe('roles', () => {
  let user: any;
  let client: any;

  beforeAll(async () => {
    user = await createUser();
    client = (await createClient({ client_name: 'Service', grant_types: ['client_credentials'] })).client;
  });

  test('given a new role, when created, listed and read, then it is shown with its description; a duplicate name is 409', async () => {
    const role = expectJson(await api('POST', '/roles', { name: 'editors', description: 'Can edit' }), 201);
    audited('role.create', 'editors');
    expect(role).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'editors', description: 'Can edit', built_in: false,
      created_at: expect.stringMatching(ISO_UTC), updated_at: expect.stringMatching(ISO_UTC),
    });
    expectProblem(await api('POST', '/roles', { name: 'editors' }), 409, 'conflict');
    const listed = expectJson(await api('GET', '/roles'), 200).items;
    expect(listed).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'admin', built_in: true }),
      expect.objectContaining({ name: 'admin:read', built_in: true }),
      role,
    ]));
    expect(expectJson(await api('GET', '/roles/editors'), 200)).toEqual(role);
    expectProblem(await api('GET', '/roles/no-such-role'), 404, 'not_found');
  });

  test('given a role, when assigned to a user and to a client, then both hold it; assigning it again changes nothing', async () => {
    expect(expectJson(await api('PUT', `/users/${user.id}/roles/editors`), 200)).toEqual({ roles: ['editors'] });
    audited('user.assign_role', user.id);
    expect(expectJson(await api('PUT', `/users/${user.id}/roles/editors`), 200)).toEqual({ roles: ['editors'] });
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).roles).toEqual(['editors']);
    expect(expectJson(await api('GET', '/users?role=editors'), 200).items.map((item: any) => item.id)).toEqual([user.id]);

    expect(expectJson(await api('PUT', `/clients/${client.client_id}/roles/editors`), 200)).toEqual({ roles: ['editors'] });
    audited('client.assign_role', client.client_id);
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200).roles).toEqual(['editors']);
    expect(expectJson(await api('GET', '/clients?role=editors'), 200).items.map((item: any) => item.client_id)).toEqual([client.client_id]);
  });

  test('given a held role, when it is renamed and described anew, then the old name is 404 and the holders carry the new name', async () => {
    const renamed = expectJson(await api('PATCH', '/roles/editors', { name: 'authors', description: 'Writes things' }), 200);
    audited('role.update', 'editors');
    expect(renamed).toEqual(expect.objectContaining({ name: 'authors', description: 'Writes things', built_in: false }));
    expectProblem(await api('GET', '/roles/editors'), 404, 'not_found');
    expect(expectJson(await api('GET', '/roles/authors'), 200)).toEqual(renamed);
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).roles).toEqual(['authors']);
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200).roles).toEqual(['authors']);
    expectJson(await api('POST', '/roles', { name: 'taken' }), 201);
    audited('role.create', 'taken');
    expectProblem(await api('PATCH', '/roles/authors', { name: 'taken' }), 409, 'conflict');
  });

  test('given a held role, when removed from the user and the client, then they no longer hold it', async () => {
    expect(expectJson(await api('DELETE', `/users/${user.id}/roles/authors`), 200)).toEqual({ roles: [] });
    audited('user.remove_role', user.id);
    expect(expectJson(await api('DELETE', `/clients/${client.client_id}/roles/authors`), 200)).toEqual({ roles: [] });
    audited('client.remove_role', client.client_id);
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).roles).toEqual([]);
    expect(expectJson(await api('GET', `/clients/${client.client_id}`), 200).roles).toEqual([]);
  });

  test('given a role that does not exist, when it is assigned, then the path form is 404 and the body forms are 400 naming roles', async () => {
    expectProblem(await api('PUT', `/users/${user.id}/roles/no-such-role`), 404, 'not_found');
    expectProblem(await api('PUT', `/clients/${client.client_id}/roles/no-such-role`), 404, 'not_found');
    for (const [method, path, body] of [
      ['PATCH', `/users/${user.id}`, { roles: ['no-such-role'] }],
      ['POST', '/users', { email: `norole.${Date.now()}@example.com`, roles: ['no-such-role'] }],
      ['PATCH', `/clients/${client.client_id}`, { roles: ['no-such-role'] }],
      ['POST', '/clients', { client_name: 'With unknown role', roles: ['no-such-role'] }],
    ] as const) {
      const response = await api(method, path, body);
      expectProblem(response, 400, 'invalid_input');
      expect(problemFields(response)).toEqual(['roles']);
    }
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).roles).toEqual([]);
  });

  test('given the built-in roles, when deleted or renamed, then 409 and they stay', async () => {
    expectProblem(await api('DELETE', '/roles/admin'), 409, 'conflict');
    expectProblem(await api('DELETE', '/roles/admin:read'), 409, 'conflict');
    expectProblem(await api('PATCH', '/roles/admin', { name: 'root' }), 409, 'conflict');
    expect(expectJson(await api('GET', '/roles/admin'), 200)).toEqual(expect.objectContaining({ name: 'admin', built_in: true }));
    expectProblem(await api('GET', '/roles/root'), 404, 'not_found');
  });

  test('given a held role, when it is deleted, then 204, it is 404 afterwards and its holders lost it', async () => {
    expectJson(await api('PUT', `/users/${user.id}/roles/authors`), 200);
    audited('user.assign_role', user.id);
    expectNoContent(await api('DELETE', '/roles/authors'));
    audited('role.delete', 'authors');
    expectProblem(await api('GET', '/roles/authors'), 404, 'not_found');
    expectProblem(await api('DELETE', '/roles/authors'), 404, 'not_found');
    expect(expectJson(await api('GET', `/users/${user.id}`), 200).roles).toEqual([]);
    expect(expectJson(await api('GET', '/roles'), 200).items.map((role: any) => role.name)).not.toContain('authors');
  });
});

describe('service accounts', () => {
  test('given a client-credentials token of a client holding the admin role, when introspected by that client, then it is active for the admin API and carries roles', async () => {
    const response = await fetch(`${app.origin}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basicAuthorization(admin.clientId, admin.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(expect.objectContaining({
      active: true, client_id: admin.clientId, scope: 'admin', aud: `${app.issuer}/admin`, roles: ['admin'],
    }));
  });
});

describe('signing keys', () => {
  let before: any[];
  let after: any[];

  test('given the running server, when keys are listed, then there is a current RS256 and ES256 key with public members only', async () => {
    const response = await api('GET', '/keys');
    before = expectJson(response, 200).items;
    expect(before.filter((key) => key.status === 'current').map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of before) {
      expect(key).toEqual(expect.objectContaining({ kid: expect.any(String), use: 'sig', created_at: expect.stringMatching(ISO_UTC) }));
      expect(key.public_jwk.kid).toBe(key.kid);
      for (const member of PRIVATE_JWK_MEMBERS) expect(key.public_jwk).not.toHaveProperty(member);
    }
    expect(response.text).not.toMatch(/"d"\s*:/);
  });

  test('given current keys, when rotated, then each algorithm has a different current key and the previous current keys are retired', async () => {
    const response = await api('POST', '/keys/rotate');
    after = expectJson(response, 200).items;
    expect(response.text).not.toMatch(/"d"\s*:/);
    const previousCurrent = before.filter((key) => key.status === 'current');
    const current = after.filter((key) => key.status === 'current');
    expect(current.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of current) {
      expect(previousCurrent.map((old) => old.kid)).not.toContain(key.kid);
      expect(key.activated_at).toMatch(ISO_UTC);
      expect(key.retired_at).toBeNull();
    }
    for (const old of previousCurrent) {
      expect(after.find((key) => key.kid === old.kid)).toEqual(expect.objectContaining({ status: 'retired', retired_at: expect.stringMatching(ISO_UTC) }));
    }
    for (const key of after) for (const member of PRIVATE_JWK_MEMBERS) expect(key.public_jwk).not.toHaveProperty(member);
    // The event names the keys the rotation brought in.
    const beforeKids = new Set(before.map((key) => key.kid));
    const introduced = after.filter((key) => !beforeKids.has(key.kid) || (key.status === 'current' && !previousCurrent.some((old) => old.kid === key.kid))).map((key) => key.kid);
    audited('key.rotate', (id) => id.length > 0 && id.split(',').every((kid) => introduced.includes(kid)));
    expect(expectJson(await api('GET', '/keys'), 200).items).toEqual(after);
  });

  test('given a rotation through the admin API, when the JWKS is fetched and a user signs in, then every listed key is published and new ID tokens carry the new current kid (checklist D6)', async () => {
    const jwks = (await (await fetch(`${app.origin}/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.map((key) => key.kid)).toEqual(expect.arrayContaining(after.map((key) => key.kid)));
    for (const key of jwks.keys) for (const member of PRIVATE_JWK_MEMBERS) expect(key).not.toHaveProperty(member);

    const { client, secret } = await createClient({ client_name: 'After rotation', redirect_uris: [REDIRECT_URI] });
    const user = await createUser();
    const tokens = await userTokens(app, { clientId: client.client_id, clientSecret: secret }, user.email, { scope: 'openid' });
    expect(tokens.status).toBe(200);
    const header = JSON.parse(Buffer.from(tokens.body.id_token!.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string; alg: string };
    expect(header).toEqual(expect.objectContaining({ alg: 'RS256', kid: after.find((key) => key.status === 'current' && key.alg === 'RS256').kid }));
  });
});

describe('registration tokens', () => {
  let created: any;

  test('given a new registration token, when created, then 201 shows the token once, and the listing shows its id but never the token', async () => {
    const response = await api('POST', '/registration-tokens', { expires_in: 3600 });
    created = expectJson(response, 201);
    audited('registration_token.create', created.id);
    issuedSecrets.push(created.token);
    expect(created).toEqual(expect.objectContaining({ id: expect.any(String), token: expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/), policies: ['gatehouse-dynamic'] }));
    const listed = await api('GET', '/registration-tokens');
    expect(expectJson(listed, 200).items).toEqual(expect.arrayContaining([expect.objectContaining({ id: created.id, policies: ['gatehouse-dynamic'] })]));
    expect(listed.text).not.toContain(created.token);
    expect(listed.text).not.toMatch(/"token"\s*:/);
  });

  test('given a token created with expires_in 3600, when created, then the response says when it was created and when it expires', async () => {
    const start = Date.now();
    const response = await api('POST', '/registration-tokens', { expires_in: 3600 });
    const body = expectJson(response, 201);
    audited('registration_token.create', body.id);
    issuedSecrets.push(body.token);
    expect(body.created_at).toMatch(ISO_UTC);
    expect(body.expires_at).toMatch(ISO_UTC);
    expect(Math.abs(Date.parse(body.expires_at) - (start + 3600 * 1000))).toBeLessThan(5000);
    const listed = expectJson(await api('GET', '/registration-tokens'), 200).items.find((item: any) => item.id === body.id);
    expect(Math.abs(Date.parse(listed.expires_at) - Date.parse(body.expires_at))).toBeLessThan(1000);
  });

  test('given a registration token, when a client registers with it at /reg, then the client is created and shown as dynamic', async () => {
    const response = await fetch(`${app.origin}/reg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Self registered', redirect_uris: ['https://rp.example/callback'] }),
    });
    expect(response.status).toBe(201);
    const registered = (await response.json()) as { client_id: string; client_secret: string };
    issuedSecrets.push(registered.client_secret);
    const dynamic = expectJson(await api('GET', '/clients?dynamic=true'), 200).items.map((client: any) => client.client_id);
    expect(dynamic).toContain(registered.client_id);
  });

  test('given a registration token, when revoked, then 204, it leaves the listing, /reg refuses it, and a second revocation is 404', async () => {
    expectNoContent(await api('DELETE', `/registration-tokens/${encodeURIComponent(created.id)}`));
    audited('registration_token.revoke', created.id);
    expect(expectJson(await api('GET', '/registration-tokens'), 200).items.map((item: any) => item.id)).not.toContain(created.id);
    const response = await fetch(`${app.origin}/reg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Too late', redirect_uris: ['https://rp.example/callback'] }),
    });
    expect(response.status).toBe(401);
    expectProblem(await api('DELETE', `/registration-tokens/${encodeURIComponent(created.id)}`), 404, 'not_found');
  });

  test('given no body, when a token is created, then it lives one day by default', async () => {
    const start = Date.now();
    const body = expectJson(await api('POST', '/registration-tokens'), 201);
    audited('registration_token.create', body.id);
    issuedSecrets.push(body.token);
    const listed = expectJson(await api('GET', '/registration-tokens'), 200).items.find((item: any) => item.id === body.id);
    expect(Math.abs(Date.parse(listed.expires_at) - (start + 24 * 3600 * 1000))).toBeLessThan(5000);
  });
});

describe('audit events', () => {
  async function allEvents(query: Record<string, string> = {}): Promise<any[]> {
    const events: any[] = [];
    let cursor: string | null = null;
    do {
      const search: string = new URLSearchParams({ limit: '200', ...query, ...(cursor ? { cursor } : {}) }).toString();
      const page = expectJson(await api('GET', `/audit-events?${search}`), 200);
      events.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return events;
  }

  test('given every change above, when the trail is read for this actor, then each change has exactly one event and failed requests have none', async () => {
    const events = await allEvents({ actor: admin.clientId });
    const unmatched = [...events];
    const missing: string[] = [];
    for (const expected of expectedEvents) {
      const index = unmatched.findIndex((event) => event.action === expected.action
        && (typeof expected.target === 'string' ? event.target.id === expected.target : expected.target(event.target.id)));
      if (index === -1) missing.push(`${expected.action} ${typeof expected.target === 'string' ? expected.target : '(predicate)'}`);
      else unmatched.splice(index, 1);
    }
    expect({ missing, unexpected: unmatched.map((event) => `${event.action} ${event.target.id}`) }).toEqual({ missing: [], unexpected: [] });
    for (const event of events) {
      expect(event.actor).toEqual({ type: 'client', id: admin.clientId, client_id: null, ip: expect.any(String), user_agent: expect.any(String) });
      expect(event.request_id).toEqual(expect.any(String));
      expect(event.occurred_at).toMatch(ISO_UTC);
    }
  });

  test('given a change, when its event is read, then it names the request that made it and holds the target before and after', async () => {
    const { client } = await createClient({ client_name: 'Audited', grant_types: ['client_credentials'] });
    const response = await api('PATCH', `/clients/${client.client_id}`, { client_name: 'Audited again' });
    expectJson(response, 200);
    audited('client.update', client.client_id);
    const [event] = await allEvents({ action: 'client.update', target_id: client.client_id });
    expect(event).toEqual(expect.objectContaining({
      action: 'client.update',
      target: { type: 'client', id: client.client_id },
      request_id: response.headers.get('x-request-id'),
      before: expect.objectContaining({ client_id: client.client_id, client_name: 'Audited' }),
      after: expect.objectContaining({ client_id: client.client_id, client_name: 'Audited again' }),
    }));
    const [created] = await allEvents({ action: 'client.create', target_id: client.client_id });
    expect(created.before).toBeNull();
    expect(created.after).toEqual(expect.objectContaining({ client_id: client.client_id, client_name: 'Audited' }));
    const [deletedRole] = await allEvents({ action: 'role.delete', target_id: 'authors' });
    expect(deletedRole.before).toEqual(expect.objectContaining({ name: 'authors' }));
    expect(deletedRole.after).toBeNull();
    const [renamed] = await allEvents({ action: 'role.update', target_id: 'editors' });
    expect({ before: renamed.before.name, after: renamed.after.name }).toEqual({ before: 'editors', after: 'authors' });
  });

  test('given the trail, when filtered by action, target_id, target_type or actor, then only matching events come back', async () => {
    const byAction = await allEvents({ action: 'role.create' });
    expect(byAction.length).toBe(expectedEvents.filter((event) => event.action === 'role.create').length);
    expect(byAction.every((event) => event.action === 'role.create')).toBe(true);

    const user = (await allEvents({ action: 'user.set_password' }))[0];
    const byTarget = await allEvents({ target_id: user.target.id });
    expect(byTarget.length).toBeGreaterThan(1);
    expect(byTarget.every((event) => event.target.id === user.target.id)).toBe(true);

    const byType = await allEvents({ target_type: 'registration_token' });
    expect(byType.length).toBeGreaterThanOrEqual(3);
    expect(byType.every((event) => event.target.type === 'registration_token')).toBe(true);

    const bySetup = await allEvents({ actor: 'test-setup' });
    expect(bySetup.length).toBeGreaterThanOrEqual(1);
    expect(bySetup.every((event) => event.actor.id === 'test-setup' && event.actor.type === 'cli')).toBe(true);
    expect(bySetup.map((event) => event.target.id)).toContain(admin.clientId);
    expect(await allEvents({ actor: 'nobody-at-all' })).toEqual([]);
  });

  test('given the trail, when it is paged, then events come newest first, each once', async () => {
    const all = await allEvents();
    const paged: any[] = [];
    let cursor: string | null = null;
    do {
      const search: string = new URLSearchParams({ limit: '7', ...(cursor ? { cursor } : {}) }).toString();
      const page = expectJson(await api('GET', `/audit-events?${search}`), 200);
      expect(page.items.length).toBeLessThanOrEqual(7);
      paged.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    expect(paged.map((event) => event.id)).toEqual(all.map((event) => event.id));
    const ids = paged.map((event) => BigInt(event.id));
    expect(ids.every((id, index) => index === 0 || id < ids[index - 1]!)).toBe(true);
  });

  test('given every secret issued in this file, when the whole trail is read, then no secret, hash or password appears in it', async () => {
    const text = JSON.stringify(await allEvents());
    expect(issuedSecrets.length).toBeGreaterThan(5);
    for (const secret of [...issuedSecrets, admin.clientSecret, PASSWORD, token]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/"client_secret"\s*:|"password"\s*:|argon2|secret_ciphertext|password_hash|registration_access_token/i);
  });
});
