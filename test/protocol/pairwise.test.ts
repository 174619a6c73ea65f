// Pairwise subject identifiers (OpenID Connect Core 8.1) end to end: sign-ins through the
// real pages by clients in different sectors, the sub they see in the ID token, at
// userinfo, at introspection and in JWT access tokens for an API; sector_identifier_uri
// fetched from a relying party's https server through the SSRF-safe fetch (reached with
// the test-only OUTBOUND_TEST_CA_FILE).
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { createVerifier } from '../../src/verify/index.js';
import { adminRequest, adminToken, basicAuthorization } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeCertificate, startHttpsRelyingParty, type HttpsRelyingParty, type TestCertificate } from '../helpers/https-rp.js';
import { Browser, REDIRECT_URI, createUser, registerClient, submitLogin, type RegisteredClient } from '../helpers/oidc.js';

const consoleWarn = console.warn;
console.warn = (...args: unknown[]) => {
  if (/oidc-provider WARNING: failed to setup SSRF protection for fetch/.test(args.map(String).join(' '))) return;
  consoleWarn(...args);
};

const OTHER_REDIRECT = 'http://127.0.0.1:9090/callback';
const API = 'https://pairwise-api.example.com';

let app: TestApp;
let certificate: TestCertificate;
let rp: HttpsRelyingParty;
let user: { id: string; email: string };

beforeAll(async () => {
  certificate = makeCertificate();
  rp = await startHttpsRelyingParty(certificate);
  app = await startApp({ env: { OUTBOUND_TEST_CA_FILE: certificate.caFile } });
  user = await createUser(app);
});

afterAll(async () => {
  await rp.close();
  await app.destroy();
  certificate.remove();
});

interface Tokens {
  access_token: string;
  id_token: string;
}

/** Authorization code + PKCE through the login page, for any registered redirect URI. */
async function signInTokens(client: RegisteredClient, redirectUri = REDIRECT_URI, params: Record<string, string> = {}): Promise<Tokens> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${app.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: client.clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid',
    state: randomBytes(8).toString('base64url'), nonce: randomBytes(8).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', ...params,
  }).toString();
  const browser = new Browser();
  let hop = await browser.follow(url.toString(), app.issuer);
  if (hop.status === 200 && hop.body.includes('/login"')) hop = await submitLogin(browser, app, hop, user.email);
  if (!hop.location?.startsWith(redirectUri)) throw new Error(`sign-in did not return to ${redirectUri}: ${hop.status} ${hop.body.slice(0, 200)}`);
  const code = new URL(hop.location).searchParams.get('code')!;
  const response = await fetch(`${app.origin}/token`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

async function userinfoSub(accessToken: string): Promise<unknown> {
  const response = await fetch(`${app.origin}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { sub?: unknown }).sub;
}

async function introspectedSub(client: RegisteredClient, token: string): Promise<unknown> {
  const response = await fetch(`${app.origin}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basicAuthorization(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  const body = (await response.json()) as { active?: boolean; sub?: unknown };
  expect(body.active).toBe(true);
  return body.sub;
}

/** The sub a client sees everywhere: ID token, userinfo and introspection agree, or the test fails. */
async function subjectSeenBy(client: RegisteredClient, redirectUri = REDIRECT_URI): Promise<string> {
  const tokens = await signInTokens(client, redirectUri);
  const sub = decodeJwt(tokens.id_token).sub!;
  expect(await userinfoSub(tokens.access_token)).toBe(sub);
  expect(await introspectedSub(client, tokens.access_token)).toBe(sub);
  return sub;
}

const pairwise = (input: Record<string, unknown> = {}) => registerClient(app, { client_name: 'Pairwise RP', first_party: true, subject_type: 'pairwise', ...input });

describe('pairwise subject identifiers (OIDC Core 8.1)', () => {
  test('when discovery is fetched, then it lists public and pairwise subject types', async () => {
    const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.subject_types_supported).toEqual(['public', 'pairwise']);
  });

  test('when clients of one sector and of another sign the same user in, then the same sector sees the same sub, another sector a different one, and a public client the account id', async () => {
    const sectorA1 = await pairwise();
    const sectorA2 = await pairwise();
    const sectorB = await pairwise({ redirect_uris: [OTHER_REDIRECT] });
    const publicClient = await registerClient(app, { client_name: 'Public subject RP', first_party: true });

    const a1 = await subjectSeenBy(sectorA1);
    const a2 = await subjectSeenBy(sectorA2);
    const b = await subjectSeenBy(sectorB, OTHER_REDIRECT);
    const plain = await subjectSeenBy(publicClient);

    expect(plain).toBe(user.id);
    expect(a1).not.toBe(user.id);
    expect(a1).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
    expect(b).not.toBe(user.id);
    // Stable: the next sign-in of the same client sees the same value.
    expect(await subjectSeenBy(sectorA1)).toBe(a1);
  });

  test('when a pairwise client gets a JWT access token for an API, then the token carries the client\'s pairwise sub', async () => {
    const admin = await adminToken(app);
    expect((await adminRequest(app, admin, 'POST', '/apis', { identifier: API, name: 'Pairwise API', scopes: [{ name: 'things:read' }] })).status).toBe(201);
    const client = await pairwise({ api_scopes: { [API]: ['things:read'] } });
    const idTokenSub = decodeJwt((await signInTokens(client)).id_token).sub;
    const tokens = await signInTokens(client, REDIRECT_URI, { scope: 'openid things:read', resource: API });
    const verified = await createVerifier({ issuer: app.issuer, audience: API }).verify(tokens.access_token);
    expect(verified.claims.sub).toBe(idTokenSub);
    expect(verified.claims.sub).not.toBe(user.id);
    expect(verified.claims.client_id).toBe(client.clientId);
  });

  test('when a sector_identifier_uri lists the redirect URIs, then its host is the sector; when it does not, the client is refused', async () => {
    rp.serve('/sector.json', [REDIRECT_URI, OTHER_REDIRECT]);
    rp.serve('/incomplete-sector.json', [OTHER_REDIRECT]);
    const bySector = await pairwise({ redirect_uris: [REDIRECT_URI, OTHER_REDIRECT], sector_identifier_uri: `${rp.origin}/sector.json` });
    const byRedirect = await pairwise();
    const viaFirst = await subjectSeenBy(bySector);
    expect(await subjectSeenBy(bySector, OTHER_REDIRECT)).toBe(viaFirst);
    expect(viaFirst).not.toBe(await subjectSeenBy(byRedirect));
    expect(rp.requests.some((request) => request.method === 'GET' && request.path === '/sector.json')).toBe(true);

    const admin = await adminToken(app);
    const refused = await adminRequest(app, admin, 'POST', '/clients', {
      client_name: 'Bad sector', subject_type: 'pairwise', redirect_uris: [REDIRECT_URI], sector_identifier_uri: `${rp.origin}/incomplete-sector.json`,
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('redirect_uris must be included in the sector_identifier_uri response');
  });

  test('when a pairwise client\'s redirect URIs are on several hosts without a sector_identifier_uri, then the admin API refuses it', async () => {
    const admin = await adminToken(app);
    const refused = await adminRequest(app, admin, 'POST', '/clients', {
      client_name: 'Two hosts', subject_type: 'pairwise', redirect_uris: [REDIRECT_URI, OTHER_REDIRECT],
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('sector_identifier_uri');
    const http = await adminRequest(app, admin, 'POST', '/clients', {
      client_name: 'http sector', subject_type: 'pairwise', redirect_uris: [REDIRECT_URI], sector_identifier_uri: 'http://sector.example.com/s.json',
    });
    expect(http.status).toBe(400);

    const created = await adminRequest(app, admin, 'POST', '/clients', { client_name: 'One host', subject_type: 'pairwise', redirect_uris: [REDIRECT_URI] });
    expect(created.status).toBe(201);
    expect(created.body.client.subject_type).toBe('pairwise');
    const patched = await adminRequest(app, admin, 'PATCH', `/clients/${created.body.client.client_id}`, { subject_type: 'public' });
    expect(patched.status).toBe(200);
    expect(patched.body.client.subject_type).toBe('public');
  });
});
