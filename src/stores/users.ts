import { Prisma } from '@prisma/client';
import { mapPrismaError } from '../db/errors.js';
import { afterCursor, likeLiteral, type PageRequest } from './pagination.js';
import type { Db } from './roles.js';

export interface UserRecord {
  id: string;
  email: string;
  username: string | null;
  passwordHash: string | null;
  emailVerified: boolean;
  claims: Record<string, unknown>;
  disabled: boolean;
  roles: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  email: string;
  username?: string | undefined;
  passwordHash: string | null;
  emailVerified: boolean;
  claims: Record<string, unknown>;
  roleIds: string[];
}

export interface UserChanges {
  email?: string;
  username?: string | null;
  emailVerified?: boolean;
  claims?: Record<string, unknown>;
  disabled?: boolean;
  /** Replaces the user's roles. */
  roleIds?: string[];
}

export interface UserFilter {
  /** Case-insensitive substring of the email or username. */
  q?: string | undefined;
  email?: string | undefined;
  username?: string | undefined;
  role?: string | undefined;
  disabled?: boolean | undefined;
}

const withRoles = { roles: { select: { role: { select: { name: true } } } } } as const;
type UserRow = Prisma.UserGetPayload<{ include: typeof withRoles }>;

function toRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    passwordHash: row.passwordHash,
    emailVerified: row.emailVerified,
    claims: (row.claims ?? {}) as Record<string, unknown>,
    disabled: row.disabled,
    roles: row.roles.map((link) => link.role.name).sort(),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

interface RawUser {
  id: string;
  email: string;
  username: string | null;
  password_hash: string | null;
  email_verified: boolean;
  claims: unknown;
  disabled: boolean;
  roles: string[] | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export type UserStore = ReturnType<typeof createUserStore>;

export function createUserStore(prisma: Db) {
  /**
   * One statement for a user and their role names: this runs for every sign-in and token
   * (findAccount), where a model query with an include costs three round trips through
   * Prisma's query compiler.
   */
  async function findOne(condition: Prisma.Sql): Promise<UserRecord | undefined> {
    const rows = await prisma.$queryRaw<RawUser[]>`
      SELECT u.id::text AS id, u.email, u.username, u.password_hash, u.email_verified, u.claims, u.disabled,
             u.created_at, u.updated_at,
             array_remove(array_agg(r.name ORDER BY r.name), NULL) AS roles
      FROM users u
      LEFT JOIN user_roles ur ON ur.user_id = u.id
      LEFT JOIN roles r ON r.id = ur.role_id
      WHERE ${condition}
      GROUP BY u.id`;
    const row = rows[0];
    return row && {
      id: row.id,
      email: row.email,
      username: row.username,
      passwordHash: row.password_hash,
      emailVerified: row.email_verified,
      claims: ((typeof row.claims === 'string' ? JSON.parse(row.claims) : row.claims) ?? {}) as Record<string, unknown>,
      disabled: row.disabled,
      roles: row.roles ?? [],
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    };
  }

  return {
    async findById(id: string): Promise<UserRecord | undefined> {
      if (!isUuid(id)) return undefined;
      return findOne(Prisma.sql`u.id = ${id}::uuid`);
    },

    findByEmail: (email: string) => findOne(Prisma.sql`u.email = ${email}`),

    findByUsername: (username: string) => findOne(Prisma.sql`u.username = ${username}`),

    async create(user: NewUser): Promise<UserRecord> {
      try {
        const row = await prisma.user.create({
          data: {
            email: user.email,
            username: user.username ?? null,
            passwordHash: user.passwordHash,
            emailVerified: user.emailVerified,
            claims: user.claims as Prisma.InputJsonObject,
            roles: { create: user.roleIds.map((roleId) => ({ roleId })) },
          },
          include: withRoles,
        });
        return toRecord(row);
      } catch (error) {
        mapPrismaError(error, 'A user with this email or username');
      }
    },

    /** limit + 1 rows in (createdAt, id) order after the cursor. */
    async list(page: PageRequest, filter: UserFilter = {}): Promise<UserRecord[]> {
      const rows = await prisma.user.findMany({
        where: {
          AND: [
            afterCursor(page.after),
            filter.q
              ? { OR: [{ email: { contains: likeLiteral(filter.q), mode: 'insensitive' } }, { username: { contains: likeLiteral(filter.q), mode: 'insensitive' } }] }
              : {},
            filter.email !== undefined ? { email: filter.email } : {},
            filter.username !== undefined ? { username: filter.username } : {},
            filter.disabled !== undefined ? { disabled: filter.disabled } : {},
            filter.role !== undefined ? { roles: { some: { role: { name: filter.role } } } } : {},
          ],
        },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: page.limit + 1,
        include: withRoles,
      });
      return rows.map(toRecord);
    },

    async update(id: string, changes: UserChanges): Promise<UserRecord> {
      const { roleIds, claims, ...columns } = changes;
      try {
        const row = await prisma.user.update({
          where: { id },
          data: {
            ...columns,
            ...(claims ? { claims: claims as Prisma.InputJsonObject } : {}),
            ...(roleIds ? { roles: { deleteMany: {}, create: roleIds.map((roleId) => ({ roleId })) } } : {}),
          },
          include: withRoles,
        });
        return toRecord(row);
      } catch (error) {
        mapPrismaError(error, changes.email !== undefined || changes.username !== undefined ? 'A user with this email or username' : 'The user');
      }
    },

    async delete(id: string): Promise<void> {
      try {
        await prisma.user.delete({ where: { id } });
      } catch (error) {
        mapPrismaError(error, 'The user');
      }
    },

    async setPasswordHash(id: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id }, data: { passwordHash } });
    },

    /**
     * Sets a new hash only while the stored one is still `expected`: of two changes made
     * from the same password at once exactly one goes through, and a hash upgraded at
     * sign-in never overwrites a password changed meanwhile. Returns whether it was set.
     */
    async replacePasswordHash(id: string, expected: string | null, passwordHash: string): Promise<boolean> {
      const { count } = await prisma.user.updateMany({ where: { id, passwordHash: expected }, data: { passwordHash } });
      return count === 1;
    },

    /**
     * Marks the email verified only while it is still `email`: an address changed in the
     * meantime stays unverified. Returns whether it was marked.
     */
    async markEmailVerified(id: string, email: string): Promise<boolean> {
      const count = await prisma.$executeRaw`
        UPDATE users SET email_verified = true, updated_at = now() WHERE id = ${id}::uuid AND email = ${email}`;
      return count === 1;
    },

    /** Records when the user last chose a new password themselves. */
    async markPasswordChanged(id: string): Promise<void> {
      await prisma.$executeRaw`UPDATE users SET password_changed_at = now() WHERE id = ${id}::uuid`;
    },

    async setDisabled(id: string, disabled: boolean): Promise<UserRecord> {
      try {
        return toRecord(await prisma.user.update({ where: { id }, data: { disabled }, include: withRoles }));
      } catch (error) {
        mapPrismaError(error, 'The user');
      }
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function isUuid(value: string): boolean {
  return UUID.test(value);
}
