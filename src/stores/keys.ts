import type { Prisma, PrismaClient } from '@prisma/client';

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

export type KeyStore = ReturnType<typeof createKeyStore>;

export function createKeyStore(prisma: PrismaClient) {
  const toRecord = (row: Prisma.SigningKeyGetPayload<object>): SigningKeyRecord => ({
    ...row,
    status: row.status as KeyStatus,
    publicJwk: row.publicJwk as Record<string, unknown>,
  });

  return {
    async list(): Promise<SigningKeyRecord[]> {
      const rows = await prisma.signingKey.findMany({ orderBy: [{ createdAt: 'desc' }, { kid: 'asc' }] });
      return rows.map(toRecord);
    },

    /**
     * Makes `keys` the current keys for their algorithms in one transaction: the
     * previous current key of each algorithm becomes retired (still published).
     */
    async activate(keys: Array<Omit<SigningKeyRecord, 'status' | 'createdAt' | 'activatedAt' | 'retiredAt'>>): Promise<void> {
      const now = new Date();
      await prisma.$transaction([
        prisma.signingKey.updateMany({
          where: { status: 'current', alg: { in: keys.map((key) => key.alg) } },
          data: { status: 'retired', retiredAt: now },
        }),
        prisma.signingKey.createMany({
          data: keys.map((key) => ({
            kid: key.kid,
            alg: key.alg,
            use: key.use,
            status: 'current',
            publicJwk: key.publicJwk as Prisma.InputJsonObject,
            privateJwkCiphertext: key.privateJwkCiphertext,
            activatedAt: now,
          })),
        }),
      ]);
    },

    /** Deletes retired keys retired before `cutoff` (their tokens have all expired). */
    async deleteRetiredBefore(cutoff: Date): Promise<number> {
      const { count } = await prisma.signingKey.deleteMany({ where: { status: 'retired', retiredAt: { lt: cutoff } } });
      return count;
    },
  };
}
