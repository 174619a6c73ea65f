// Relying-party side of the tests: openid-client configured against the running
// Gatehouse, and a scripted sign-in through the real login and consent pages.
import * as oidc from 'openid-client';
import type { TestApp } from './app.js';
import { Browser, formAction, inputValue, type Hop } from './browser.js';

export const REDIRECT_URI = 'http://localhost:8080/callback';
export const POST_LOGOUT_URI = 'http://localhost:8080/signed-out';
export const PASSWORD = 'correct horse battery staple';
/** Changes made by test set-up are audited like an operator's from the CLI. */
export const TEST_ACTOR = { type: 'cli', id: 'test-setup' } as const;

export interface RegisteredClient {
  clientId: string;
  clientSecret?: string;
}

export async function registerClient(app: TestApp, input: Record<string, unknown> = {}): Promise<RegisteredClient> {
  const created = await app.app.services.clients.createClient({
    client_name: 'Test App',
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [POST_LOGOUT_URI],
    ...input,
  }, TEST_ACTOR);
  return { clientId: created.client.client_id, ...(created.client_secret ? { clientSecret: created.client_secret } : {}) };
}

let userCounter = 0;
export async function createUser(app: TestApp, input: Record<string, unknown> = {}) {
  userCounter += 1;
  return app.app.services.accounts.createUser({
    email: `user${userCounter}.${Date.now()}@example.com`,
    password: PASSWORD,
    ...input,
  }, TEST_ACTOR);
}

export async function relyingParty(app: TestApp, client: RegisteredClient, authMethod?: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(
    new URL(app.issuer),
    client.clientId,
    client.clientSecret ? { client_secret: client.clientSecret } : undefined,
    // Gatehouse accepts only a client's registered method; clients default to Basic.
    authMethod ?? (client.clientSecret ? oidc.ClientSecretBasic(client.clientSecret) : oidc.None()),
    { execute: [oidc.allowInsecureRequests] },
  );
}

export interface AuthRequest {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function authRequest(config: oidc.Configuration, params: Record<string, string> = {}): Promise<AuthRequest> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** Submits the login form on `page`; returns the hop after following the issuer's redirects. */
export async function submitLogin(browser: Browser, app: TestApp, page: Hop, login: string, password = PASSWORD): Promise<Hop> {
  return browser.follow(new URL(formAction(page.body, '/login'), app.issuer).toString(), app.issuer, {
    form: { csrf: inputValue(page.body, 'csrf'), login, password },
  });
}

export async function submitConsent(browser: Browser, app: TestApp, page: Hop, decision: 'confirm' | 'abort' = 'confirm'): Promise<Hop> {
  return browser.follow(new URL(formAction(page.body, `/${decision}`), app.issuer).toString(), app.issuer, {
    form: { csrf: inputValue(page.body, 'csrf') },
  });
}

/**
 * Runs the browser part of a sign-in: authorization request → login page → consent page
 * (when shown) → the redirect back to the client, which is returned.
 */
export async function signIn(
  browser: Browser,
  app: TestApp,
  request: AuthRequest,
  email: string,
  options: { password?: string; consent?: boolean } = {},
): Promise<URL> {
  let hop = await browser.follow(request.url.toString(), app.issuer);
  if (hop.status === 200 && hop.body.includes('/login"')) hop = await submitLogin(browser, app, hop, email, options.password);
  if (hop.status === 200 && hop.body.includes('/confirm"') && options.consent !== false) hop = await submitConsent(browser, app, hop);
  if (!hop.location || !hop.location.startsWith(REDIRECT_URI)) {
    throw new Error(`sign-in did not return to the client (status ${hop.status}): ${hop.body.slice(0, 300)}`);
  }
  return new URL(hop.location);
}

export async function exchange(config: oidc.Configuration, callback: URL, request: AuthRequest) {
  return oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
    expectedNonce: request.nonce,
  });
}

export { oidc, Browser };

/** For adapter tests that never register clients dynamically. */
export const UNUSED_REGISTRATION = {
  save: async () => {
    throw new Error('not used in this test');
  },
  remove: async () => {
    throw new Error('not used in this test');
  },
};

/** Creates the named roles that do not exist yet (users and clients can hold only existing roles). */
export async function ensureRoles(app: TestApp, names: string[]): Promise<void> {
  const existing = new Set((await app.app.services.roles.list({ limit: 200 })).items.map((role) => role.name));
  for (const name of names) {
    if (!existing.has(name)) await app.app.services.roles.create({ name }, TEST_ACTOR);
  }
}
