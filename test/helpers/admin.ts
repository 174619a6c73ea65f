// Admin API from the outside: a service-account client holding an admin role, a token
// from the real token endpoint, and JSON requests to /admin.
import { createHash, randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import type { ProblemDocument } from '../../src/http/problem.js';
import type { TestApp } from './app.js';
import { basicHeader } from './http.js';
import { TEST_ACTOR } from './oidc.js';
import { Browser, REDIRECT_URI, signIn } from './oidc.js';

export interface AdminCredentials {
  clientId: string;
  clientSecret: string;
}

/** A client-credentials client holding `role` (admin or admin:read), created as an operator would with the CLI. */
export async function createAdminClient(app: TestApp, role: 'admin' | 'admin:read' | 'none' = 'admin'): Promise<AdminCredentials> {
  const created = await app.app.services.clients.createClient(
    { client_name: `admin client (${role})`, grant_types: ['client_credentials'], roles: role === 'none' ? [] : [role] },
    TEST_ACTOR,
  );
  return { clientId: created.client.client_id, clientSecret: created.client_secret! };
}

export interface TokenResponse {
  status: number;
  body: { access_token?: string; scope?: string; error?: string; error_description?: string; expires_in?: number };
}

export async function clientCredentialsToken(app: TestApp, credentials: AdminCredentials, params: Record<string, string> = { scope: 'admin' }): Promise<TokenResponse> {
  const response = await fetch(`${app.origin}/token`, {
    method: 'POST',
    headers: {
      authorization: basicHeader(credentials.clientId, credentials.clientSecret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse['body'] };
}

/** An admin API access token with the given scope, for a fresh client holding the matching role. */
export async function adminToken(app: TestApp, scope: 'admin' | 'admin:read' = 'admin'): Promise<string> {
  const credentials = await createAdminClient(app, scope);
  const { status, body } = await clientCredentialsToken(app, credentials, { scope });
  if (status !== 200 || !body.access_token) throw new Error(`could not get an admin token: ${status} ${JSON.stringify(body)}`);
  return body.access_token;
}

export interface AdminResponse<T = any> {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body. */
  body: T;
  text: string;
}

/** Where the admin API answers: the public origin, or the separate admin listener. */
export function adminBase(app: TestApp): string {
  return `${app.adminOrigin}/admin`;
}

export async function adminRequest<T = any>(
  app: TestApp,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<AdminResponse<T>> {
  const response = await fetch(`${adminBase(app)}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return readAdminResponse<T>(response);
}

/** An admin API answer read in full; the body parsed as JSON, or undefined when empty or not JSON. */
export async function readAdminResponse<T = any>(response: Response): Promise<AdminResponse<T>> {
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

// ---------------------------------------------------------------------------------------
// Helpers for the admin API suites (test/admin/).

/** Client credentials in a Basic header as RFC 6749 §2.3.1 wants them: form-encoded, then base64. */
export const basicAuthorization = basicHeader;

/**
 * Asserts an RFC 9457 problem document from the admin API: the status, the
 * application/problem+json type, no-store, the members every problem has and, when given,
 * the Gatehouse problem code (`urn:gatehouse:problem:<code>`). Returns the document.
 */
export function expectProblem(response: AdminResponse, status: number, code?: string): ProblemDocument {
  expect({ status: response.status, contentType: response.headers.get('content-type') ?? '', text: response.text.slice(0, 400) }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json\b/),
    text: expect.any(String),
  });
  const body = response.body as ProblemDocument;
  expect(body).toEqual(expect.objectContaining({
    type: code ? `urn:gatehouse:problem:${code}` : expect.stringMatching(/^urn:gatehouse:problem:[a-z_]+$/),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: expect.stringMatching(/^\/admin\//),
  }));
  expect(response.headers.get('cache-control')).toMatch(/(^|,\s*)no-store\s*(,|$)/);
  return body;
}

/** The `field` of every entry in a problem's `errors`. */
export function problemFields(response: AdminResponse): string[] {
  return ((response.body as ProblemDocument | undefined)?.errors ?? []).map((entry) => entry.field);
}

/** Fills an OpenAPI path template (`/clients/{id}/roles/{name}`) with URL-encoded values. */
export function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${template}`);
    return encodeURIComponent(value);
  });
}

export interface UserTokenResponse {
  status: number;
  body: { access_token?: string; refresh_token?: string; id_token?: string; scope?: string; error?: string; error_description?: string };
}

/**
 * A user's sign-in through the real login and consent pages (authorization code + PKCE),
 * then the code redeemed at /token with the client's Basic credentials.
 */
export async function userTokens(
  app: TestApp,
  client: { clientId: string; clientSecret?: string | undefined },
  email: string,
  options: { scope?: string; password?: string; browser?: Browser; params?: Record<string, string> } = {},
): Promise<UserTokenResponse> {
  const scope = options.scope ?? 'openid';
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const url = new URL(`${app.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: client.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope,
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    // oidc-provider grants offline_access only together with prompt=consent.
    ...(scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
    ...options.params,
  }).toString();
  const callback = await signIn(options.browser ?? new Browser(), app, { url, verifier, state, nonce }, email, options.password ? { password: options.password } : {});
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`the sign-in returned no code: ${callback.toString()}`);
  const response = await fetch(`${app.origin}/token`, {
    method: 'POST',
    headers: {
      ...(client.clientSecret ? { authorization: basicAuthorization(client.clientId, client.clientSecret) } : {}),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      ...(client.clientSecret ? {} : { client_id: client.clientId }),
    }),
  });
  return { status: response.status, body: (await response.json()) as UserTokenResponse['body'] };
}
