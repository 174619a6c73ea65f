import { Prisma, type PrismaClient } from '@prisma/client';
import { mapPrismaError } from '../db/errors.js';

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
  passwordHash: string;
  emailVerified: boolean;
  claims: Record<string, unknown>;
  roles: string[];
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

export function createUserStore(prisma: PrismaClient) {
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
            roles: {
              create: user.roles.map((name) => ({
                role: { connectOrCreate: { where: { name }, create: { name } } },
              })),
            },
          },
          include: withRoles,
        });
        return toRecord(row);
      } catch (error) {
        mapPrismaError(error, 'A user with this email or username');
      }
    },

    async setPasswordHash(id: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id }, data: { passwordHash } });
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
