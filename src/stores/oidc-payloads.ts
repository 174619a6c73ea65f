// Row-level access to the one table that holds every oidc-provider artifact.
import type { Prisma, PrismaClient } from '@prisma/client';

export interface PayloadRow {
  payload: Record<string, unknown>;
  expiresAt: Date | null;
  consumedAt: Date | null;
}

export interface PayloadWrite {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  accountId: string | null;
  uid: string | null;
  userCode: string | null;
  expiresAt: Date | null;
}

export type PayloadStore = ReturnType<typeof createPayloadStore>;

export function createPayloadStore(prisma: PrismaClient) {
  const select = { payload: true, expiresAt: true, consumedAt: true } as const;
  const toRow = (row: { payload: Prisma.JsonValue; expiresAt: Date | null; consumedAt: Date | null }): PayloadRow => ({
    payload: row.payload as Record<string, unknown>,
    expiresAt: row.expiresAt,
    consumedAt: row.consumedAt,
  });

  return {
    async upsert(write: PayloadWrite): Promise<void> {
      const data = {
        payload: write.payload as Prisma.InputJsonObject,
        grantId: write.grantId,
        accountId: write.accountId,
        uid: write.uid,
        userCode: write.userCode,
        expiresAt: write.expiresAt,
      };
      await prisma.oidcPayload.upsert({
        where: { model_id: { model: write.model, id: write.id } },
        create: { model: write.model, id: write.id, ...data },
        update: data,
      });
    },

    /** Inserts a row unless a live one with the same id exists; false when it did. */
    async insert(write: PayloadWrite): Promise<boolean> {
      // An expired row with the same id no longer counts (the purge may not have run yet).
      await prisma.oidcPayload.deleteMany({ where: { model: write.model, id: write.id, expiresAt: { lt: new Date() } } });
      const { count } = await prisma.oidcPayload.createMany({
        data: [{ ...write, payload: write.payload as Prisma.InputJsonObject }],
        skipDuplicates: true,
      });
      return count === 1;
    },

    async find(model: string, id: string): Promise<PayloadRow | undefined> {
      const row = await prisma.oidcPayload.findUnique({ where: { model_id: { model, id } }, select });
      return row ? toRow(row) : undefined;
    },

    async findBy(model: string, where: { uid: string } | { userCode: string }): Promise<PayloadRow | undefined> {
      const row = await prisma.oidcPayload.findFirst({ where: { model, ...where }, select });
      return row ? toRow(row) : undefined;
    },

    /**
     * Marks an artifact consumed if nobody has yet. Returns false when it was already
     * consumed (or is gone): the single conditional UPDATE is what makes one-time use
     * atomic across concurrent requests and instances.
     */
    async consume(model: string, id: string): Promise<{ consumed: boolean; grantId: string | null }> {
      const { count } = await prisma.oidcPayload.updateMany({
        where: { model, id, consumedAt: null },
        data: { consumedAt: new Date() },
      });
      if (count === 1) return { consumed: true, grantId: null };
      const row = await prisma.oidcPayload.findUnique({ where: { model_id: { model, id } }, select: { grantId: true } });
      return { consumed: false, grantId: row?.grantId ?? null };
    },

    async destroy(model: string, id: string): Promise<void> {
      await prisma.oidcPayload.deleteMany({ where: { model, id } });
    },

    /** Deletes the artifacts of a grant: of one model, or of every model and the grant itself. */
    async destroyByGrantId(grantId: string, model?: string): Promise<number> {
      const where = model
        ? { model, grantId }
        : { OR: [{ grantId }, { model: 'Grant', id: grantId }] };
      const { count } = await prisma.oidcPayload.deleteMany({ where });
      return count;
    },

    /** Deletes every session, grant, code and token of a user (password reset, disabling). */
    async destroyByAccountId(accountId: string): Promise<number> {
      const { count } = await prisma.oidcPayload.deleteMany({ where: { accountId } });
      return count;
    },

    async purgeExpired(now = new Date()): Promise<number> {
      const { count } = await prisma.oidcPayload.deleteMany({ where: { expiresAt: { lt: now } } });
      return count;
    },
  };
}
