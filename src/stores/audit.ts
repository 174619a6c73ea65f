// The audit trail: append and read, nothing else. The table refuses UPDATE, DELETE and
// TRUNCATE by trigger (migration 20261129000000_admin_api).
import type { Prisma } from '@prisma/client';
import type { Db } from './roles.js';

export interface AuditActor {
  type: 'client' | 'user' | 'cli' | 'registration' | 'system' | 'anonymous';
  id: string;
  /** For a user acting through a client's token: that client. */
  clientId?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
  requestId?: string | undefined;
}

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string;
  before?: unknown;
  after?: unknown;
}

export interface AuditRecord {
  id: bigint;
  occurredAt: Date;
  actorType: string;
  actorId: string;
  actorClientId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  action: string;
  targetType: string;
  targetId: string;
  before: unknown;
  after: unknown;
}

export interface AuditFilter {
  actorId?: string | undefined;
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Newest first: only events with a smaller id. */
  beforeId?: bigint | undefined;
  limit: number;
}

export type AuditStore = ReturnType<typeof createAuditStore>;

const json = (value: unknown) => (value === undefined || value === null ? undefined : (value as Prisma.InputJsonValue));

export function createAuditStore(db: Db) {
  return {
    async append(actor: AuditActor, entry: AuditEntry): Promise<void> {
      await db.auditEvent.create({
        data: {
          actorType: actor.type,
          actorId: actor.id,
          actorClientId: actor.clientId ?? null,
          ip: actor.ip ?? null,
          userAgent: actor.userAgent?.slice(0, 500) ?? null,
          requestId: actor.requestId ?? null,
          action: entry.action,
          targetType: entry.targetType,
          targetId: entry.targetId,
          ...(json(entry.before) !== undefined ? { before: json(entry.before) } : {}),
          ...(json(entry.after) !== undefined ? { after: json(entry.after) } : {}),
        },
      });
    },

    /** Newest first; limit + 1 rows so the caller can tell whether there is more. */
    async list(filter: AuditFilter): Promise<AuditRecord[]> {
      return db.auditEvent.findMany({
        where: {
          ...(filter.actorId !== undefined ? { actorId: filter.actorId } : {}),
          ...(filter.action !== undefined ? { action: filter.action } : {}),
          ...(filter.targetType !== undefined ? { targetType: filter.targetType } : {}),
          ...(filter.targetId !== undefined ? { targetId: filter.targetId } : {}),
          ...(filter.since || filter.until ? { occurredAt: { ...(filter.since ? { gte: filter.since } : {}), ...(filter.until ? { lt: filter.until } : {}) } } : {}),
          ...(filter.beforeId !== undefined ? { id: { lt: filter.beforeId } } : {}),
        },
        orderBy: { id: 'desc' },
        take: filter.limit + 1,
      });
    },
  };
}
