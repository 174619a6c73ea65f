// APIs (resource servers) that accept Gatehouse access tokens. A token request naming an
// API's identifier as `resource` (RFC 8707), or a client's default resource, gets a JWT
// access token (RFC 9068) with that audience, the API's lifetime and signing algorithm,
// which the API verifies offline against the JWKS.
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { ApiRecord } from '../stores/apis.js';
import type { AuditActor } from '../stores/audit.js';
import { ADMIN_SCOPES, SUPPORTED_SCOPES } from './clients.js';
import type { Stores, Transaction } from './transaction.js';
import { decodeCursor, toPage, type Page } from '../stores/pagination.js';
import { pageQuery, parseInput } from './validation.js';

export const API_SIGNING_ALGORITHMS = ['RS256', 'ES256'] as const;
const RESERVED_SCOPES = new Set<string>([...SUPPORTED_SCOPES, ...ADMIN_SCOPES]);

const apiScope = z
  .object({
    name: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/, 'must be a scope token (no spaces, quotes or backslashes)')
      .refine((name) => !RESERVED_SCOPES.has(name), 'is reserved for OpenID Connect or the admin API'),
    description: z.string().trim().max(300).default('').describe('Shown to users on the consent page'),
  })
  .strict();

const identifier = z
  .string()
  .max(2000)
  .refine((value) => URL.canParse(value), 'must be an absolute URI')
  .refine((value) => !value.includes('#'), 'must not contain a fragment (RFC 8707 §2)')
  .describe('The resource indicator clients ask for, and the `aud` of its tokens, e.g. https://api.example.com');

const apiFields = {
  name: z.string().trim().min(1).max(200),
  scopes: z.array(apiScope).max(100)
    .refine((scopes) => new Set(scopes.map((scope) => scope.name)).size === scopes.length, 'scope names must be unique'),
  // At most an hour (RFC 9700 §4.10.2, checklist D4): a JWT cannot be revoked before it expires.
  access_token_ttl: z.number().int().min(60).max(3600).describe('Access token lifetime, seconds (60 to 3600)'),
  signing_alg: z.enum(API_SIGNING_ALGORITHMS).describe('Algorithm its access tokens are signed with'),
};

export const newApiInput = z
  .object({
    identifier,
    name: apiFields.name.optional().describe('Defaults to the identifier'),
    scopes: apiFields.scopes.default([]),
    access_token_ttl: apiFields.access_token_ttl.optional().describe('Access token lifetime, seconds (defaults to ACCESS_TOKEN_TTL)'),
    signing_alg: apiFields.signing_alg.default('RS256'),
  })
  .strict();

export const apiPatchInput = z.object(apiFields).partial().strict();

export interface ApiView {
  id: string;
  identifier: string;
  name: string;
  scopes: Array<{ name: string; description: string }>;
  access_token_ttl: number;
  signing_alg: string;
  created_at: string;
  updated_at: string;
}

export function viewApi(api: ApiRecord): ApiView {
  return {
    id: api.id,
    identifier: api.identifier,
    name: api.name,
    scopes: api.scopes,
    access_token_ttl: api.accessTokenTtl,
    signing_alg: api.signingAlg,
    created_at: api.createdAt.toISOString(),
    updated_at: api.updatedAt.toISOString(),
  };
}

export type ApiService = ReturnType<typeof createApiService>;

export function createApiService(deps: {
  stores: Stores;
  transaction: Transaction;
  defaultTtl: number;
  /** Resource indicators Gatehouse itself owns (the admin API). */
  reserved: string[];
  announceChange(stores: Stores, identifier: string): Promise<void>;
}) {
  const { stores, transaction } = deps;
  // Token requests for an API look it up each time; kept until a change notice.
  const cache = new Map<string, ApiRecord | null>();

  async function existing(id: string, within: Stores = stores): Promise<ApiRecord> {
    const api = await within.apis.findById(id);
    if (!api) throw new AppError('not_found', `No API with id ${id}.`);
    return api;
  }

  return {
    async create(input: unknown, actor: AuditActor): Promise<ApiView> {
      const data = parseInput(newApiInput, input);
      if (deps.reserved.includes(data.identifier)) {
        throw new AppError('invalid_input', 'This identifier belongs to Gatehouse.', [{ field: 'identifier', message: 'is reserved for the admin API' }]);
      }
      return transaction(async (tx) => {
        const api = await tx.apis.create({
          identifier: data.identifier,
          name: data.name ?? data.identifier,
          scopes: data.scopes,
          accessTokenTtl: data.access_token_ttl ?? deps.defaultTtl,
          signingAlg: data.signing_alg,
        });
        const view = viewApi(api);
        await tx.audit.append(actor, { action: 'api.create', targetType: 'api', targetId: api.id, after: view });
        await deps.announceChange(tx, api.identifier);
        return view;
      });
    },

    async list(query: unknown = {}): Promise<Page<ApiView>> {
      const { limit, cursor } = parseInput(pageQuery, query);
      return toPage(await stores.apis.page({ limit, after: cursor ? decodeCursor(cursor) : undefined }), limit, viewApi);
    },

    async get(id: string): Promise<ApiView> {
      return viewApi(await existing(id));
    },

    async update(id: string, input: unknown, actor: AuditActor): Promise<ApiView> {
      const patch = parseInput(apiPatchInput, input);
      return transaction(async (tx) => {
        const before = await existing(id, tx);
        const api = await tx.apis.update(id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.scopes !== undefined ? { scopes: patch.scopes } : {}),
          ...(patch.access_token_ttl !== undefined ? { accessTokenTtl: patch.access_token_ttl } : {}),
          ...(patch.signing_alg !== undefined ? { signingAlg: patch.signing_alg } : {}),
        });
        const view = viewApi(api);
        await tx.audit.append(actor, { action: 'api.update', targetType: 'api', targetId: id, before: viewApi(before), after: view });
        await deps.announceChange(tx, api.identifier);
        return view;
      });
    },

    /** Deletes an API: no new tokens are issued for it; tokens already issued expire on their own. */
    async delete(id: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        const before = await existing(id, tx);
        await tx.apis.delete(id);
        await tx.audit.append(actor, { action: 'api.delete', targetType: 'api', targetId: id, before: viewApi(before) });
        await deps.announceChange(tx, before.identifier);
      });
    },

    /** The API a resource indicator names, for token issuance (cached until a change notice). */
    async resolve(indicator: string): Promise<ApiRecord | undefined> {
      if (indicator.length > 2000) return undefined;
      const cached = cache.get(indicator);
      if (cached !== undefined) return cached ?? undefined;
      const api = await stores.apis.findByIdentifier(indicator);
      if (cache.size >= 10_000) cache.clear();
      // Unknown indicators are not remembered: made-up ones must not fill the cache.
      if (api) cache.set(indicator, api);
      return api;
    },

    forget(identifier: string): void {
      cache.delete(identifier);
    },

    forgetAll(): void {
      cache.clear();
    },
  };
}
