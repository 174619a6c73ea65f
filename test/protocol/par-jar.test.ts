// Pushed authorization requests (RFC 9126) and JWT-secured authorization requests
// (RFC 9101), end to end with openid-client (buildAuthorizationUrlWithPAR,
// buildAuthorizationUrlWithJAR) and the scripted browser: per-client requirements set
// through the admin API, signature checks against the client's own keys, the object's
// values winning over the query's (checklist A16), and a D5 mutation matrix of request
// objects that must all be refused with a 4xx.
import { createHash } from 'node:crypto';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import type { Hop } from '../helpers/browser.js';
import {
  Browser, REDIRECT_URI, createUser, oidc, registerClient, relyingParty, signIn, type RegisteredClient,
} from '../helpers/oidc.js';

const OTHER_REDIRECT_URI = 'http://localhost:8080/other-callback';
const EVIL = 'https://evil.example/cb';
const VERIFIER = 'a'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

let app: TestApp;
let user: Awaited<ReturnType<typeof createUser>>;
let token: string;
/** private_key_jwt with inline jwks: signs its client assertions and request objects. */
let signer: RegisteredClient;
let signingKey: CryptoKey;
let publicJwk: JWK;
let foreignKey: CryptoKey;

async function rsaKey(kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

function authUrl(params: Record<string, string>): string {
  return `${app.issuer}/auth?${new URLSearchParams(params).toString()}`;
}

/** The authorization parameters of a valid request for `clientId`. */
function authorizationParams(clientId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    state: 'object-state',
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    ...overrides,
  };
}

/** A request object as a client would sign it; every part can be varied. */
async function requestObject(options: {
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  key?: CryptoKey | Uint8Array;
  alg?: string;
  iss?: string;
  aud?: string;
  exp?: number;
  crit?: Record<string, boolean>;
} = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...authorizationParams(signer.clientId), ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: 'signer-1', ...options.header } as never)
    .setIssuer(options.iss ?? signer.clientId)
    .setAudience(options.aud ?? app.issuer)
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 300);
  return jwt.sign(options.key ?? signingKey, options.crit ? { crit: options.crit } : undefined);
}

function unsignedObject(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none' })}.${encode(claims)}.`;
}

function leavesTo(hop: Hop, uri: string): boolean {
  if (!hop.location) return false;
  const url = new URL(hop.location);
  return `${url.origin}${url.pathname}` === uri;
}

/** The request was accepted: the browser goes on to the sign-in page. */
function expectAccepted(hop: Hop): void {
  expect({ status: hop.status, location: hop.location?.replace(/\/interaction\/[\w-]+$/, '/interaction/:uid') })
    .toEqual({ status: 303, location: `${app.issuer}/interaction/:uid` });
}

/** Refused cleanly: an error (never a code) sent to the registered URI, or a 4xx error page; never a 5xx. */
function expectRefused(hop: Hop, errors: string[]): void {
  expect(hop.status).toBeLessThan(500);
  if (hop.location) {
    expect(leavesTo(hop, REDIRECT_URI)).toBe(true);
    const params = new URL(hop.location).searchParams;
    expect(params.get('code')).toBeNull();
    expect(errors).toContain(params.get('error'));
  } else {
    expect(hop.status).toBeGreaterThanOrEqual(400);
    expect(errors.map((code) => `Error code: ${code}`)).toContain(/Error code: [\w-]+/.exec(hop.body)?.[0]);
  }
}

beforeAll(async () => {
  app = await startApp();
  user = await createUser(app);
  token = await adminToken(app);
  const signerKey = await rsaKey('signer-1');
  signingKey = signerKey.privateKey;
  publicJwk = signerKey.jwk;
  foreignKey = (await rsaKey('signer-1')).privateKey;
  signer = await registerClient(app, {
    redirect_uris: [REDIRECT_URI, OTHER_REDIRECT_URI],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [publicJwk] },
    first_party: true,
  });
});

afterAll(async () => {
  await app?.destroy();
});

describe('discovery', () => {
  test('when discovery is read, then PAR and signed request objects are advertised, and neither none nor HS256', async () => {
    const metadata = await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(metadata['pushed_authorization_request_endpoint']).toBe(`${app.issuer}/request`);
    expect(metadata['request_parameter_supported']).toBe(true);
    expect(metadata['request_uri_parameter_supported']).toBe(false);
    expect(metadata['request_object_signing_alg_values_supported']).toEqual(expect.arrayContaining(['RS256', 'ES256']));
    expect(metadata['request_object_signing_alg_values_supported']).not.toContain('none');
    expect(metadata['request_object_signing_alg_values_supported']).not.toContain('HS256');
  });
});

describe('RFC 9101 request objects', () => {
  test('when a private_key_jwt client signs its request with openid-client, then the sign-in completes with tokens', async () => {
    const config = await relyingParty(app, signer, oidc.PrivateKeyJwt(signingKey, { kid: 'signer-1' } as never));
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithJAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }, { key: signingKey, kid: 'signer-1' } as never);
    expect(url.searchParams.get('request')).toBeTruthy();
    expect(url.searchParams.get('redirect_uri')).toBeNull();
    const callback = await signIn(new Browser(), app, { url, verifier, state, nonce: '' }, user.email);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  test('when the object and the query disagree, then the object wins: its redirect_uri, state and scope are used', async () => {
    const browser = new Browser();
    // Sign in once so the next request answers with a code at once.
    await signIn(browser, app, { url: new URL(authUrl({ client_id: signer.clientId, request: await requestObject() })), verifier: VERIFIER, state: 'object-state', nonce: '' }, user.email);
    const request = await requestObject({ claims: { redirect_uri: OTHER_REDIRECT_URI, state: 'from-object' } });
    const hop = await browser.follow(authUrl({ client_id: signer.clientId, request, redirect_uri: REDIRECT_URI, state: 'from-query', scope: 'openid profile email' }), app.issuer);
    expect(leavesTo(hop, OTHER_REDIRECT_URI)).toBe(true);
    const params = new URL(hop.location!).searchParams;
    expect(params.get('state')).toBe('from-object');
    expect(params.get('code')).toBeTruthy();
  });

  test('when the object names an unregistered redirect_uri and the query a registered one, then an error page, never either redirect', async () => {
    const request = await requestObject({ claims: { redirect_uri: EVIL } });
    const hop = await new Browser().request(authUrl({ client_id: signer.clientId, request, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid' }));
    expect(hop.location).toBeUndefined();
    expect(hop.status).toBeGreaterThanOrEqual(400);
    expect(hop.status).toBeLessThan(500);
    expect(hop.body).not.toContain(EVIL);
  });

  test('when request_uri names a URL, then request_uri_not_supported (nothing is fetched)', async () => {
    const hop = await new Browser().request(authUrl({ ...authorizationParams(signer.clientId) as Record<string, string>, request_uri: 'https://evil.example/request.jwt' }));
    expectRefused(hop, ['request_uri_not_supported']);
  });

  describe('D5 mutation matrix: every altered request object is refused with a 4xx', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const variants: Array<[string, () => Promise<string>]> = [
      ['alg none', async () => unsignedObject({ ...authorizationParams(signer.clientId), iss: signer.clientId, aud: app.issuer, exp: now() + 300 })],
      ['HS256 keyed with the client\'s public key (PEM)', async () => {
        const { createPublicKey } = await import('node:crypto');
        const pem = await exportSPKI(createPublicKey({ key: publicJwk as never, format: 'jwk' }) as never);
        return requestObject({ alg: 'HS256', key: new TextEncoder().encode(pem) });
      }],
      ['HS256 keyed with the server\'s public key (JWK n)', async () => {
        const jwks = await (await fetch(`${app.issuer}/jwks`)).json() as { keys: Array<{ n?: string }> };
        return requestObject({ alg: 'HS256', key: new TextEncoder().encode(jwks.keys.find((key) => key.n)!.n!) });
      }],
      ['signed by a foreign key under the same kid', () => requestObject({ key: foreignKey })],
      ['payload changed after signing', async () => {
        const [header, , signature] = (await requestObject()).split('.');
        const payload = Buffer.from(JSON.stringify({ ...authorizationParams(signer.clientId), redirect_uri: EVIL, iss: signer.clientId, aud: app.issuer, exp: now() + 300 })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      }],
      ['unknown kid', () => requestObject({ header: { kid: 'no-such-key' } })],
      ['kid a path', () => requestObject({ header: { kid: '../../etc/passwd' } })],
      ['kid an SQL string', () => requestObject({ header: { kid: "' OR 1=1--" } })],
      ['jku to an attacker (never fetched) with a foreign key', () => requestObject({ key: foreignKey, header: { jku: 'https://evil.example/jwks' } })],
      ['embedded jwk header with a foreign key', async () => {
        const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
        return requestObject({ key: privateKey, header: { jwk: await exportJWK(publicKey) } });
      }],
      ['crit with an unknown member', () => requestObject({ header: { crit: ['x-unknown'], 'x-unknown': 1 }, crit: { 'x-unknown': true } })],
      ['exp in the past', () => requestObject({ exp: now() - 600 })],
      ['exp far in the future', () => requestObject({ exp: now() + 30 * 24 * 3600 })],
      ['nbf in the future', () => requestObject({ claims: { nbf: now() + 3600 } })],
      ['wrong aud', () => requestObject({ aud: 'https://other-issuer.example' })],
      ['wrong iss', () => requestObject({ iss: 'someone-else' })],
      ['client_id in the object differs', () => requestObject({ claims: { client_id: 'someone-else' } })],
      ['truncated', async () => (await requestObject()).split('.').slice(0, 2).join('.')],
      ['not a JWT', async () => 'definitely-not-a-jwt'],
    ];

    test.each(variants)('when the request object has %s, then it is refused with a 4xx, never a 5xx', async (_name, build) => {
      const request = await build();
      const hop = await new Browser().request(authUrl({ client_id: signer.clientId, request, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid', state: 'query-state' }));
      expectRefused(hop, ['invalid_request_object', 'invalid_request']);
    });
  });
});

describe('per-client settings through the admin API', () => {
  test('when an admin sets require_signed_request_object, then plain requests are refused and signed ones accepted', async () => {
    const keys = await rsaKey('strict-1');
    const created = await adminRequest(app, token, 'POST', '/clients', {
      client_name: 'Strict', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [keys.jwk] }, require_signed_request_object: true, request_object_signing_alg: 'RS256',
    });
    expect(created.status).toBe(201);
    expect(created.body.client).toMatchObject({ require_signed_request_object: true, request_object_signing_alg: 'RS256' });
    const clientId = created.body.client.client_id as string;

    const plain = await new Browser().request(authUrl(authorizationParams(clientId) as Record<string, string>));
    expectRefused(plain, ['invalid_request']);

    const now = Math.floor(Date.now() / 1000);
    const request = await new SignJWT(authorizationParams(clientId))
      .setProtectedHeader({ alg: 'RS256', kid: 'strict-1' }).setIssuer(clientId).setAudience(app.issuer).setExpirationTime(now + 300)
      .sign(keys.privateKey);
    expectAccepted(await new Browser().request(authUrl({ client_id: clientId, request })));
  });

  test('when an admin asks for HS256 or for signed objects without keys, then 400 names the field', async () => {
    const hs = await adminRequest(app, token, 'POST', '/clients', {
      client_name: 'x', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] }, request_object_signing_alg: 'HS256',
    });
    expect(hs.status).toBe(400);
    expect(JSON.stringify(hs.body.errors)).toContain('request_object_signing_alg');
    const keyless = await adminRequest(app, token, 'POST', '/clients', { client_name: 'x', redirect_uris: [REDIRECT_URI], require_signed_request_object: true });
    expect(keyless.status).toBe(400);
    expect(JSON.stringify(keyless.body.errors)).toContain('require_signed_request_object');
  });

  test('when the OpenAPI document is read, then the PAR and JAR settings are documented', async () => {
    const spec = JSON.stringify((await adminRequest(app, token, 'GET', '/openapi.json')).body);
    for (const field of ['require_pushed_authorization_requests', 'require_signed_request_object', 'request_object_signing_alg']) expect(spec).toContain(field);
  });
});

describe('RFC 9126 pushed authorization requests', () => {
  let parOnly: RegisteredClient & { clientSecret: string };

  beforeAll(async () => {
    const created = await adminRequest(app, token, 'POST', '/clients', {
      client_name: 'PAR only', redirect_uris: [REDIRECT_URI], require_pushed_authorization_requests: true, first_party: true,
    });
    expect(created.status).toBe(201);
    expect(created.body.client.require_pushed_authorization_requests).toBe(true);
    parOnly = { clientId: created.body.client.client_id, clientSecret: created.body.client_secret };
  });

  test('when a PAR-required client sends its request straight to /auth, then it is refused', async () => {
    const hop = await new Browser().request(authUrl(authorizationParams(parOnly.clientId) as Record<string, string>));
    expectRefused(hop, ['invalid_request']);
    if (hop.location) expect(new URL(hop.location).searchParams.get('error_description')).toMatch(/Pushed Authorization Request must be used/);
  });

  test('when a PAR-required client pushes its request with openid-client, then the sign-in completes with tokens', async () => {
    const config = await relyingParty(app, parOnly);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const callback = await signIn(new Browser(), app, { url, verifier, state, nonce: '' }, user.email);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  test('when a pushed request that completed a sign-in is used again, then it is refused', async () => {
    const config = await relyingParty(app, parOnly);
    const { client_id: _clientId, ...params } = authorizationParams(parOnly.clientId) as Record<string, string>;
    const url = await oidc.buildAuthorizationUrlWithPAR(config, params);
    await signIn(new Browser(), app, { url, verifier: VERIFIER, state: 'object-state', nonce: '' }, user.email);
    expectRefused(await new Browser().request(url.toString()), ['invalid_request_uri']);
  });

  test('when the PAR endpoint gets a bad client secret, then a JSON 401, never a page', async () => {
    const response = await fetch(`${app.issuer}/request`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
        authorization: `Basic ${Buffer.from(`${parOnly.clientId}:wrong`).toString('base64')}`,
      },
      body: new URLSearchParams(authorizationParams(parOnly.clientId) as Record<string, string>),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });
});

describe('dynamic registration (RFC 7591)', () => {
  test('when a client registers itself with the PAR and JAR settings, then they are kept and enforced; HS256 is refused', async () => {
    const iat = await adminRequest(app, token, 'POST', '/registration-tokens', {});
    expect(iat.status).toBe(201);
    const register = (body: Record<string, unknown>) => fetch(`${app.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat.body.token}` },
      body: JSON.stringify({ client_name: 'Self', redirect_uris: [REDIRECT_URI], ...body }),
    });
    const keys = await rsaKey('self-1');
    const response = await register({
      token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [keys.jwk] },
      require_pushed_authorization_requests: true, require_signed_request_object: true, request_object_signing_alg: 'RS256',
    });
    expect(response.status).toBe(201);
    const registered = await response.json() as Record<string, unknown>;
    expect(registered).toMatchObject({ require_pushed_authorization_requests: true, require_signed_request_object: true, request_object_signing_alg: 'RS256' });
    const stored = await adminRequest(app, token, 'GET', `/clients/${String(registered['client_id'])}`);
    expect(stored.body).toMatchObject({ require_pushed_authorization_requests: true, require_signed_request_object: true });
    expectRefused(await new Browser().request(authUrl(authorizationParams(String(registered['client_id'])) as Record<string, string>)), ['invalid_request']);

    const hs = await register({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [keys.jwk] }, request_object_signing_alg: 'HS256' });
    expect(hs.status).toBe(400);
    expect(((await hs.json()) as { error: string }).error).toBe('invalid_client_metadata');
  });
});
