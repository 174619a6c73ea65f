// Admin API from the outside: a service-account client holding an admin role, a token
// from the real token endpoint, and JSON requests to /admin.
import type { TestApp } from './app.js';
import { TEST_ACTOR } from './oidc.js';

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
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`).toString('base64')}`,
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
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}
