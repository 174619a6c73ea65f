import type { Prisma, PrismaClient } from '@prisma/client';
import { mapPrismaError } from '../db/errors.js';

export interface ClientRecord {
  id: string;
  name: string;
  /** OIDC/OAuth metadata (RFC 7591 names), without client_id and client_secret. */
  metadata: Record<string, unknown>;
  secretCiphertext: string | null;
  firstParty: boolean;
  requirePkce: boolean;
  roles: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type NewClient = Omit<ClientRecord, 'createdAt' | 'updatedAt'>;

const withRoles = { roles: { select: { role: { select: { name: true } } } } } as const;
type ClientRow = Prisma.ClientGetPayload<{ include: typeof withRoles }>;

function toRecord(row: ClientRow): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    metadata: row.metadata as Record<string, unknown>,
    secretCiphertext: row.secretCiphertext,
    firstParty: row.firstParty,
    requirePkce: row.requirePkce,
    roles: row.roles.map((link) => link.role.name).sort(),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;

export function createClientStore(prisma: PrismaClient) {
  return {
    async findById(id: string): Promise<ClientRecord | undefined> {
      const row = await prisma.client.findUnique({ where: { id }, include: withRoles });
      return row ? toRecord(row) : undefined;
    },

    async create(client: NewClient): Promise<ClientRecord> {
      try {
        const row = await prisma.client.create({
          data: {
            id: client.id,
            name: client.name,
            metadata: client.metadata as Prisma.InputJsonObject,
            secretCiphertext: client.secretCiphertext,
            firstParty: client.firstParty,
            requirePkce: client.requirePkce,
            roles: {
              create: client.roles.map((name) => ({
                role: { connectOrCreate: { where: { name }, create: { name } } },
              })),
            },
          },
          include: withRoles,
        });
        return toRecord(row);
      } catch (error) {
        mapPrismaError(error, 'A client with this id');
      }
    },
  };
}
