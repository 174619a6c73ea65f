import type { Prisma } from '@prisma/client';
import { mapPrismaError } from '../db/errors.js';
import { afterCursor, likeLiteral, type PageRequest } from './pagination.js';
import type { Db } from './roles.js';

export interface ClientRecord {
  id: string;
  name: string;
  /** OIDC/OAuth metadata (RFC 7591 names), without client_id and client_secret. */
  metadata: Record<string, unknown>;
  secretCiphertext: string | null;
  firstParty: boolean;
  requirePkce: boolean;
  disabled: boolean;
  dynamic: boolean;
  previousSecretCiphertext: string | null;
  previousSecretExpiresAt: Date | null;
  roles: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type NewClient = Pick<ClientRecord, 'id' | 'name' | 'metadata' | 'secretCiphertext' | 'firstParty' | 'requirePkce' | 'dynamic'> & {
  roleIds: string[];
};

export interface ClientChanges {
  name?: string;
  metadata?: Record<string, unknown>;
  secretCiphertext?: string | null;
  previousSecretCiphertext?: string | null;
  previousSecretExpiresAt?: Date | null;
  firstParty?: boolean;
  requirePkce?: boolean;
  disabled?: boolean;
  /** Replaces the client's roles. */
  roleIds?: string[];
}

export interface ClientFilter {
  /** Case-insensitive substring of the name or the client id. */
  q?: string | undefined;
  disabled?: boolean | undefined;
  dynamic?: boolean | undefined;
  role?: string | undefined;
}

const withRoles = { roles: { select: { role: { select: { name: true } } } } } as const;
type ClientRow = Prisma.ClientGetPayload<{ include: typeof withRoles }>;

function toRecord(row: ClientRow): ClientRecord {
  const { roles, metadata, ...rest } = row;
  return { ...rest, metadata: metadata as Record<string, unknown>, roles: roles.map((link) => link.role.name).sort() };
}

export type ClientStore = ReturnType<typeof createClientStore>;

interface RawClient {
  id: string;
  name: string;
  metadata: unknown;
  secret_ciphertext: string | null;
  first_party: boolean;
  require_pkce: boolean;
  disabled: boolean;
  dynamic: boolean;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: Date | string | null;
  roles: string[] | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export function createClientStore(db: Db) {
  return {
    /**
     * One statement for a client and its role names: oidc-provider loads the client on
     * every token, introspection and userinfo request.
     */
    async findById(id: string): Promise<ClientRecord | undefined> {
      const rows = await db.$queryRaw<RawClient[]>`
        SELECT c.id, c.name, c.metadata, c.secret_ciphertext, c.first_party, c.require_pkce, c.disabled, c.dynamic,
               c.previous_secret_ciphertext, c.previous_secret_expires_at, c.created_at, c.updated_at,
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
        disabled: row.disabled,
        dynamic: row.dynamic,
        previousSecretCiphertext: row.previous_secret_ciphertext,
        previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : new Date(row.previous_secret_expires_at),
        roles: row.roles ?? [],
        createdAt: new Date(row.created_at),
        updatedAt: new Date(row.updated_at),
      };
    },

    /** limit + 1 rows in (createdAt, id) order after the cursor. */
    async list(page: PageRequest, filter: ClientFilter = {}): Promise<ClientRecord[]> {
      const rows = await db.client.findMany({
        where: {
          AND: [
            afterCursor(page.after),
            filter.q ? { OR: [{ name: { contains: likeLiteral(filter.q), mode: 'insensitive' } }, { id: filter.q }] } : {},
            filter.disabled !== undefined ? { disabled: filter.disabled } : {},
            filter.dynamic !== undefined ? { dynamic: filter.dynamic } : {},
            filter.role !== undefined ? { roles: { some: { role: { name: filter.role } } } } : {},
          ],
        },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: page.limit + 1,
        include: withRoles,
      });
      return rows.map(toRecord);
    },

    async create(client: NewClient): Promise<ClientRecord> {
      try {
        const row = await db.client.create({
          data: {
            id: client.id,
            name: client.name,
            metadata: client.metadata as Prisma.InputJsonObject,
            secretCiphertext: client.secretCiphertext,
            firstParty: client.firstParty,
            requirePkce: client.requirePkce,
            dynamic: client.dynamic,
            roles: { create: client.roleIds.map((roleId) => ({ roleId })) },
          },
          include: withRoles,
        });
        return toRecord(row);
      } catch (error) {
        mapPrismaError(error, 'A client with this id');
      }
    },

    async update(id: string, changes: ClientChanges): Promise<ClientRecord> {
      const { roleIds, metadata, ...columns } = changes;
      try {
        const row = await db.client.update({
          where: { id },
          data: {
            ...columns,
            ...(metadata ? { metadata: metadata as Prisma.InputJsonObject } : {}),
            ...(roleIds ? { roles: { deleteMany: {}, create: roleIds.map((roleId) => ({ roleId })) } } : {}),
          },
          include: withRoles,
        });
        return toRecord(row);
      } catch (error) {
        mapPrismaError(error, 'The client');
      }
    },

    async delete(id: string): Promise<void> {
      try {
        await db.client.delete({ where: { id } });
      } catch (error) {
        mapPrismaError(error, 'The client');
      }
    },
  };
}
