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

interface RawClient {
  id: string;
  name: string;
  metadata: unknown;
  secret_ciphertext: string | null;
  first_party: boolean;
  require_pkce: boolean;
  roles: string[] | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export function createClientStore(prisma: PrismaClient) {
  return {
    /**
     * One statement for a client and its role names: oidc-provider loads the client on
     * every token, introspection and userinfo request.
     */
    async findById(id: string): Promise<ClientRecord | undefined> {
      const rows = await prisma.$queryRaw<RawClient[]>`
        SELECT c.id, c.name, c.metadata, c.secret_ciphertext, c.first_party, c.require_pkce, c.created_at, c.updated_at,
               array_remove(array_agg(r.name ORDER BY r.name), NULL) AS roles
        FROM clients c
        LEFT JOIN client_roles cr ON cr.client_id = c.id
        LEFT JOIN roles r ON r.id = cr.role_id
        WHERE c.id = ${id}
        GROUP BY c.id`;
      const row = rows[0];
      return row && {
        id: row.id,
        name: row.name,
        metadata: (typeof row.metadata === 'string' ? JSON.parse(row.metadata) : row.metadata) as Record<string, unknown>,
        secretCiphertext: row.secret_ciphertext,
        firstParty: row.first_party,
        requirePkce: row.require_pkce,
        roles: row.roles ?? [],
        createdAt: new Date(row.created_at),
        updatedAt: new Date(row.updated_at),
      };
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
