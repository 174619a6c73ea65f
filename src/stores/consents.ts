import type { Db } from './roles.js';

export type ConsentStore = ReturnType<typeof createConsentStore>;

export function createConsentStore(prisma: Db) {
  return {
    /** Scopes the user has agreed to share with the client, or undefined if none. */
    async scopes(userId: string, clientId: string): Promise<string[] | undefined> {
      const row = await prisma.consent.findUnique({ where: { userId_clientId: { userId, clientId } }, select: { scopes: true } });
      return row?.scopes;
    },

    /**
     * Adds scopes to what the user agreed to share. One statement that merges inside the
     * database, so two consents given at once (two tabs) both count.
     */
    async extend(userId: string, clientId: string, scopes: string[]): Promise<void> {
      await prisma.$executeRaw`
        INSERT INTO consents (user_id, client_id, scopes, created_at, updated_at)
        VALUES (${userId}::uuid, ${clientId}, ${scopes}::text[], now(), now())
        ON CONFLICT (user_id, client_id) DO UPDATE SET
          scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1),
          updated_at = now()`;
    },

    /** Every client the user agreed to share something with, and what. */
    async forUser(userId: string): Promise<Array<{ clientId: string; scopes: string[]; createdAt: Date }>> {
      return prisma.consent.findMany({ where: { userId }, select: { clientId: true, scopes: true, createdAt: true }, orderBy: { createdAt: 'asc' } });
    },

    /** Forgets what the user agreed to share with the client: the consent page asks again. */
    async forget(userId: string, clientId: string): Promise<boolean> {
      const { count } = await prisma.consent.deleteMany({ where: { userId, clientId } });
      return count > 0;
    },
  };
}
