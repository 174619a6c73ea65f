import type { Prisma, PrismaClient } from '@prisma/client';
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

export type UserStore = ReturnType<typeof createUserStore>;

export function createUserStore(prisma: PrismaClient) {
  return {
    async findById(id: string): Promise<UserRecord | undefined> {
      if (!isUuid(id)) return undefined;
      const row = await prisma.user.findUnique({ where: { id }, include: withRoles });
      return row ? toRecord(row) : undefined;
    },

    async findByEmail(email: string): Promise<UserRecord | undefined> {
      const row = await prisma.user.findUnique({ where: { email }, include: withRoles });
      return row ? toRecord(row) : undefined;
    },

    async findByUsername(username: string): Promise<UserRecord | undefined> {
      const row = await prisma.user.findUnique({ where: { username }, include: withRoles });
      return row ? toRecord(row) : undefined;
    },

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
