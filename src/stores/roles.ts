import type { Prisma, PrismaClient } from '@prisma/client';
import { mapPrismaError } from '../db/errors.js';
import { AppError } from '../errors.js';
import { afterCursor, type PageRequest } from './pagination.js';

export interface RoleRecord {
  id: string;
  name: string;
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

export type Db = PrismaClient | Prisma.TransactionClient;
export type RoleStore = ReturnType<typeof createRoleStore>;

export function createRoleStore(db: Db) {
  return {
    async list(): Promise<RoleRecord[]> {
      return db.role.findMany({ orderBy: { name: 'asc' } });
    },

    /** limit + 1 rows in (createdAt, id) order after the cursor. */
    async page(page: PageRequest): Promise<RoleRecord[]> {
      return db.role.findMany({ where: afterCursor(page.after), orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: page.limit + 1 });
    },

    async findByName(name: string): Promise<RoleRecord | undefined> {
      return (await db.role.findUnique({ where: { name } })) ?? undefined;
    },

    async create(role: { name: string; description: string }): Promise<RoleRecord> {
      try {
        return await db.role.create({ data: role });
      } catch (error) {
        mapPrismaError(error, 'A role with this name');
      }
    },

    async update(name: string, changes: { name?: string | undefined; description?: string | undefined }): Promise<RoleRecord> {
      try {
        return await db.role.update({
          where: { name },
          data: {
            ...(changes.name !== undefined ? { name: changes.name } : {}),
            ...(changes.description !== undefined ? { description: changes.description } : {}),
          },
        });
      } catch (error) {
        mapPrismaError(error, changes.name && changes.name !== name ? 'A role with this name' : 'The role');
      }
    },

    async delete(name: string): Promise<void> {
      try {
        await db.role.delete({ where: { name } });
      } catch (error) {
        mapPrismaError(error, 'The role');
      }
    },

    /** How many users and clients hold a role. */
    async holders(roleId: string): Promise<{ users: number; clients: number }> {
      const [users, clients] = await Promise.all([
        db.userRole.count({ where: { roleId } }),
        db.clientRole.count({ where: { roleId } }),
      ]);
      return { users, clients };
    },

    /** The ids of the named roles; names that do not exist are an input error (field `field`). */
    async idsFor(names: string[], field = 'roles'): Promise<string[]> {
      const unique = [...new Set(names)];
      if (!unique.length) return [];
      const found = await db.role.findMany({ where: { name: { in: unique } }, select: { id: true, name: true } });
      const missing = unique.filter((name) => !found.some((role) => role.name === name));
      if (missing.length) {
        throw new AppError('invalid_input', 'Assign only roles that exist.', [
          { field, message: `unknown role${missing.length > 1 ? 's' : ''}: ${missing.join(', ')} (create ${missing.length > 1 ? 'them' : 'it'} first)` },
        ]);
      }
      return found.map((role) => role.id);
    },
  };
}
