import type { Prisma, PrismaClient } from '@prisma/client';

/**
 * next: published in the JWKS, signs nothing yet (verifiers learn it before they meet it);
 * current: signs (one per algorithm); retired: still published, verifies only, until every
 * token it signed has expired.
 */
export type KeyStatus = 'next' | 'current' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  use: string;
  status: KeyStatus;
  publicJwk: Record<string, unknown>;
  privateJwkCiphertext: string;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
}

export type NewSigningKey = Pick<SigningKeyRecord, 'kid' | 'alg' | 'use' | 'publicJwk' | 'privateJwkCiphertext'>;

// Any constant; every instance must use the same (see exclusive()).
const KEY_LOCK_ID = 72707370;

type Client = PrismaClient | Prisma.TransactionClient;

function operations(client: Client) {
  const toRecord = (row: Prisma.SigningKeyGetPayload<object>): SigningKeyRecord => ({
    ...row,
    status: row.status as KeyStatus,
    publicJwk: row.publicJwk as Record<string, unknown>,
  });

  return {
    async list(): Promise<SigningKeyRecord[]> {
      const rows = await client.signingKey.findMany({ orderBy: [{ createdAt: 'desc' }, { kid: 'asc' }] });
      return rows.map(toRecord);
    },

    /** Adds a key that is published but does not sign yet. */
    async addNext(key: NewSigningKey): Promise<void> {
      await client.signingKey.create({ data: { ...key, publicJwk: key.publicJwk as Prisma.InputJsonObject, status: 'next' } });
    },

    /** Makes a key current for its algorithm; the previous current key becomes retired. */
    async promote(kid: string, alg: string): Promise<void> {
      const now = new Date();
      await client.signingKey.updateMany({ where: { status: 'current', alg }, data: { status: 'retired', retiredAt: now } });
      await client.signingKey.update({ where: { kid }, data: { status: 'current', activatedAt: now } });
    },

    /** Deletes keys retired before `cutoff` (their tokens have all expired). */
    async deleteRetiredBefore(cutoff: Date): Promise<number> {
      const { count } = await client.signingKey.deleteMany({ where: { status: 'retired', retiredAt: { lt: cutoff } } });
      return count;
    },
  };
}

export type KeyOperations = ReturnType<typeof operations>;
export type KeyStore = ReturnType<typeof createKeyStore>;

export function createKeyStore(prisma: PrismaClient) {
  return {
    ...operations(prisma),

    /**
     * Runs fn in one transaction holding a cluster-wide lock, so instances starting or
     * rotating at the same moment act one after the other and agree on the key set.
     */
    exclusive<T>(fn: (keys: KeyOperations, tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
      return prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${KEY_LOCK_ID})`);
          return fn(operations(tx), tx);
        },
        { timeout: 60_000, maxWait: 60_000 },
      );
    },
  };
}
