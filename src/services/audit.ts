// Reading the audit trail. Writing happens inside each change's own transaction
// (stores/audit.ts), so a change and its record commit together.
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { AuditRecord } from '../stores/audit.js';
import type { Page } from '../stores/pagination.js';
import type { Stores } from './transaction.js';
import { pageQuery, parseInput } from './validation.js';

export const auditListQuery = pageQuery.extend({
  actor: z.string().max(200).optional().describe('Actor id: a client id, user id or CLI user name'),
  action: z.string().max(100).optional().describe('e.g. client.create, user.update, login.failure, login.locked, grant.revoked'),
  target_type: z.enum(['client', 'user', 'role', 'api', 'key', 'registration_token', 'grant', 'token']).optional(),
  target_id: z.string().max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Events at or after this time (RFC 3339)'),
  until: z.iso.datetime({ offset: true }).optional().describe('Events before this time (RFC 3339)'),
});

export interface AuditEventView {
  id: string;
  occurred_at: string;
  actor: { type: string; id: string; client_id: string | null; ip: string | null; user_agent: string | null };
  request_id: string | null;
  action: string;
  target: { type: string; id: string };
  before: unknown;
  after: unknown;
}

function viewEvent(event: AuditRecord): AuditEventView {
  return {
    id: event.id.toString(),
    occurred_at: event.occurredAt.toISOString(),
    actor: { type: event.actorType, id: event.actorId, client_id: event.actorClientId, ip: event.ip, user_agent: event.userAgent },
    request_id: event.requestId,
    action: event.action,
    target: { type: event.targetType, id: event.targetId },
    before: event.before ?? null,
    after: event.after ?? null,
  };
}

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService(deps: { stores: Stores }) {
  return {
    /** Newest first. The cursor is the id of the last event of the previous page. */
    async list(query: unknown): Promise<Page<AuditEventView>> {
      const { limit, cursor, actor, action, target_type: targetType, target_id: targetId, since, until } = parseInput(auditListQuery, query);
      if (cursor !== undefined && !/^\d{1,19}$/.test(cursor)) {
        throw new AppError('invalid_input', 'The cursor is not one this server issued.', [{ field: 'cursor', message: 'must be a next_cursor value from a previous page' }]);
      }
      const rows = await deps.stores.audit.list({
        limit,
        actorId: actor,
        action,
        targetType,
        targetId,
        since: since ? new Date(since) : undefined,
        until: until ? new Date(until) : undefined,
        beforeId: cursor !== undefined ? BigInt(cursor) : undefined,
      });
      const more = rows.length > limit;
      const shown = more ? rows.slice(0, limit) : rows;
      return { items: shown.map(viewEvent), next_cursor: more ? shown[shown.length - 1]!.id.toString() : null };
    },
  };
}
