// Checklist section A (authorization endpoint, /auth) plus the bad-input rules of I2/I3
// as they apply to /auth. Everything goes over HTTP against the real app: raw requests
// (no redirects followed) for the protocol edges, openid-client where a relying party
// redeems what the endpoint issued.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { formAction, inputValue, type Hop } from '../helpers/browser.js';
import {
  Browser, REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, signIn,
  type AuthRequest, type RegisteredClient,
} from '../helpers/oidc.js';

/** Short enough to wait out in A17, long enough for every other test to redeem its code. */
const CODE_TTL = 3;
/** A syntactically valid S256 challenge (RFC 7636 appendix B) for requests never redeemed. */
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeKt8zyYIlE7hG4ySzMQ';
const EVIL = 'https://evil.example';

let app: TestApp;
let user: { id: string; email: string };
/** Confidential (client_secret_basic), PKCE required (the default). */
let confidential: RegisteredClient;
/** Public (none + PKCE). */
let publicClient: RegisteredClient;
/** Confidential, registered with require_pkce=false (a legacy relying party). */
let legacy: RegisteredClient;
/**
 * A browser signed in as `user` (consent given to `publicClient`, max_age requested so the
 * ID token has auth_time), shared by the tests that only need an existing session.
 */
let shared: Awaited<ReturnType<typeof signedIn>>;

beforeAll(async () => {
  app = await startApp({ env: { AUTHORIZATION_CODE_TTL: String(CODE_TTL) } });
  user = await createUser(app);
  confidential = await registerClient(app);
  publicClient = await registerClient(app, { token_endpoint_auth_method: 'none' });
  legacy = await registerClient(app, { require_pkce: false });
  shared = await signedIn(publicClient, { scope: 'openid profile email', max_age: '86400' });
});
afterAll(async () => {
  await app.destroy();
});

// ---------------------------------------------------------------------------------------
// Helpers

function authUrl(params: Record<string, string>): string {
  return `${app.issuer}/auth?${new URLSearchParams(params).toString()}`;
}

/** A complete, valid request for `client`; override or drop (undefined) any parameter. */
function requestParams(client: RegisteredClient, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const params: Record<string, string | undefined> = {
    client_id: client.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid',
    state: 'state-123',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** One request, no redirect followed, no cookies. */
async function get(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Hop> {
  return new Browser().request(url, init);
}

/** Authorization response parameters, from the query or the fragment. */
function responseParams(location: string): URLSearchParams {
  const url = new URL(location);
  return url.hash ? new URLSearchParams(url.hash.slice(1)) : url.searchParams;
}

function leavesToClient(hop: Hop): boolean {
  if (!hop.location) return false;
  const url = new URL(hop.location);
  return `${url.origin}${url.pathname}` === REDIRECT_URI;
}

function expectNoStackTrace(hop: Hop): void {
  expect(hop.body).not.toMatch(/\n\s+at [^\n]+:\d+:\d+|node_modules|[\w/]+\.(?:ts|js):\d+|DriverAdapterError|Prisma/);
}

/** An error page: 4xx, no Location at all, the OAuth error code (one of `codes`) named on the page. */
function expectErrorPage(hop: Hop, codes?: string | string[]): void {
  expect({ status: hop.status, location: hop.location }).toEqual({ status: expect.any(Number), location: undefined });
  expect(hop.status).toBeGreaterThanOrEqual(400);
  expect(hop.status).toBeLessThan(500);
  if (codes) expect([codes].flat().map((code) => `Error code: ${code}`)).toContain(/Error code: [\w-]+/.exec(hop.body)?.[0]);
  expectNoStackTrace(hop);
}

/** A protocol error sent back to the registered redirect URI (RFC 6749 §4.1.2.1, RFC 9207). */
function expectErrorRedirect(hop: Hop, errors: string[], state?: string | null): URLSearchParams {
  expect([302, 303]).toContain(hop.status);
  expect(leavesToClient(hop)).toBe(true);
  const params = responseParams(hop.location!);
  expect(errors).toContain(params.get('error'));
  expect(params.get('code')).toBeNull();
  expect(params.get('iss')).toBe(app.issuer);
  if (state !== undefined) expect(params.get('state')).toBe(state);
  expect(params.get('error_description') ?? '').not.toMatch(/[\r\n\t]/);
  return params;
}

/** Either form of a clean refusal: an error redirect to the registered URI, or an error page. */
function expectRefused(hop: Hop, errors: string[]): void {
  if (hop.location && leavesToClient(hop)) {
    expectErrorRedirect(hop, errors);
  } else {
    expectErrorPage(hop);
    expect(errors.some((error) => hop.body.includes(`Error code: ${error}`)) || [413, 414, 431].includes(hop.status)).toBe(true);
  }
}

/** The request was accepted: the browser is sent to the login/consent pages. */
function expectInteraction(hop: Hop): void {
  expect({ status: hop.status, location: hop.location?.replace(/\/interaction\/[\w-]+$/, '/interaction/:uid') })
    .toEqual({ status: 303, location: `${app.issuer}/interaction/:uid` });
}

function expectCode(hop: Hop, state?: string): URL {
  expect([302, 303]).toContain(hop.status);
  expect(leavesToClient(hop)).toBe(true);
  const callback = new URL(hop.location!);
  expect(callback.searchParams.get('error')).toBeNull();
  expect(callback.searchParams.get('code')).toMatch(/^[\w-]+$/);
  expect(callback.searchParams.get('iss')).toBe(app.issuer);
  if (state !== undefined) expect(callback.searchParams.get('state')).toBe(state);
  return callback;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A browser signed in to Gatehouse with consent given to `client`, and its first tokens. */
async function signedIn(client: RegisteredClient, params: Record<string, string> = {}) {
  const config = await relyingParty(app, client);
  const browser = new Browser();
  const request = await authRequest(config, params);
  const tokens = await exchange(config, await signIn(browser, app, request, user.email), request);
  return { config, browser, tokens };
}

/** Sends `request` with an already signed-in browser; expects a code without any page, and redeems it. */
async function silentTokens(browser: Browser, config: oidc.Configuration, request: AuthRequest) {
  const hop = await browser.request(request.url.toString());
  const callback = expectCode(hop, request.state);
  return exchange(config, callback, request);
}

// ---------------------------------------------------------------------------------------

describe('A1 redirect_uri is matched by exact string comparison', () => {
  const mutations: Array<[string, string]> = [
    ['a trailing slash', `${REDIRECT_URI}/`],
    ['a different path case', 'http://localhost:8080/Callback'],
    ['an upper-case host', 'http://LOCALHOST:8080/callback'],
    ['an upper-case scheme', 'HTTP://localhost:8080/callback'],
    ['another port', 'http://localhost:8081/callback'],
    ['a zero-padded port', 'http://localhost:08080/callback'],
    ['an added query', `${REDIRECT_URI}?x=1`],
    ['an empty query', `${REDIRECT_URI}?`],
    ['an empty fragment', `${REDIRECT_URI}#`],
    ['a dot-dot segment', `${REDIRECT_URI}/../evil`],
    ['a dot segment', 'http://localhost:8080/./callback'],
    ['a doubled slash', 'http://localhost:8080//callback'],
    ['a prefix of the registered path', 'http://localhost:8080/call'],
    ['an extended path', `${REDIRECT_URI}/evil`],
    ['a path parameter', `${REDIRECT_URI};x=1`],
    ['an encoded slash', 'http://localhost:8080%2Fcallback'],
    ['an encoded trailing slash', `${REDIRECT_URI}%2F`],
    ['a percent-encoded letter', 'http://localhost:8080/%63allback'],
    ['trailing whitespace', `${REDIRECT_URI} `],
    ['a NUL byte', `${REDIRECT_URI}\u0000`],
    ['https instead of http', 'https://localhost:8080/callback'],
    ['the loopback IP instead of localhost', 'http://127.0.0.1:8080/callback'],
    ['userinfo', 'http://user@localhost:8080/callback'],
    ['the registered authority as userinfo', 'http://localhost:8080@evil.example/callback'],
    ['the registered host as a subdomain', 'http://localhost.evil.example:8080/callback'],
    ['an IDN look-alike host', 'http://lοcalhost:8080/callback'],
    ['another site', `${EVIL}/callback`],
  ];

  test.each(mutations)('when redirect_uri has %s, then an error page is shown and nothing redirects', async (_name, uri) => {
    const hop = await get(authUrl(requestParams(confidential, { redirect_uri: uri })));
    // invalid_request is as good for the malformed ones (NUL, whitespace): no redirect either way.
    expectErrorPage(hop, ['invalid_redirect_uri', 'invalid_request']);
    expect(hop.status).toBe(400);
  });

  test('when redirect_uri is exactly the registered URI, then the flow completes with a code', async () => {
    const config = await relyingParty(app, confidential, oidc.ClientSecretBasic(confidential.clientSecret));
    const request = await authRequest(config);
    const callback = await signIn(new Browser(), app, request, user.email);
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const tokens = await exchange(config, callback, request);
    expect(tokens.claims()!.sub).toBe(user.id);
  });

  describe('native clients with loopback redirect URIs', () => {
    let native: RegisteredClient;
    beforeAll(async () => {
      native = await registerClient(app, {
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb'],
      });
    });

    test.each([
      ['another IPv4 loopback port', 'http://127.0.0.1:51234/cb'],
      ['another IPv6 loopback port', 'http://[::1]:40000/cb'],
    ])('when the redirect_uri differs only by %s, then the request is accepted', async (_name, uri) => {
      expectInteraction(await get(authUrl(requestParams(native, { redirect_uri: uri }))));
    });

    test.each([
      ['a different path', 'http://127.0.0.1:51234/cb/'],
      ['localhost instead of the loopback IP', 'http://localhost:8080/cb'],
      ['https', 'https://127.0.0.1:8080/cb'],
      ['an added query', 'http://127.0.0.1:8080/cb?x=1'],
    ])('when a loopback redirect_uri has %s, then an error page is shown', async (_name, uri) => {
      expectErrorPage(await get(authUrl(requestParams(native, { redirect_uri: uri }))), 'invalid_redirect_uri');
    });
  });
});

describe('A2 unknown or missing client_id, or a redirect_uri of another client', () => {
  let other: RegisteredClient;
  beforeAll(async () => {
    other = await registerClient(app, { redirect_uris: ['https://other.example/cb'] });
  });

  test('when the client_id is unknown, then an error page is shown without a redirect', async () => {
    const hop = await get(authUrl(requestParams(confidential, { client_id: 'nope', redirect_uri: `${EVIL}/cb` })));
    expectErrorPage(hop, 'invalid_client');
  });

  test('when the client_id is unknown but the redirect_uri is registered for some client, then still no redirect', async () => {
    expectErrorPage(await get(authUrl(requestParams(confidential, { client_id: 'nope' }))), 'invalid_client');
  });

  test('when the client_id is missing, then an error page is shown without a redirect', async () => {
    expectErrorPage(await get(authUrl(requestParams(confidential, { client_id: undefined }))), 'invalid_request');
  });

  test('when the redirect_uri belongs to another client, then an error page is shown without a redirect', async () => {
    const hop = await get(authUrl(requestParams(confidential, { redirect_uri: 'https://other.example/cb' })));
    expectErrorPage(hop, 'invalid_redirect_uri');
    // …and the other client's own pair is fine, so the refusal is about the pairing.
    expectInteraction(await get(authUrl(requestParams(other, { redirect_uri: 'https://other.example/cb' }))));
  });
});

describe('A3 a request without redirect_uri', () => {
  test('when a client with two registered URIs omits redirect_uri, then an error page is shown', async () => {
    const two = await registerClient(app, { redirect_uris: [REDIRECT_URI, 'https://two.example/cb'] });
    expectErrorPage(await get(authUrl(requestParams(two, { redirect_uri: undefined }))), 'invalid_request');
  });

  test('when a client with one registered URI omits redirect_uri, then it is rejected too (policy)', async () => {
    expectErrorPage(await get(authUrl(requestParams(confidential, { redirect_uri: undefined }))), 'invalid_request');
  });
});

describe('A4 protocol errors go back to the validated redirect_uri', () => {
  test('when response_type is missing, then the client gets invalid_request with the same state and iss, by 302/303', async () => {
    const hop = await get(authUrl(requestParams(confidential, { response_type: undefined, state: 'keep me' })));
    expectErrorRedirect(hop, ['invalid_request', 'unsupported_response_type'], 'keep me');
  });

  test('when response_type is empty, then the client gets invalid_request or unsupported_response_type', async () => {
    const hop = await get(authUrl(requestParams(confidential, { response_type: '' })));
    expectErrorRedirect(hop, ['invalid_request', 'unsupported_response_type'], 'state-123');
  });

  test('when the state holds URL-special characters, then it comes back unchanged', async () => {
    const state = ' a b&c=d#e%f+g?h/i"j<k>l\\m;n';
    const hop = await get(authUrl(requestParams(confidential, { response_type: undefined, state })));
    expectErrorRedirect(hop, ['invalid_request', 'unsupported_response_type'], state);
  });

  test('when the state holds CR, LF and TAB, then no header is injected and any echo is unchanged', async () => {
    // state is 1*VSCHAR (RFC 6749 A.5): refusing it is as fine as echoing it encoded.
    const state = 'a\r\nX-Injected: yes\tb';
    const hop = await get(authUrl(requestParams(confidential, { response_type: undefined, state })));
    expect(hop.headers.get('x-injected')).toBeNull();
    expect(hop.headers.get('location') ?? '').not.toMatch(/[\r\n\t]/);
    if (hop.location && leavesToClient(hop)) {
      const params = expectErrorRedirect(hop, ['invalid_request', 'unsupported_response_type']);
      if (params.has('state')) expect(params.get('state')).toBe(state);
    } else {
      expectErrorPage(hop, 'invalid_request');
    }
  });
});

describe('A5 only response_type=code is supported', () => {
  test.each(['token', 'id_token', 'id_token token', 'code token', 'code id_token', 'code id_token token', 'none'])(
    'when response_type is "%s", then the client gets unsupported_response_type',
    async (responseType) => {
      const hop = await get(authUrl(requestParams(confidential, { response_type: responseType })));
      expectErrorRedirect(hop, ['unsupported_response_type'], 'state-123');
    },
  );

  test('when discovery is read, then response_types_supported is exactly ["code"]', async () => {
    const metadata = await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata['response_types_supported']).toEqual(['code']);
  });
});

describe('A6 PKCE is required, S256 only, well-formed', () => {
  test('when a public client sends no code_challenge, then invalid_request', async () => {
    const hop = await get(authUrl(requestParams(publicClient, { code_challenge: undefined, code_challenge_method: undefined })));
    expectErrorRedirect(hop, ['invalid_request'], 'state-123');
  });

  test('when a confidential client (PKCE required for all) sends no code_challenge, then invalid_request', async () => {
    const hop = await get(authUrl(requestParams(confidential, { code_challenge: undefined, code_challenge_method: undefined })));
    expectErrorRedirect(hop, ['invalid_request'], 'state-123');
  });

  test('when code_challenge_method is plain, then invalid_request', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const hop = await get(authUrl(requestParams(publicClient, { code_challenge: verifier, code_challenge_method: 'plain' })));
    expectErrorRedirect(hop, ['invalid_request'], 'state-123');
  });

  test('when code_challenge is given without a method, then invalid_request (no silent plain)', async () => {
    const hop = await get(authUrl(requestParams(publicClient, { code_challenge_method: undefined })));
    expectErrorRedirect(hop, ['invalid_request'], 'state-123');
  });

  test.each([
    ['10 characters', 'abcdefghij'],
    ['42 characters', CHALLENGE.slice(0, 42)],
    ['a "+" (base64, not base64url)', `${CHALLENGE.slice(0, 42)}+`],
    ['a "=" pad', `${CHALLENGE.slice(0, 42)}=`],
    ['129 characters', 'A'.repeat(129)],
  ])('when code_challenge has %s, then invalid_request', async (_name, challenge) => {
    const hop = await get(authUrl(requestParams(publicClient, { code_challenge: challenge })));
    expectErrorRedirect(hop, ['invalid_request'], 'state-123');
  });

  test.each([
    ['44 base64url characters', `${CHALLENGE}A`],
    ['43 characters including "~"', `${CHALLENGE.slice(0, 42)}~`],
    ['43 characters including "."', `${CHALLENGE.slice(0, 42)}.`],
  ])('when an S256 code_challenge has %s (not 43 base64url characters), then invalid_request', async (_name, challenge) => {
    const hop = await get(authUrl(requestParams(publicClient, { code_challenge: challenge })));
    expectErrorRedirect(hop, ['invalid_request'], 'state-123');
  });

  test('when a confidential client registered with require_pkce=false sends no challenge, then it may proceed', async () => {
    // The control for the cases above: the refusal comes from the PKCE policy, nothing else.
    expectInteraction(await get(authUrl(requestParams(legacy, { code_challenge: undefined, code_challenge_method: undefined }))));
  });
});

describe('A7 a valid S256 request from a confidential client succeeds', () => {
  test.each([
    ['PKCE is optional for it (require_pkce=false)', () => legacy],
    ['PKCE is required for it', () => confidential],
  ])('when %s and it sends S256 PKCE, then a code is issued and redeemed with the verifier', async (_name, pick) => {
    const client = pick();
    const config = await relyingParty(app, client, oidc.ClientSecretBasic(client.clientSecret));
    const request = await authRequest(config);
    expect(request.url.searchParams.get('code_challenge_method')).toBe('S256');
    const callback = await signIn(new Browser(), app, request, user.email);
    const tokens = await exchange(config, callback, request);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.claims()!.sub).toBe(user.id);
  });
});

describe('A8 unknown parameters, order, POST, optional OIDC parameters, duplicates', () => {
  let session: Awaited<ReturnType<typeof signedIn>>;
  beforeAll(() => {
    session = shared;
  });

  test('when an unknown parameter is added, then it is ignored and the flow completes', async () => {
    const config = await relyingParty(app, publicClient);
    const request = await authRequest(config, { extra: 'foobar', 'a[b][c]': '1' });
    const tokens = await exchange(config, await signIn(new Browser(), app, request, user.email), request);
    expect(tokens.claims()!.sub).toBe(user.id);
  });

  test('when the scope order is reversed, then the flow completes with the same scopes', async () => {
    const request = await authRequest(session.config, { scope: 'email profile openid' });
    const tokens = await silentTokens(session.browser, session.config, request);
    expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'openid', 'profile']);
  });

  test('when the parameters come in another order, then the flow completes', async () => {
    const request = await authRequest(session.config);
    const reversed = new URLSearchParams([...request.url.searchParams.entries()].reverse());
    const hop = await session.browser.request(`${app.issuer}/auth?${reversed.toString()}`);
    await exchange(session.config, expectCode(hop, request.state), request);
  });

  test('when the authorization request is sent as a form POST, then it is processed like the GET', async () => {
    const request = await authRequest(session.config);
    // Redirects within Gatehouse are followed (a 303 to a GET would be a fine design).
    const hop = await session.browser.follow(`${app.issuer}/auth`, app.issuer, {
      form: Object.fromEntries(request.url.searchParams.entries()),
    });
    await exchange(session.config, expectCode(hop, request.state), request);
  });

  test.each([
    ['display=page', { display: 'page' }],
    ['display=popup', { display: 'popup' }],
    ['ui_locales', { ui_locales: 'fr-CA fr en' }],
    ['claims_locales', { claims_locales: 'de en' }],
  ])('when %s is sent, then the flow completes without error', async (_name, params) => {
    const tokens = await silentTokens(session.browser, session.config, await authRequest(session.config, params));
    expect(tokens.claims()!.sub).toBe(user.id);
  });

  test('when acr_values is sent, then the flow completes and any acr is one of the requested values', async () => {
    const requested = ['urn:gatehouse:acr:pwd', '0'];
    const request = await authRequest(session.config, { acr_values: requested.join(' ') });
    const claims = (await silentTokens(session.browser, session.config, request)).claims()!;
    expect(claims.sub).toBe(user.id);
    if (claims.acr !== undefined) expect(requested).toContain(claims.acr);
  });

  test('when login_hint is sent, then the login form is prefilled with it and the flow completes', async () => {
    const config = await relyingParty(app, publicClient);
    const browser = new Browser();
    const request = await authRequest(config, { login_hint: user.email });
    const page = await browser.follow(request.url.toString(), app.issuer);
    expect(page.status).toBe(200);
    expect(inputValue(page.body, 'login')).toBe(user.email);
    await exchange(config, await signIn(browser, app, request, user.email), request);
  });

  test('when redirect_uri appears twice, then an error page is shown (never "first wins")', async () => {
    const url = `${authUrl(requestParams(publicClient))}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`;
    expectErrorPage(await session.browser.request(url), 'invalid_request');
  });

  test.each(['scope', 'response_type', 'code_challenge', 'client_id', 'state', 'nonce'])(
    'when %s appears twice, then the request is refused with invalid_request',
    async (param) => {
      const params = requestParams(publicClient, { nonce: 'n-1' });
      const url = `${authUrl(params)}&${param}=${encodeURIComponent(params[param]!)}`;
      // Signed in: a request that slipped through would come back with a code.
      const hop = await session.browser.request(url);
      expectRefused(hop, ['invalid_request']);
    },
  );
});

describe('A9 prompt=none', () => {
  test('when there is no session, then the client gets login_required at once, without any page', async () => {
    const hop = await get(authUrl(requestParams(publicClient, { prompt: 'none' })));
    expectErrorRedirect(hop, ['login_required', 'interaction_required', 'consent_required', 'account_selection_required'], 'state-123');
  });

  test('when there is a session, then a code comes back silently with the same sub and auth_time', async () => {
    const first = shared;
    const before = first.tokens.claims()!;
    expect(before.auth_time).toEqual(expect.any(Number));

    const silent = await silentTokens(first.browser, first.config, await authRequest(first.config, { prompt: 'none', max_age: '86400' }));
    expect(silent.claims()!.sub).toBe(before.sub);
    expect(silent.claims()!.auth_time).toBe(before.auth_time);

    const hinted = await silentTokens(
      first.browser,
      first.config,
      await authRequest(first.config, { prompt: 'none', id_token_hint: first.tokens.id_token! }),
    );
    expect(hinted.claims()!.sub).toBe(user.id);
  });
});

describe('A10 prompt=login and max_age force a new authentication', () => {
  test('when prompt=login, max_age=1 and max_age=10000 are sent, then login is forced, forced, and not forced', async () => {
    const first = await signedIn(publicClient, { max_age: '86400' });
    const firstAuthTime = first.tokens.claims()!.auth_time!;
    await sleep(1100);

    // prompt=login: the login form is served again despite the session.
    const forced = await authRequest(first.config, { prompt: 'login', max_age: '86400' });
    const page = await first.browser.follow(forced.url.toString(), app.issuer);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/action="[^"]*\/login"/);
    const afterLogin = await exchange(first.config, await signIn(first.browser, app, forced, user.email), forced);
    const secondAuthTime = afterLogin.claims()!.auth_time!;
    expect(secondAuthTime).toBeGreaterThan(firstAuthTime);

    // max_age=1 more than a second after the last login: login again, auth_time in the ID token.
    // auth_time has whole-second resolution, so "more than 1 s" is only certain after 2 s.
    await sleep(2000);
    const aged = await authRequest(first.config, { max_age: '1' });
    const agedPage = await first.browser.follow(aged.url.toString(), app.issuer);
    expect(agedPage.status).toBe(200);
    expect(agedPage.body).toMatch(/action="[^"]*\/login"/);
    const agedTokens = await exchange(first.config, await signIn(first.browser, app, aged, user.email), aged);
    const thirdAuthTime = agedTokens.claims()!.auth_time;
    expect(thirdAuthTime).toEqual(expect.any(Number));
    expect(thirdAuthTime!).toBeGreaterThan(secondAuthTime);

    // max_age=10000: the session is recent enough, no login.
    const recent = await silentTokens(first.browser, first.config, await authRequest(first.config, { max_age: '10000' }));
    expect(recent.claims()!.auth_time).toBe(thirdAuthTime);
  });
});

describe('A11 state and nonce come back unchanged; nonce is optional for code', () => {
  test('when a 512-character state of arbitrary characters and a 2 KB nonce are sent, then both come back unchanged', async () => {
    const printable = Array.from(randomBytes(512), (byte) => String.fromCharCode(0x20 + (byte % 95))).join('');
    const nonce = randomBytes(1536).toString('base64url');
    expect(nonce.length).toBe(2048);
    const config = await relyingParty(app, publicClient);
    const request = { ...(await authRequest(config, { state: printable, nonce })), state: printable, nonce };
    const callback = await signIn(new Browser(), app, request, user.email);
    expect(callback.searchParams.get('state')).toBe(printable);
    const tokens = await exchange(config, callback, request);
    expect(tokens.claims()!.nonce).toBe(nonce);
  });

  test('when a 2 KB state is sent, then it is accepted and comes back unchanged', async () => {
    const state = randomBytes(1536).toString('base64url');
    const hop = await get(authUrl(requestParams(publicClient, { state, response_type: 'token' })));
    // An error response is the cheapest way to see the echo without a login.
    expectErrorRedirect(hop, ['unsupported_response_type'], state);
    expectInteraction(await get(authUrl(requestParams(publicClient, { state }))));
  });

  test('when no nonce is sent with response_type=code, then a code and an ID token without nonce are issued', async () => {
    const config = await relyingParty(app, publicClient);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.has('nonce')).toBe(false);
    const callback = await signIn(new Browser(), app, { url, verifier, state, nonce: '' }, user.email);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.sub).toBe(user.id);
    expect(tokens.claims()!.nonce).toBeUndefined();
  });

  // Larger values (10 KB) must be refused: see the I2 tests at the end of this file.
});

describe('A12 every authorization response carries iss', () => {
  test('when discovery is read, then authorization_response_iss_parameter_supported is true and issuer is the app', async () => {
    const metadata = await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata['authorization_response_iss_parameter_supported']).toBe(true);
    expect(metadata['issuer']).toBe(app.issuer);
  });

  test('when a code, a query error and a fragment error come back, then each carries iss equal to the issuer', async () => {
    const session = shared;
    const request = await authRequest(session.config);
    const success = new URL((await session.browser.request(request.url.toString())).location!);
    expect(success.searchParams.get('code')).toBeTruthy();
    expect(success.searchParams.get('iss')).toBe(app.issuer);

    const queryError = await get(authUrl(requestParams(publicClient, { prompt: 'none' })));
    expect(responseParams(queryError.location!).get('iss')).toBe(app.issuer);
    const fragmentError = await get(authUrl(requestParams(publicClient, { response_type: 'code token' })));
    expect(new URL(fragmentError.location!).hash).toContain('error=');
    expect(responseParams(fragmentError.location!).get('iss')).toBe(app.issuer);
  });
});

describe('A13 redirects after a credential POST are 303 (or 302), never 307/308', () => {
  test('when the login and the consent forms are posted, then each answer is a 303/302', async () => {
    const freshUser = await createUser(app);
    const client = await registerClient(app, { token_endpoint_auth_method: 'none' });
    const config = await relyingParty(app, client);
    const browser = new Browser();
    const request = await authRequest(config);

    const loginPage = await browser.follow(request.url.toString(), app.issuer);
    const loginPost = await browser.request(new URL(formAction(loginPage.body, '/login'), app.issuer).toString(), {
      form: { csrf: inputValue(loginPage.body, 'csrf'), login: freshUser.email, password: 'correct horse battery staple' },
    });
    expect([302, 303]).toContain(loginPost.status);

    const consentPage = await browser.follow(loginPost.location!, app.issuer);
    expect(consentPage.status).toBe(200);
    const consentPost = await browser.request(new URL(formAction(consentPage.body, '/confirm'), app.issuer).toString(), {
      form: { csrf: inputValue(consentPage.body, 'csrf') },
    });
    expect([302, 303]).toContain(consentPost.status);

    const final = await browser.follow(consentPost.location!, app.issuer);
    expect([302, 303]).toContain(final.status);
    await exchange(config, expectCode(final, request.state), request);
  });
});

describe('A14 no open redirector; authentication before any redirect; consent can be denied', () => {
  test('when a fresh browser sends a valid request, then it goes to the login page, not to the client', async () => {
    const hop = await get(authUrl(requestParams(publicClient)));
    expectInteraction(hop);
    expect(leavesToClient(hop)).toBe(false);
  });

  test('when the user denies consent, then the client gets access_denied with the state', async () => {
    const freshUser = await createUser(app);
    const client = await registerClient(app, { token_endpoint_auth_method: 'none' });
    const config = await relyingParty(app, client);
    const browser = new Browser();
    const request = await authRequest(config);
    const loginPage = await browser.follow(request.url.toString(), app.issuer);
    const consentPage = await browser.follow(new URL(formAction(loginPage.body, '/login'), app.issuer).toString(), app.issuer, {
      form: { csrf: inputValue(loginPage.body, 'csrf'), login: freshUser.email, password: 'correct horse battery staple' },
    });
    expect(consentPage.body).toMatch(/\/abort"/);
    const denied = await browser.request(new URL(formAction(consentPage.body, '/abort'), app.issuer).toString(), {
      form: { csrf: inputValue(consentPage.body, 'csrf') },
    });
    expect([302, 303]).toContain(denied.status);
    const back = await browser.follow(denied.location!, app.issuer);
    expectErrorRedirect(back, ['access_denied'], request.state);
  });

  test('when https://evil.example is put in every URL-like parameter of the front-channel routes, then nothing redirects there', async () => {
    const session = shared;
    const uid = (await get(authUrl(requestParams(publicClient)))).location!.split('/').pop()!;
    const names = ['redirect_uri', 'return_to', 'returnTo', 'next', 'redirect', 'redirect_to', 'url', 'continue', 'goto', 'post_logout_redirect_uri', 'target'];
    const evilParams = new URLSearchParams(names.map((name) => [name, `${EVIL}/x`]));
    const targets = [
      `${app.issuer}/?${evilParams}`,
      `${app.issuer}/auth?${evilParams}`,
      `${app.issuer}/auth?${new URLSearchParams({ ...requestParams(publicClient), ...Object.fromEntries(evilParams), redirect_uri: REDIRECT_URI })}`,
      `${app.issuer}/auth/${uid}?${evilParams}`,
      `${app.issuer}/interaction/${uid}?${evilParams}`,
      `${app.issuer}/session/end?${evilParams}`,
      `${app.issuer}/session/end?client_id=${publicClient.clientId}&${evilParams}`,
      `${app.issuer}/session/end?client_id=${publicClient.clientId}&id_token_hint=${session.tokens.id_token}&post_logout_redirect_uri=${encodeURIComponent(`${EVIL}/`)}`,
      `${app.issuer}/healthz?${evilParams}`,
    ];
    for (const browser of [new Browser(), session.browser]) {
      for (const target of targets) {
        const hop = await browser.request(target);
        expect({ target, status: hop.status, location: hop.location?.startsWith(EVIL) ?? false }).toEqual({
          target, status: expect.any(Number), location: false,
        });
        expect(hop.body).not.toContain('evil.example');
        expect(hop.status).toBeLessThan(500);
      }
    }

    // The logout without a client posts an auto-submitted confirmation; completing it
    // must not reach the injected post_logout_redirect_uri either.
    const browser = new Browser();
    const logout = await browser.request(`${app.issuer}/session/end?post_logout_redirect_uri=${encodeURIComponent(`${EVIL}/`)}`);
    expect(logout.status).toBe(200);
    const done = await browser.request(new URL(formAction(logout.body, '/session/end/confirm'), app.issuer).toString(), {
      form: { xsrf: inputValue(logout.body, 'xsrf'), logout: 'yes' },
    });
    expect(done.location?.startsWith(EVIL) ?? false).toBe(false);
  });
});

describe('A15 the authorization endpoint sends no CORS headers', () => {
  const corsHeaders = (hop: Hop) => [...hop.headers.keys()].filter((name) => name.startsWith('access-control-'));

  test.each(['http://localhost:8080', 'https://x.example', 'null'])(
    'when GET and OPTIONS /auth carry Origin %s, then no Access-Control-* header comes back',
    async (origin) => {
      const url = authUrl(requestParams(publicClient));
      const getHop = await get(url, { headers: { origin } });
      expectInteraction(getHop);
      expect(corsHeaders(getHop)).toEqual([]);
      const preflight = await get(url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(corsHeaders(preflight)).toEqual([]);
      expect(preflight.status).toBeLessThan(500);
    },
  );
});

describe('A16 request objects: only signed ones by value; request_uri only for pushed requests', () => {
  const unsigned = (payload: Record<string, unknown>) =>
    `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

  test('when discovery is read, then signed request objects by value are advertised, unsigned ones and request_uri are not', async () => {
    const metadata = await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata['request_parameter_supported']).toBe(true);
    expect(metadata['request_uri_parameter_supported']).toBe(false);
    expect(metadata['request_object_signing_alg_values_supported']).not.toContain('none');
  });

  test('when an unsigned request object is sent, then the client gets invalid_request_object', async () => {
    const request = unsigned({ ...requestParams(publicClient), iss: publicClient.clientId, aud: app.issuer });
    const hop = await get(authUrl(requestParams(publicClient, { request })));
    expectErrorRedirect(hop, ['invalid_request_object'], 'state-123');
  });

  test('when the request object names another redirect_uri, then nothing goes to it', async () => {
    const request = unsigned({ ...requestParams(publicClient), redirect_uri: `${EVIL}/cb`, state: 'object-state' });
    const hop = await get(authUrl(requestParams(publicClient, { request })));
    expect(hop.location?.startsWith(EVIL) ?? false).toBe(false);
    // The error goes to the query's registered URI, with the state the object carried.
    expectErrorRedirect(hop, ['invalid_request_object'], 'object-state');
    // With only the object's redirect_uri in the query, it is an error page.
    expectErrorPage(await get(authUrl(requestParams(publicClient, { request, redirect_uri: `${EVIL}/cb` }))));
  });

  test('when request_uri points at a URL, then the client gets request_uri_not_supported and nothing is fetched', async () => {
    const hop = await get(authUrl(requestParams(publicClient, { request_uri: `${EVIL}/request.jwt` })));
    expectErrorRedirect(hop, ['request_uri_not_supported'], 'state-123');
  });

  test('when request_uri is a pushed-request URN the server never issued, then invalid_request_uri', async () => {
    const hop = await get(authUrl(requestParams(publicClient, { request_uri: 'urn:ietf:params:oauth:request_uri:forged' })));
    expectErrorRedirect(hop, ['invalid_request_uri'], 'state-123');
  });

  test('when request_uri comes from the advertised PAR endpoint, then it is processed', async () => {
    const config = await relyingParty(app, confidential, oidc.ClientSecretBasic(confidential.clientSecret));
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const callback = await signIn(new Browser(), app, { url, verifier, state, nonce: '' }, user.email);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.sub).toBe(user.id);
  });
});

describe('A17 authorization codes are short-lived and unguessable', () => {
  test('when the settings are left at their defaults, then the code TTL is at most 60 s', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).ttl.authorizationCode).toBeLessThanOrEqual(60);
  });

  test('when a code is redeemed after its TTL, then invalid_grant; within the TTL it works', async () => {
    const session = shared;

    const late = await authRequest(session.config);
    const lateCallback = expectCode(await session.browser.request(late.url.toString()), late.state);
    await sleep((CODE_TTL + 1) * 1000 + 200);
    await expect(exchange(session.config, lateCallback, late)).rejects.toMatchObject({ error: 'invalid_grant' });

    const prompt = await authRequest(session.config);
    const tokens = await exchange(session.config, expectCode(await session.browser.request(prompt.url.toString())), prompt);
    expect(tokens.access_token).toBeTruthy();
  });

  test('when 200 codes are collected, then they are unique, uniform in shape and ≥ 128 bits of base64url', async () => {
    // One signed-in browser, 200 silent requests (the app and its database share this
    // process, so running them side by side gains nothing).
    const codes: string[] = [];
    for (let i = 0; i < 200; i += 1) {
      const hop = await shared.browser.request(authUrl(requestParams(publicClient, { state: `s${i}` })));
      codes.push(expectCode(hop).searchParams.get('code')!);
    }
    expect(new Set(codes).size).toBe(codes.length);
    const length = codes[0]!.length;
    expect(length).toBeGreaterThanOrEqual(22); // 22 × 6 bits ≥ 128 bits
    for (const code of codes) {
      expect(code).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(code.length).toBe(length);
    }
    // No shared prefixes (counters, timestamps): the first 8 characters are unique too.
    expect(new Set(codes.map((code) => code.slice(0, 8))).size).toBe(codes.length);
    // Character frequencies over every position but the last (which may carry padding
    // bits) are uniform over the 64 symbols: chi-square with 63 degrees of freedom,
    // threshold far in the tail (p ≈ 1e-6) so a correct generator never flakes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const counts = new Map<string, number>([...alphabet].map((char) => [char, 0]));
    let total = 0;
    for (const code of codes) {
      for (const char of code.slice(0, -1)) {
        counts.set(char, counts.get(char)! + 1);
        total += 1;
      }
    }
    const expected = total / 64;
    const chiSquare = [...counts.values()].reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(125);
  });
});

describe('I2 oversized parameters at the authorization endpoint', () => {
  const oversized: Array<[string, Record<string, string>, string[]]> = [
    ['a 10 KB state', { state: 'a'.repeat(10 * 1024) }, ['invalid_request']],
    ['a 10 KB nonce', { nonce: 'n'.repeat(10 * 1024) }, ['invalid_request']],
    ['a 10 KB redirect_uri', { redirect_uri: `${REDIRECT_URI}?${'r'.repeat(10 * 1024)}` }, ['invalid_redirect_uri', 'invalid_request']],
    ['a 10 KB client_id', { client_id: 'c'.repeat(10 * 1024) }, ['invalid_client', 'invalid_request']],
    ['a 10 KB code_challenge', { code_challenge: 'A'.repeat(10 * 1024) }, ['invalid_request']],
  ];
  test.each(oversized)('when the request has %s, then it is refused with the OAuth error, never a 5xx', async (_name, overrides, errors) => {
    const hop = await get(authUrl(requestParams(publicClient, overrides)));
    expectRefused(hop, errors);
    if (overrides['redirect_uri'] || overrides['client_id']) expectErrorPage(hop);
  });

  test('when the URL is larger than the server accepts (20 KB), then a 4xx without Location, never a 5xx', async () => {
    const hop = await get(authUrl(requestParams(publicClient, { extra: 'x'.repeat(20 * 1024) })));
    expectErrorPage(hop);
  });

  test.each(['login_hint', 'scope', 'ui_locales', 'acr_values', 'max_age', 'prompt', 'id_token_hint', 'response_mode', 'claims', 'extra'])(
    'when %s is 10 KB, then the answer is a clean refusal or the normal flow, never a 5xx or a stack trace',
    async (param) => {
      const value = param === 'scope' ? 'openid '.repeat(1500).trim() : 'z'.repeat(10 * 1024);
      const hop = await get(authUrl(requestParams(publicClient, { [param]: value })));
      expect(hop.status).toBeLessThan(500);
      expectNoStackTrace(hop);
      if (hop.status === 303 && !leavesToClient(hop)) expectInteraction(hop);
      else if (leavesToClient(hop)) expectErrorRedirect(hop, ['invalid_request', 'invalid_scope', 'unsupported_response_mode', 'login_required']);
      else expectErrorPage(hop);
    },
  );
});

describe('I3 malformed and missing parameters at the authorization endpoint', () => {
  test('when /auth is called with no parameters, then an error page (invalid_request)', async () => {
    expectErrorPage(await get(`${app.issuer}/auth`), 'invalid_request');
  });

  test.each([
    ['client_id', 'invalid_request'],
    ['redirect_uri', 'invalid_request'],
  ])('when %s is missing or empty, then an error page (%s) without Location', async (param, code) => {
    expectErrorPage(await get(authUrl(requestParams(publicClient, { [param]: undefined }))), code);
    expectErrorPage(await get(authUrl(requestParams(publicClient, { [param]: '' }))));
  });

  test.each([
    ['response_type', ['invalid_request', 'unsupported_response_type']],
    ['code_challenge', ['invalid_request']],
  ])('when %s is missing, then an error redirect to the registered URI', async (param, errors) => {
    expectErrorRedirect(await get(authUrl(requestParams(publicClient, { [param]: undefined }))), errors, 'state-123');
  });

  test.each([
    ['max_age=abc', { max_age: 'abc' }],
    ['max_age=-1', { max_age: '-1' }],
    ['prompt=bogus', { prompt: 'bogus' }],
    ['prompt=none login', { prompt: 'none login' }],
    ['a garbage id_token_hint', { id_token_hint: 'not.a.jwt' }],
    ['response_mode=bogus', { response_mode: 'bogus' }],
    ['code_challenge_method=S512', { code_challenge_method: 'S512' }],
  ])('when the request has %s, then an error redirect with invalid_request', async (_name, overrides) => {
    const hop = await get(authUrl(requestParams(publicClient, overrides)));
    expectErrorRedirect(hop, ['invalid_request', 'unsupported_response_mode']);
  });

  test.each([
    ['a NUL byte in state', 'state=a%00b'],
    ['a NUL byte in nonce', 'nonce=a%00b'],
    ['a NUL byte in login_hint', 'login_hint=a%00b'],
    ['an invalid percent escape in state', 'state=%zz'],
    ['invalid UTF-8 in state', 'state=%C3%28'],
    ['a lone surrogate in nonce', 'nonce=%ED%A0%80'],
  ])('when the query has %s, then it is refused with invalid_request, never a 5xx', async (_name, raw) => {
    const params = requestParams(publicClient, { state: undefined });
    const [key] = raw.split('=');
    delete params[key!];
    const hop = await get(`${authUrl(params)}&${raw}`);
    expectRefused(hop, ['invalid_request']);
  });

  test('when client_id holds a NUL byte, then an error page (invalid_client or invalid_request), never a 5xx', async () => {
    const hop = await get(`${authUrl(requestParams(publicClient, { client_id: undefined }))}&client_id=${publicClient.clientId}%00`);
    expectRefused(hop, ['invalid_client', 'invalid_request']);
    expectErrorPage(hop);
  });

  test.each([
    ['an unknown interaction uid', '/auth/not-a-real-uid'],
    ['a NUL byte in the uid', '/auth/a%00b'],
    ['an interaction page that does not exist', '/interaction/not-a-real-uid'],
  ])('when the resume endpoint gets %s, then a 4xx error page, never a 5xx', async (_name, path) => {
    expectErrorPage(await get(`${app.issuer}${path}`));
  });
});
