import type { PrismaClient } from '@prisma/client';

export interface ConsentRecord {
  userId: string;
  clientId: string;
  scopes: string[];
  claims: string[];
}

export type ConsentStore = ReturnType<typeof createConsentStore>;

export function createConsentStore(prisma: PrismaClient) {
  return {
    async find(userId: string, clientId: string): Promise<ConsentRecord | undefined> {
      const row = await prisma.consent.findUnique({ where: { userId_clientId: { userId, clientId } } });
      return row ? { userId: row.userId, clientId: row.clientId, scopes: row.scopes, claims: row.claims } : undefined;
    },

    /** Adds scopes and claims to what the user already agreed to share with the client. */
    async extend(userId: string, clientId: string, scopes: string[], claims: string[]): Promise<void> {
      const existing = await this.find(userId, clientId);
      const merged = {
        scopes: [...new Set([...(existing?.scopes ?? []), ...scopes])].sort(),
        claims: [...new Set([...(existing?.claims ?? []), ...claims])].sort(),
      };
      await prisma.consent.upsert({
        where: { userId_clientId: { userId, clientId } },
        create: { userId, clientId, ...merged },
        update: merged,
      });
    },
  };
}
