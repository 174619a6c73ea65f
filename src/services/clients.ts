// Client registration rules and the mapping between a stored client and the metadata
// oidc-provider works with. Client ids and secrets are always generated here (ASVS
// 15.3.1): secrets carry 256 bits from the CSPRNG, are shown once, and are stored only
// sealed with AES-256-GCM (a slow hash would cap client authentication at a few dozen
// requests per second, and client_secret_jwt needs the plain value).
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { SecretBox } from '../crypto/secret-box.js';
import { randomToken } from '../crypto/random.js';
import { AppError, invalidInput, type FieldProblem } from '../errors.js';
import type { AuditActor } from '../stores/audit.js';
import type { ClientRecord } from '../stores/clients.js';
import { decodeCursor, toPage, type Page } from '../stores/pagination.js';
import type { Stores, Transaction } from './transaction.js';
import { redirectUriProblem } from './redirect-uris.js';
import { pageQuery, parseInput, roleName } from './validation.js';
import { TOKEN_EXCHANGE_GRANT } from '../oidc/token-exchange.js';
import { REQUEST_OBJECT_SIGNING_ALGS, requestObjectProblems } from '../oidc/request-objects.js';
import { frontchannelProblems } from '../oidc/frontchannel-logout.js';
import { pairwiseProblems, SUBJECT_TYPES } from '../oidc/pairwise.js';

/** RFC 8628: TVs and command-line tools; needs no redirect URI and may be a public client. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export const SUPPORTED_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT] as const;
export const SUPPORTED_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'] as const;
/** OpenID Connect scopes (claims at userinfo and in ID tokens). */
export const SUPPORTED_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'address', 'phone', 'roles'] as const;
/**
 * Scopes of the admin API (resource `<issuer>/admin`). They are not listed in a client's
 * `scope`: a client may obtain them when it holds the role of the same name (and, for a
 * user's login, when the user holds it too).
 */
export const ADMIN_SCOPES = ['admin', 'admin:read'] as const;
const SECRET_METHODS = new Set<string>(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);
/** A rotated-out secret may keep working for at most a week (checklist C9: a bounded grace period). */
export const MAX_SECRET_GRACE_SECONDS = 7 * 24 * 3600;

const httpsUrl = z.url().max(2000).refine((value) => value.startsWith('https://'), 'must be an https URL');
const scopeList = z
  .string()
  .trim()
  .max(1000)
  .refine((value) => value.split(/\s+/).every((scope) => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)), 'must be space-separated scope tokens');

/** Every field a client body may hold; RFC 7591 / OIDC Registration names plus Gatehouse's own. */
const clientFields = z
  .object({
    client_name: z.string().trim().min(1).max(200).describe('Shown to users on the consent page'),
    application_type: z.enum(['web', 'native']).describe('native allows custom-scheme and loopback redirect URIs'),
    redirect_uris: z.array(z.string()).max(50).describe('Exact-match redirect URIs: absolute, no fragment, https outside localhost'),
    post_logout_redirect_uris: z.array(z.string()).max(50),
    grant_types: z.array(z.enum(SUPPORTED_GRANT_TYPES)).min(1).max(SUPPORTED_GRANT_TYPES.length)
      .describe('Defaults to authorization_code + refresh_token with redirect URIs, client_credentials without'),
    token_endpoint_auth_method: z.enum(SUPPORTED_AUTH_METHODS).describe('none makes a public client (PKCE always, no secret)'),
    scope: scopeList.describe('Space-separated scopes the client may request; omitted means every OpenID scope'),
    id_token_signed_response_alg: z.enum(['RS256', 'ES256']),
    logo_uri: httpsUrl,
    client_uri: httpsUrl,
    policy_uri: httpsUrl,
    tos_uri: httpsUrl,
    jwks_uri: httpsUrl.describe('Keys for private_key_jwt, fetched over https from public addresses only'),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) }).strict(),
    contacts: z.array(z.email()).max(10),
    backchannel_logout_uri: z.string().max(2000),
    backchannel_logout_session_required: z.boolean(),
    frontchannel_logout_uri: z.string().max(2000)
      .describe('OIDC Front-Channel Logout: loaded in an invisible iframe when the user signs out at Gatehouse; https (http only for localhost outside production)'),
    frontchannel_logout_session_required: z.boolean().describe('Add iss and sid to frontchannel_logout_uri (and sid to ID tokens)'),
    subject_type: z.enum(SUBJECT_TYPES).describe('pairwise: the client sees a sub of its own sector, not the account id (OIDC Core 8.1)'),
    sector_identifier_uri: httpsUrl.describe('Its host is the pairwise sector; it must serve a JSON array listing every redirect URI. Required for pairwise clients whose redirect URIs are on several hosts'),
    first_party: z.boolean().describe('Trusted application of this organisation: never shows the consent page'),
    require_pkce: z.boolean().describe('false lets a confidential legacy client skip PKCE; public clients always use it'),
    disabled: z.boolean().describe('A disabled client cannot authenticate; disabling revokes its grants and tokens'),
    roles: z.array(roleName).max(100).describe('Roles carried by client-credentials tokens (service accounts)'),
    api_scopes: z.record(z.string().max(2000), z.array(z.string().max(100)).max(100)).describe(
      'Registered APIs this client may get access tokens for, by identifier, with the scopes it may ask for at each',
    ),
    default_resource: z.string().max(2000).describe('API identifier used when a token request names no resource (one of api_scopes)'),
    require_mfa: z.boolean().describe('Users must pass a second factor (authenticator app or passkey) to sign in to this client, whatever it asks for'),
    dpop_bound_access_tokens: z.boolean().describe('RFC 9449: every access token of this client must be DPoP-bound; a token request without a DPoP proof is refused'),
    token_exchange: z.object({
      audiences: z.array(z.string().max(2000)).min(1).max(50).describe('Registered APIs (identifiers) it may exchange tokens for'),
      scopes: z.array(z.string().max(100)).min(1).max(100).describe('Scopes it may obtain at those APIs'),
      subject_token_audiences: z.array(z.string().max(2000)).max(50).optional()
        .describe('APIs (identifiers) whose access tokens it may present as subject_token; tokens issued to the client itself are always accepted'),
    }).strict().describe(`RFC 8693 token exchange policy (needs the ${TOKEN_EXCHANGE_GRANT} grant and a confidential client)`),
    require_pushed_authorization_requests: z.boolean().describe('RFC 9126: authorization requests must be pushed to /request first; /auth refuses any other'),
    require_signed_request_object: z.boolean().describe('RFC 9101: every authorization request must be a request object signed with a key from jwks or jwks_uri'),
    request_object_signing_alg: z.enum(REQUEST_OBJECT_SIGNING_ALGS).describe('The only algorithm accepted for this client\'s request objects'),
  })
  .strict();

/** A client as created, or as replaced whole by PUT: omitted fields take their defaults. */
export const newClientInput = clientFields.partial().required({ client_name: true }).strict();
/** PATCH: only the fields given change. */
export const clientPatchInput = clientFields.partial().strict();

export type NewClientInput = z.input<typeof newClientInput>;

export const rotateSecretInput = z
  .object({
    grace_period_seconds: z.number().int().min(0).max(MAX_SECRET_GRACE_SECONDS).default(0)
      .describe('How long the previous secret keeps working (0: it stops at once)'),
  })
  .strict();

export const clientListQuery = pageQuery.extend({
  q: z.string().max(200).optional().describe('Substring of the client name, or an exact client id'),
  disabled: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
  dynamic: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
  role: roleName.optional(),
});

/** The public shape of a client: metadata, never the secret (that is returned once, beside it). */
export type ClientView = Record<string, unknown> & {
  client_id: string;
  client_name: string;
  first_party: boolean;
  require_pkce: boolean;
  disabled: boolean;
  dynamic: boolean;
  roles: string[];
  created_at: string;
  updated_at: string;
};

export function viewClient(client: ClientRecord): ClientView {
  const graceActive = client.previousSecretExpiresAt && client.previousSecretExpiresAt.getTime() > Date.now();
  return {
    client_id: client.id,
    client_name: client.name,
    ...client.metadata,
    first_party: client.firstParty,
    require_pkce: client.requirePkce,
    disabled: client.disabled,
    dynamic: client.dynamic,
    roles: client.roles,
    ...(graceActive ? { previous_secret_expires_at: client.previousSecretExpiresAt!.toISOString() } : {}),
    created_at: client.createdAt.toISOString(),
    updated_at: client.updatedAt.toISOString(),
  };
}

export interface ClientWithSecret {
  client: ClientView;
  /** Present when a secret was generated by this call; shown once. */
  client_secret?: string;
}

/** Checks metadata the way oidc-provider will load it; throws with its message when it refuses. */
export type MetadataValidator = (metadata: Record<string, unknown>) => Promise<void>;

export type ClientService = ReturnType<typeof createClientService>;

interface CachedClient {
  metadata: Record<string, unknown>;
  previousSecret?: { value: string; until: number } | undefined;
  until: number;
}

export function createClientService(deps: {
  stores: Stores;
  transaction: Transaction;
  secretBox: SecretBox;
  production: boolean;
  validateMetadata: MetadataValidator;
  /** How long loaded client metadata is reused, seconds (0: always read the database). */
  cacheSeconds: number;
  /** Tells every instance (this one included) that a client changed, once the change is committed. */
  announceChange(stores: Stores, clientId: string): Promise<void>;
}) {
  const { stores, transaction, secretBox, production, validateMetadata } = deps;
  // oidc-provider asks for the client on every token, introspection and userinfo request;
  // the row and its unsealed secret are kept briefly. Every change goes through
  // announceChange, which drops the entry here and on every other instance.
  const cache = new Map<string, CachedClient>();
  const CACHE_LIMIT = 10_000;

  async function load(id: string): Promise<CachedClient | undefined> {
    const cached = cache.get(id);
    if (cached && cached.until > Date.now()) return cached;
    cache.delete(id);
    const record = await stores.clients.findById(id);
    // Unknown ids are not remembered: a flood of made-up ids must not fill the cache.
    // A disabled client is as good as unknown to the protocol: invalid_client everywhere.
    if (!record || record.disabled) return undefined;
    const entry: CachedClient = {
      metadata: {
        ...record.metadata,
        client_id: record.id,
        ...(record.secretCiphertext ? { client_secret: secretBox.open(record.secretCiphertext, 'client-secret') } : {}),
        first_party: record.firstParty,
        require_pkce: record.requirePkce,
        gatehouse_roles: record.roles,
        gatehouse_dynamic: record.dynamic,
      },
      previousSecret: record.previousSecretCiphertext && record.previousSecretExpiresAt
        ? { value: secretBox.open(record.previousSecretCiphertext, 'client-secret'), until: record.previousSecretExpiresAt.getTime() }
        : undefined,
      until: Date.now() + deps.cacheSeconds * 1000,
    };
    if (deps.cacheSeconds > 0) {
      if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      cache.set(id, entry);
    }
    return entry;
  }

  async function validateForProvider(id: string, secret: string | undefined, metadata: Record<string, unknown>): Promise<void> {
    try {
      await validateMetadata({ client_id: id, ...(secret ? { client_secret: secret } : {}), ...metadata });
    } catch (error) {
      const reason = (error as { error_description?: string }).error_description ?? (error as Error).message;
      throw invalidInput([{ field: '(metadata)', message: reason }], 'The client metadata is not valid.');
    }
  }

  async function existing(id: string, within: Stores = stores): Promise<ClientRecord> {
    const record = id.length <= 200 ? await within.clients.findById(id) : undefined;
    if (!record) throw new AppError('not_found', `No client with id ${id}.`);
    return record;
  }

  /** Writes a full client definition over an existing client (PUT and PATCH end here). */
  async function replace(id: string, data: ParsedClient, actor: AuditActor, action: string): Promise<ClientWithSecret> {
    const metadata = buildMetadata(data, production);
    const needsSecret = SECRET_METHODS.has(String(metadata.token_endpoint_auth_method));
    return transaction(async (tx) => {
      const before = await existing(id, tx);
      // Moving to a secret-based method needs a secret; moving away drops it.
      const newSecret = needsSecret && !before.secretCiphertext ? randomToken(32) : undefined;
      const keptSecret = needsSecret && before.secretCiphertext ? secretBox.open(before.secretCiphertext, 'client-secret') : undefined;
      await validateForProvider(id, newSecret ?? keptSecret, metadata);
      await assertApiAccess(tx, data);
      const updated = await tx.clients.update(id, {
        name: data.client_name,
        metadata,
        firstParty: data.first_party ?? false,
        requirePkce: data.require_pkce ?? true,
        disabled: data.disabled ?? false,
        roleIds: await tx.roles.idsFor(data.roles ?? []),
        ...(newSecret ? { secretCiphertext: secretBox.seal(newSecret, 'client-secret') } : {}),
        ...(!needsSecret ? { secretCiphertext: null, previousSecretCiphertext: null, previousSecretExpiresAt: null } : {}),
      });
      if (updated.disabled && !before.disabled) await tx.payloads.destroyByClientId(id);
      const view = viewClient(updated);
      await tx.audit.append(actor, { action, targetType: 'client', targetId: id, before: viewClient(before), after: view });
      await deps.announceChange(tx, id);
      return { client: view, ...(newSecret ? { client_secret: newSecret } : {}) };
    });
  }

  return {
    async createClient(input: unknown, actor: AuditActor, options: { dynamic?: boolean } = {}): Promise<ClientWithSecret> {
      const data = parseInput(newClientInput, input);
      const metadata = buildMetadata(data, production);
      const id = randomToken(16);
      const secret = SECRET_METHODS.has(String(metadata.token_endpoint_auth_method)) ? randomToken(32) : undefined;
      await validateForProvider(id, secret, metadata);
      return transaction(async (tx) => {
        await assertApiAccess(tx, data);
        const record = await tx.clients.create({
          id,
          name: data.client_name,
          metadata,
          secretCiphertext: secret ? secretBox.seal(secret, 'client-secret') : null,
          firstParty: data.first_party ?? false,
          // Public clients always use PKCE, whatever this says (see pkce.required in oidc/provider.ts).
          requirePkce: data.require_pkce ?? true,
          dynamic: options.dynamic ?? false,
          roleIds: await tx.roles.idsFor(data.roles ?? []),
        });
        const view = viewClient(record);
        await tx.audit.append(actor, { action: 'client.create', targetType: 'client', targetId: id, after: view });
        return { client: view, ...(secret ? { client_secret: secret } : {}) };
      });
    },

    async listClients(query: unknown): Promise<Page<ClientView>> {
      const { limit, cursor, ...filter } = parseInput(clientListQuery, query);
      const rows = await stores.clients.list({ limit, after: cursor ? decodeCursor(cursor) : undefined }, filter);
      return toPage(rows, limit, viewClient);
    },

    async getClient(id: string): Promise<ClientView> {
      return viewClient(await existing(id));
    },

    /** PUT: the body is the whole client; omitted fields return to their defaults. */
    async replaceClient(id: string, input: unknown, actor: AuditActor): Promise<ClientWithSecret> {
      return replace(id, parseInput(newClientInput, input), actor, 'client.replace');
    },

    /** PATCH: fields given replace the current ones; the rest stay. */
    async updateClient(id: string, input: unknown, actor: AuditActor): Promise<ClientWithSecret> {
      const patch = parseInput(clientPatchInput, input);
      const current = viewClient(await existing(id));
      const merged = { ...pickClientFields(current), ...patch };
      // Grant types default from the redirect URIs; when a patch moves a client from none
      // to some (or back) without naming grant types, derive them again.
      const hadRedirects = ((current.redirect_uris as string[] | undefined) ?? []).length > 0;
      if (patch.redirect_uris && !patch.grant_types && hadRedirects !== patch.redirect_uris.length > 0) delete merged.grant_types;
      return replace(id, parseInput(newClientInput, merged), actor, 'client.update');
    },

    /** Deletes a client; its grants, codes and tokens end at once (checklist C9). */
    async deleteClient(id: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        const before = await existing(id, tx);
        await tx.payloads.destroyByClientId(id);
        await tx.clients.delete(id);
        await tx.audit.append(actor, { action: 'client.delete', targetType: 'client', targetId: id, before: viewClient(before) });
        await deps.announceChange(tx, id);
      });
    },

    /**
     * A new secret, shown once. The previous one keeps working for the grace period
     * (bounded, default none), so a deployment can roll the new one out first.
     */
    async rotateSecret(id: string, input: unknown, actor: AuditActor): Promise<ClientWithSecret & { previous_secret_expires_at: string | null }> {
      const { grace_period_seconds: grace } = parseInput(rotateSecretInput, input ?? {});
      const secret = randomToken(32);
      return transaction(async (tx) => {
        const before = await existing(id, tx);
        if (!before.secretCiphertext) {
          throw new AppError('conflict', `Client ${id} authenticates with ${String(before.metadata.token_endpoint_auth_method)} and has no secret to rotate.`);
        }
        const expiresAt = grace > 0 ? new Date(Date.now() + grace * 1000) : null;
        const updated = await tx.clients.update(id, {
          secretCiphertext: secretBox.seal(secret, 'client-secret'),
          previousSecretCiphertext: expiresAt ? before.secretCiphertext : null,
          previousSecretExpiresAt: expiresAt,
        });
        const view = viewClient(updated);
        await tx.audit.append(actor, {
          action: 'client.rotate_secret', targetType: 'client', targetId: id, before: viewClient(before), after: { ...view, grace_period_seconds: grace },
        });
        await deps.announceChange(tx, id);
        return { client: view, client_secret: secret, previous_secret_expires_at: expiresAt?.toISOString() ?? null };
      });
    },

    /**
     * Stores a client registered (or updated) by itself through /reg, as oidc-provider
     * validated it. It never gets roles, first-party status or an exemption from PKCE,
     * and an administrator's client cannot be changed this way.
     */
    async saveRegistered(id: string, providerMetadata: Record<string, unknown>, actor: AuditActor): Promise<void> {
      const {
        client_id: _id, client_secret: secret, client_id_issued_at: _issued, client_secret_expires_at: _expires,
        registration_access_token: _rat, registration_client_uri: _uri,
        first_party: _firstParty, require_pkce: _pkce, gatehouse_roles: _roles, gatehouse_dynamic: _dynamic,
        ...metadata
      } = providerMetadata;
      const name = typeof metadata.client_name === 'string' && metadata.client_name.trim() ? metadata.client_name.trim().slice(0, 200) : 'Unnamed client';
      const secretCiphertext = typeof secret === 'string' ? secretBox.seal(secret, 'client-secret') : null;
      await transaction(async (tx) => {
        const before = await tx.clients.findById(id);
        if (before && !before.dynamic) throw new AppError('forbidden', 'Only clients that registered themselves can be changed through registration.');
        const saved = before
          ? await tx.clients.update(id, { name, metadata, secretCiphertext })
          : await tx.clients.create({ id, name, metadata, secretCiphertext, firstParty: false, requirePkce: true, dynamic: true, roleIds: [] });
        await tx.audit.append(actor, {
          action: before ? 'client.registration_update' : 'client.register',
          targetType: 'client', targetId: id, ...(before ? { before: viewClient(before) } : {}), after: viewClient(saved),
        });
        if (before) await deps.announceChange(tx, id);
      });
    },

    /** RFC 7592 delete: a self-registered client removes itself. */
    async removeRegistered(id: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        const before = await existing(id, tx);
        if (!before.dynamic) throw new AppError('forbidden', 'Only clients that registered themselves can be deleted through registration.');
        await tx.payloads.destroyByClientId(id);
        await tx.clients.delete(id);
        await tx.audit.append(actor, { action: 'client.registration_delete', targetType: 'client', targetId: id, before: viewClient(before) });
        await deps.announceChange(tx, id);
      });
    },

    /** The metadata oidc-provider loads for a client id, with the secret unsealed. */
    async providerMetadata(id: string): Promise<Record<string, unknown> | undefined> {
      return (await load(id))?.metadata;
    },

    /** During a rotation's grace period, whether `actual` is the previous secret. */
    async matchesPreviousSecret(id: string, actual: string): Promise<boolean> {
      const previous = (await load(id))?.previousSecret;
      if (!previous || previous.until <= Date.now()) return false;
      const expected = Buffer.from(previous.value);
      const given = Buffer.from(actual);
      return expected.length === given.length && timingSafeEqual(expected, given);
    },

    /** Drops a client from this instance's cache, so the next request reads the database. */
    forget(id: string): void {
      cache.delete(id);
    },

    /** Drops every cached client (after missing change notices, e.g. a lost connection). */
    forgetAll(): void {
      cache.clear();
    },
  };
}

type ParsedClient = z.output<typeof newClientInput>;

/** API access must name registered APIs and scopes they define. */
async function assertApiAccess(tx: Stores, data: ParsedClient): Promise<void> {
  const problems: FieldProblem[] = [];
  for (const [identifier, scopes] of Object.entries(data.api_scopes ?? {})) {
    const api = await tx.apis.findByIdentifier(identifier);
    if (!api) {
      problems.push({ field: `api_scopes.${identifier}`, message: 'no API is registered with this identifier' });
      continue;
    }
    const unknown = scopes.filter((scope) => !api.scopes.some((defined) => defined.name === scope));
    if (unknown.length) problems.push({ field: `api_scopes.${identifier}`, message: `the API defines no scope ${unknown.join(', ')}` });
  }
  if (data.token_exchange) problems.push(...await tokenExchangeProblems(tx, data.token_exchange));
  if (data.default_resource !== undefined && !(data.default_resource in (data.api_scopes ?? {}))) {
    problems.push({ field: 'default_resource', message: 'must be one of the APIs in api_scopes' });
  }
  if (problems.length) throw invalidInput(problems);
}

/** A token exchange policy must name registered APIs, and scopes one of its audiences defines. */
async function tokenExchangeProblems(tx: Stores, policy: NonNullable<ParsedClient['token_exchange']>): Promise<FieldProblem[]> {
  const problems: FieldProblem[] = [];
  const defined = new Set<string>();
  for (const [field, identifiers] of [['audiences', policy.audiences], ['subject_token_audiences', policy.subject_token_audiences ?? []]] as const) {
    for (const [index, identifier] of identifiers.entries()) {
      const api = await tx.apis.findByIdentifier(identifier);
      if (!api) problems.push({ field: `token_exchange.${field}[${index}]`, message: 'no API is registered with this identifier' });
      else if (field === 'audiences') api.scopes.forEach((scope) => defined.add(scope.name));
    }
  }
  const unknown = policy.scopes.filter((scope) => !defined.has(scope));
  if (unknown.length) problems.push({ field: 'token_exchange.scopes', message: `no API in audiences defines the scope ${unknown.join(', ')}` });
  return problems;
}

/** The writable fields of a client view, as a body PUT would carry them. */
function pickClientFields(view: ClientView): Record<string, unknown> {
  const fields = Object.keys(clientFields.shape);
  return Object.fromEntries(Object.entries(view).filter(([key]) => fields.includes(key)));
}

/** Gatehouse's registration rules; oidc-provider's own schema is checked afterwards. */
export function clientRuleProblems(data: {
  application_type?: 'web' | 'native' | undefined;
  redirect_uris?: string[] | undefined;
  post_logout_redirect_uris?: string[] | undefined;
  grant_types?: string[] | undefined;
  token_endpoint_auth_method?: string | undefined;
  backchannel_logout_uri?: string | undefined;
  jwks?: unknown;
  jwks_uri?: string | undefined;
  scope?: string | undefined;
}, production: boolean, allowedScopes: readonly string[]): { problems: FieldProblem[]; grantTypes: string[] } {
  const problems: FieldProblem[] = [];
  const redirectUris = data.redirect_uris ?? [];
  const isPublic = data.token_endpoint_auth_method === 'none';
  const grantTypes = data.grant_types ?? (redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  const usesCode = grantTypes.includes('authorization_code');

  const rules = { applicationType: data.application_type ?? 'web', production };
  redirectUris.forEach((uri, index) => {
    const problem = redirectUriProblem(uri, rules);
    if (problem) problems.push({ field: `redirect_uris[${index}]`, message: problem });
  });
  (data.post_logout_redirect_uris ?? []).forEach((uri, index) => {
    const problem = redirectUriProblem(uri, rules);
    if (problem) problems.push({ field: `post_logout_redirect_uris[${index}]`, message: problem });
  });
  if (data.backchannel_logout_uri !== undefined) {
    const problem = redirectUriProblem(data.backchannel_logout_uri, { applicationType: 'web', production })
      // Gatehouse's server calls it, and outbound calls are https only (checklist C5).
      ?? (data.backchannel_logout_uri.startsWith('https://') ? undefined : 'must be an https URL');
    if (problem) problems.push({ field: 'backchannel_logout_uri', message: problem });
  }
  if (usesCode && redirectUris.length === 0) {
    problems.push({ field: 'redirect_uris', message: 'the authorization_code grant needs at least one redirect URI' });
  }
  if (!usesCode && redirectUris.length > 0) {
    problems.push({ field: 'grant_types', message: 'redirect URIs are only used with the authorization_code grant' });
  }
  if (grantTypes.includes('refresh_token') && !usesCode && !grantTypes.includes(DEVICE_CODE_GRANT)) {
    problems.push({ field: 'grant_types', message: 'refresh_token needs the authorization_code or device_code grant' });
  }
  if (isPublic && grantTypes.includes(TOKEN_EXCHANGE_GRANT)) {
    problems.push({ field: 'grant_types', message: 'a public client (token_endpoint_auth_method none) cannot exchange tokens' });
  }
  if (isPublic && grantTypes.includes('client_credentials')) {
    problems.push({ field: 'grant_types', message: 'a public client (token_endpoint_auth_method none) cannot use client_credentials' });
  }
  if (data.token_endpoint_auth_method === 'private_key_jwt' && !data.jwks && !data.jwks_uri) {
    problems.push({ field: 'jwks_uri', message: 'private_key_jwt needs jwks or jwks_uri' });
  }
  if (data.jwks && data.jwks_uri) problems.push({ field: 'jwks', message: 'give jwks or jwks_uri, not both' });
  if (data.scope) {
    const unknown = data.scope.split(/\s+/).filter((scope) => !allowedScopes.includes(scope));
    if (unknown.length) problems.push({ field: 'scope', message: `unsupported scopes: ${unknown.join(', ')}` });
  }
  return { problems, grantTypes };
}

function buildMetadata(data: ParsedClient, production: boolean): Record<string, unknown> {
  const { problems, grantTypes } = clientRuleProblems(data, production, SUPPORTED_SCOPES);
  problems.push(...requestObjectProblems(data));
  problems.push(...frontchannelProblems(data, production), ...pairwiseProblems(data));
  if (problems.length) throw invalidInput(problems);
  const usesCode = grantTypes.includes('authorization_code');
  const metadata: Record<string, unknown> = {
    client_name: data.client_name,
    application_type: data.application_type ?? 'web',
    grant_types: grantTypes,
    response_types: usesCode ? ['code'] : [],
    redirect_uris: data.redirect_uris ?? [],
    post_logout_redirect_uris: data.post_logout_redirect_uris ?? [],
    token_endpoint_auth_method: data.token_endpoint_auth_method ?? 'client_secret_basic',
    id_token_signed_response_alg: data.id_token_signed_response_alg ?? 'RS256',
  };
  const optional = [
    'scope', 'logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'jwks_uri', 'jwks', 'contacts',
    'backchannel_logout_uri', 'backchannel_logout_session_required', 'api_scopes', 'default_resource', 'require_mfa',
    'frontchannel_logout_uri', 'frontchannel_logout_session_required', 'subject_type', 'sector_identifier_uri',
    'require_pushed_authorization_requests', 'require_signed_request_object', 'request_object_signing_alg',
    'dpop_bound_access_tokens', 'token_exchange',
  ] as const;
  for (const key of optional) {
    if (data[key] !== undefined) metadata[key] = data[key];
  }
  return metadata;
}
