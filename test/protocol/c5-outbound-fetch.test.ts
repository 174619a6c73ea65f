// Checklist C5: outbound requests driven by client metadata cannot be pointed at the
// identity provider's own network. Black-box against the real app: private_key_jwt clients
// whose jwks_uri names the cloud metadata address or a loopback listener, and a
// back-channel logout URI on loopback. Each listener here is a plain TCP server that
// counts connections and never answers (so it is also a tarpit): the requirement is that
// it sees no connection at all and that the protocol answer is a clean 4xx, quickly.
// Redirects, body caps and the deadline against a live server are covered by
// test/unit/outbound-fetch.test.ts (they need a server the strict fetch may reach).
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { AppError } from '../../src/errors.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { tcpTarpit, type Listener } from '../helpers/listeners.js';
import { formAction, inputValue, type Hop } from '../helpers/browser.js';
import {
  Browser, POST_LOGOUT_URI, authRequest, createUser, exchange, registerClient, relyingParty, signIn, type RegisteredClient,
} from '../helpers/oidc.js';

// oidc-provider prepares its own undici-based address guard before every outbound request,
// even when `fetch` is replaced. Inside Jest's VM context it cannot (the undici global
// dispatcher it looks for lives in the outer realm) and warns that requests go unchecked;
// test/helpers/setup.ts would fail the file on that warning. Under plain Node the guard is
// set up silently, and createOutboundFetch does its own checking and ignores that
// dispatcher, so this one message, and only it, is dropped here.
const consoleWarn = console.warn;
console.warn = (...args: unknown[]) => {
  if (/oidc-provider WARNING: failed to setup SSRF protection for fetch/.test(args.map(String).join(' '))) return;
  consoleWarn(...args);
};

/** The checklist's bound on any outbound request, plus room for the app's own work. */
const DEADLINE_MS = 5000 + 1000;

let app: TestApp;
let tokenEndpoint: string;
let endSessionEndpoint: string;
let privateKey: CryptoKey;
let publicJwk: Record<string, unknown>;

const listeners: Listener[] = [];

/** Accepts TCP connections on every loopback address and never answers. */
async function tarpit(): Promise<Listener> {
  // '::' also takes IPv4 connections, so whatever "localhost" resolves to lands here.
  const listener = await tcpTarpit('::');
  listeners.push(listener);
  return listener;
}

beforeAll(async () => {
  app = await startApp();
  const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  tokenEndpoint = discovery.token_endpoint!;
  endSessionEndpoint = discovery.end_session_endpoint!;
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
});

afterAll(async () => {
  await Promise.all(listeners.map((listener) => listener.close()));
  await app.destroy();
});

/** Registers a private_key_jwt machine client; undefined when registration refuses the jwks_uri. */
async function keyClient(jwksUri: string): Promise<RegisteredClient | undefined> {
  try {
    return await registerClient(app, {
      client_name: 'Key Client',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: jwksUri,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      post_logout_redirect_uris: [],
    });
  } catch (error) {
    // Refusing at registration satisfies C5 too, but only as a validation error.
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(400);
    return undefined;
  }
}

async function assertion(clientId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: clientId, sub: clientId, aud: tokenEndpoint, jti: randomUUID(), iat: now, exp: now + 60 })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .sign(privateKey);
}

/** client_credentials with a signed assertion; the answer and how long it took. */
async function authenticate(c: RegisteredClient): Promise<{ status: number; body: Record<string, unknown>; contentType: string | null; ms: number }> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion(c.clientId),
  });
  const start = performance.now();
  const response = await fetch(tokenEndpoint, { method: 'POST', body: form, redirect: 'manual' });
  const text = await response.text();
  const ms = performance.now() - start;
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsed: text.slice(0, 200) };
  }
  return { status: response.status, body, contentType: response.headers.get('content-type'), ms };
}

/** A clean OAuth refusal of the client: 400/401 invalid_client as JSON, never a 5xx, in time. */
async function expectClientRefused(c: RegisteredClient): Promise<void> {
  const reply = await authenticate(c);
  expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 401, error: 'invalid_client' });
  expect(reply.contentType).toMatch(/^application\/json\b/);
  expect(reply.ms).toBeLessThan(DEADLINE_MS);
}

// ---------------------------------------------------------------------------------------
describe('C5 outbound fetches driven by client metadata never reach internal addresses', () => {
  test('control: a private_key_jwt client with its keys registered inline authenticates', async () => {
    const c = await registerClient(app, {
      client_name: 'Inline Keys',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [publicJwk] },
      grant_types: ['client_credentials'],
      redirect_uris: [],
      post_logout_redirect_uris: [],
    });
    const reply = await authenticate(c);
    expect(reply.status).toBe(200);
    expect(typeof reply.body.access_token).toBe('string');
  });

  test('when jwks_uri is http:, then registration refuses it', async () => {
    await expect(keyClient('http://keys.example.com/jwks')).resolves.toBeUndefined();
  });

  test('when jwks_uri is the cloud metadata address (https://169.254.169.254/…), then registration or client authentication refuses it', async () => {
    const c = await keyClient('https://169.254.169.254/latest/meta-data/jwks');
    if (c) await expectClientRefused(c);
  });

  test('when jwks_uri is a name that resolves to loopback (https://localhost:<port>/…), then invalid_client and the listener sees no connection', async () => {
    const listener = await tarpit();
    const c = await keyClient(`https://localhost:${listener.port}/jwks`);
    if (c) {
      await expectClientRefused(c);
      // A second attempt is not let through by anything cached from the first.
      await expectClientRefused(c);
    }
    expect(listener.connections).toBe(0);
  });

  test('when jwks_uri is a literal loopback address (IPv4, IPv6, IPv4-mapped), then invalid_client and no connection', async () => {
    const listener = await tarpit();
    for (const host of ['127.0.0.1', '[::1]', '[::ffff:127.0.0.1]']) {
      const c = await keyClient(`https://${host}:${listener.port}/jwks`);
      if (c) await expectClientRefused(c);
    }
    expect(listener.connections).toBe(0);
  });

  test('when a signed-in client has a loopback backchannel_logout_uri, then logout completes in time and the listener sees no connection', async () => {
    const listener = await tarpit();
    const client = await registerClient(app, {
      client_name: 'Back-channel RP',
      first_party: true,
      backchannel_logout_uri: `https://localhost:${listener.port}/backchannel-logout`,
      backchannel_logout_session_required: true,
    });
    const user = await createUser(app);
    const config = await relyingParty(app, client);
    const browser = new Browser();
    const request = await authRequest(config);
    const tokens = await exchange(config, await signIn(browser, app, request, user.email), request);

    const url = new URL(endSessionEndpoint);
    url.search = new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }).toString();
    const page: Hop = await browser.request(url.toString(), { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const start = performance.now();
    const done = await browser.request(new URL(formAction(page.body, '/session/end/confirm'), app.issuer).toString(), {
      form: { xsrf: inputValue(page.body, 'xsrf'), logout: 'yes' },
    });
    const ms = performance.now() - start;
    expect([302, 303]).toContain(done.status);
    expect(done.location).toBe(POST_LOGOUT_URI);
    expect(ms).toBeLessThan(DEADLINE_MS);
    expect(listener.connections).toBe(0);
  });
});
