// Client registration rules and the mapping between a stored client and the metadata
// oidc-provider works with. Client ids and secrets are always generated here (ASVS
// 15.3.1): secrets carry 256 bits from the CSPRNG, are shown once, and are stored only
// sealed with AES-256-GCM (a slow hash would cap client authentication at a few dozen
// requests per second, and client_secret_jwt needs the plain value).
import { z } from 'zod';
import type { SecretBox } from '../crypto/secret-box.js';
import { randomToken } from '../crypto/random.js';
import { invalidInput, type FieldProblem } from '../errors.js';
import type { ClientRecord, ClientStore } from '../stores/clients.js';
import { redirectUriProblem } from './redirect-uris.js';
import { parseInput, roleName } from './validation.js';

export const SUPPORTED_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const SUPPORTED_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'] as const;
export const SUPPORTED_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'address', 'phone', 'roles'] as const;
const SECRET_METHODS = new Set<string>(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

const httpsUrl = z.url().refine((value) => value.startsWith('https://'), 'must be an https URL');

export const newClientInput = z
  .object({
    client_name: z.string().trim().min(1).max(200),
    application_type: z.enum(['web', 'native']).default('web'),
    redirect_uris: z.array(z.string()).max(50).default([]),
    post_logout_redirect_uris: z.array(z.string()).max(50).default([]),
    grant_types: z.array(z.enum(SUPPORTED_GRANT_TYPES)).min(1).optional(),
    token_endpoint_auth_method: z.enum(SUPPORTED_AUTH_METHODS).default('client_secret_basic'),
    scope: z
      .string()
      .trim()
      .refine((value) => value.split(/\s+/).every((scope) => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)), 'must be space-separated scope tokens')
      .optional(),
    id_token_signed_response_alg: z.enum(['RS256', 'ES256']).default('RS256'),
    logo_uri: httpsUrl.optional(),
    client_uri: httpsUrl.optional(),
    policy_uri: httpsUrl.optional(),
    tos_uri: httpsUrl.optional(),
    jwks_uri: httpsUrl.optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(20) }).optional(),
    contacts: z.array(z.email()).max(10).optional(),
    backchannel_logout_uri: z.string().max(2000).optional(),
    backchannel_logout_session_required: z.boolean().optional(),
    first_party: z.boolean().default(false),
    require_pkce: z.boolean().default(true),
    roles: z.array(roleName).max(100).default([]),
  })
  .strict();

export type NewClientInput = z.input<typeof newClientInput>;

/** The public shape of a client: metadata, never the secret (that is returned once, beside it). */
export type ClientView = Record<string, unknown> & {
  client_id: string;
  client_name: string;
  first_party: boolean;
  require_pkce: boolean;
  roles: string[];
  created_at: string;
  updated_at: string;
};

export function viewClient(client: ClientRecord): ClientView {
  return {
    client_id: client.id,
    client_name: client.name,
    ...client.metadata,
    first_party: client.firstParty,
    require_pkce: client.requirePkce,
    roles: client.roles,
    created_at: client.createdAt.toISOString(),
    updated_at: client.updatedAt.toISOString(),
  };
}

export interface CreatedClient {
  client: ClientView;
  /** Present for confidential clients; shown once. */
  client_secret?: string;
}

/** Checks metadata the way oidc-provider will load it; throws with its message when it refuses. */
export type MetadataValidator = (metadata: Record<string, unknown>) => Promise<void>;

export type ClientService = ReturnType<typeof createClientService>;

export function createClientService(deps: {
  clients: ClientStore;
  secretBox: SecretBox;
  production: boolean;
  validateMetadata: MetadataValidator;
  /** How long loaded client metadata is reused, seconds (0: always read the database). */
  cacheSeconds: number;
}) {
  const { clients, secretBox, production, validateMetadata } = deps;
  // oidc-provider asks for the client on every token, introspection and userinfo request;
  // the row and its unsealed secret are kept briefly. Clients are only ever created today,
  // so nothing can go stale; whatever later changes or deletes a client must call
  // forget(id) here and tell the other instances.
  const cache = new Map<string, { metadata: Record<string, unknown>; until: number }>();
  const CACHE_LIMIT = 10_000;

  return {
    async createClient(input: unknown): Promise<CreatedClient> {
      const data = parseInput(newClientInput, input);
      const metadata = buildMetadata(data, production);
      const id = randomToken(16);
      const secret = SECRET_METHODS.has(data.token_endpoint_auth_method) ? randomToken(32) : undefined;
      try {
        await validateMetadata({ client_id: id, ...(secret ? { client_secret: secret } : {}), ...metadata });
      } catch (error) {
        const reason = (error as { error_description?: string }).error_description ?? (error as Error).message;
        throw invalidInput([{ field: '(metadata)', message: reason }], 'The client metadata is not valid.');
      }
      const record = await clients.create({
        id,
        name: data.client_name,
        metadata,
        secretCiphertext: secret ? secretBox.seal(secret, 'client-secret') : null,
        firstParty: data.first_party,
        // Public clients always use PKCE, whatever this says (see pkce.required in oidc/provider.ts).
        requirePkce: data.require_pkce,
        roles: [...new Set(data.roles)],
      });
      return { client: viewClient(record), ...(secret ? { client_secret: secret } : {}) };
    },

    /** The metadata oidc-provider loads for a client id, with the secret unsealed. */
    async providerMetadata(id: string): Promise<Record<string, unknown> | undefined> {
      const cached = cache.get(id);
      if (cached && cached.until > Date.now()) return cached.metadata;
      cache.delete(id);
      const record = await clients.findById(id);
      // Unknown ids are not remembered: a flood of made-up ids must not fill the cache.
      if (!record) return undefined;
      const metadata = {
        ...record.metadata,
        client_id: record.id,
        ...(record.secretCiphertext ? { client_secret: secretBox.open(record.secretCiphertext, 'client-secret') } : {}),
        first_party: record.firstParty,
        require_pkce: record.requirePkce,
        gatehouse_roles: record.roles,
      };
      if (deps.cacheSeconds > 0) {
        if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
        cache.set(id, { metadata, until: Date.now() + deps.cacheSeconds * 1000 });
      }
      return metadata;
    },

    /** Drops a client from this instance's cache, so the next request reads the database. */
    forget(id: string): void {
      cache.delete(id);
    },
  };
}

type ParsedClient = z.output<typeof newClientInput>;

function buildMetadata(data: ParsedClient, production: boolean): Record<string, unknown> {
  const problems: FieldProblem[] = [];
  const isPublic = data.token_endpoint_auth_method === 'none';
  const grantTypes = data.grant_types ?? (data.redirect_uris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  const usesCode = grantTypes.includes('authorization_code');

  const rules = { applicationType: data.application_type, production };
  data.redirect_uris.forEach((uri, index) => {
    const problem = redirectUriProblem(uri, rules);
    if (problem) problems.push({ field: `redirect_uris[${index}]`, message: problem });
  });
  data.post_logout_redirect_uris.forEach((uri, index) => {
    const problem = redirectUriProblem(uri, rules);
    if (problem) problems.push({ field: `post_logout_redirect_uris[${index}]`, message: problem });
  });
  if (data.backchannel_logout_uri !== undefined) {
    const problem = redirectUriProblem(data.backchannel_logout_uri, { applicationType: 'web', production });
    if (problem) problems.push({ field: 'backchannel_logout_uri', message: problem });
  }
  if (usesCode && data.redirect_uris.length === 0) {
    problems.push({ field: 'redirect_uris', message: 'the authorization_code grant needs at least one redirect URI' });
  }
  if (!usesCode && data.redirect_uris.length > 0) {
    problems.push({ field: 'grant_types', message: 'redirect URIs are only used with the authorization_code grant' });
  }
  if (grantTypes.includes('refresh_token') && !usesCode) {
    problems.push({ field: 'grant_types', message: 'refresh_token needs the authorization_code grant' });
  }
  if (isPublic && grantTypes.includes('client_credentials')) {
    problems.push({ field: 'grant_types', message: 'a public client (token_endpoint_auth_method none) cannot use client_credentials' });
  }
  if (data.token_endpoint_auth_method === 'private_key_jwt' && !data.jwks && !data.jwks_uri) {
    problems.push({ field: 'jwks_uri', message: 'private_key_jwt needs jwks or jwks_uri' });
  }
  if (data.scope) {
    const unknown = data.scope.split(/\s+/).filter((scope) => !(SUPPORTED_SCOPES as readonly string[]).includes(scope));
    if (unknown.length) problems.push({ field: 'scope', message: `unsupported scopes: ${unknown.join(', ')}` });
  }
  if (problems.length) throw invalidInput(problems);

  const metadata: Record<string, unknown> = {
    client_name: data.client_name,
    application_type: data.application_type,
    grant_types: grantTypes,
    response_types: usesCode ? ['code'] : [],
    redirect_uris: data.redirect_uris,
    post_logout_redirect_uris: data.post_logout_redirect_uris,
    token_endpoint_auth_method: data.token_endpoint_auth_method,
    id_token_signed_response_alg: data.id_token_signed_response_alg,
  };
  const optional = [
    'scope', 'logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'jwks_uri', 'jwks', 'contacts',
    'backchannel_logout_uri', 'backchannel_logout_session_required',
  ] as const;
  for (const key of optional) {
    if (data[key] !== undefined) metadata[key] = data[key];
  }
  return metadata;
}

