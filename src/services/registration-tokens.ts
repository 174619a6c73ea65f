// Initial access tokens for dynamic client registration (RFC 7591 §3): an administrator
// hands one to a team, which registers its client at /reg with it. Each token carries
// the Gatehouse registration policy, which limits what a self-registered client may ask
// for (oidc/registration-policy.ts). Tokens are stored only as a digest.
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { sha256 } from '../crypto/random.js';
import { AppError } from '../errors.js';
import type { AuditActor } from '../stores/audit.js';
import type { Stores, Transaction } from './transaction.js';
import type { Page } from '../stores/pagination.js';
import { pageQuery, parseInput } from './validation.js';

export const REGISTRATION_POLICY = 'gatehouse-dynamic';
const MAX_LIFETIME = 30 * 24 * 3600;

export const newRegistrationTokenInput = z
  .object({
    expires_in: z.number().int().min(60).max(MAX_LIFETIME).default(24 * 3600)
      .describe('Seconds until the token stops working (60 s to 30 days; 1 day by default)'),
  })
  .strict();

export interface RegistrationTokenView {
  id: string;
  created_at: string | null;
  expires_at: string | null;
  policies: string[];
}

const epoch = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000).toISOString() : null);

function view(id: string, payload: Record<string, unknown>, expiresAt: Date | null): RegistrationTokenView {
  return {
    id,
    created_at: epoch(payload.iat),
    expires_at: expiresAt?.toISOString() ?? null,
    policies: Array.isArray(payload.policies) ? payload.policies.map(String) : [],
  };
}

export type RegistrationTokenService = ReturnType<typeof createRegistrationTokenService>;

export function createRegistrationTokenService(deps: { provider: Provider; stores: Stores; transaction: Transaction }) {
  const { provider, stores, transaction } = deps;

  return {
    async create(input: unknown, actor: AuditActor): Promise<RegistrationTokenView & { token: string }> {
      const { expires_in: expiresIn } = parseInput(newRegistrationTokenInput, input ?? {});
      const iat = new provider.InitialAccessToken({ expiresIn, policies: [REGISTRATION_POLICY] });
      // oidc-provider sets these only inside the stored record; the view needs them too.
      const now = Math.floor(Date.now() / 1000);
      iat.iat = now;
      iat.exp = now + expiresIn;
      const token = await iat.save();
      const view = { id: sha256(token), created_at: epoch(iat.iat), expires_at: epoch(iat.exp), policies: [REGISTRATION_POLICY] };
      try {
        await stores.audit.append(actor, { action: 'registration_token.create', targetType: 'registration_token', targetId: view.id, after: view });
      } catch (error) {
        // No token may exist without its audit record.
        await iat.destroy().catch(() => {});
        throw error;
      }
      return { ...view, token };
    },

    /** Live tokens in id order; the cursor is the id of the last token of the previous page. */
    async list(query: unknown = {}): Promise<Page<RegistrationTokenView>> {
      const { limit, cursor } = parseInput(pageQuery, query);
      const rows = await stores.payloads.listByModel('InitialAccessToken', { limit: limit + 1, afterId: cursor });
      const shown = rows.slice(0, limit).map(({ id, payload, expiresAt }) => view(id, payload, expiresAt));
      return { items: shown, next_cursor: rows.length > limit ? shown[shown.length - 1]!.id : null };
    },

    async revoke(id: string, actor: AuditActor): Promise<void> {
      const row = id.length <= 100 ? await stores.payloads.find('InitialAccessToken', id) : undefined;
      const live = row && !row.expired;
      if (!live) throw new AppError('not_found', `No registration token ${id}.`);
      const existing = view(id, row.payload, row.expiresAt);
      await transaction(async (tx) => {
        await tx.payloads.destroy('InitialAccessToken', id);
        await tx.audit.append(actor, { action: 'registration_token.revoke', targetType: 'registration_token', targetId: id, before: existing });
      });
    },
  };
}
