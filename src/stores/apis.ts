import type { Prisma } from '@prisma/client';
import { mapPrismaError } from '../db/errors.js';
import { afterCursor, type PageRequest } from './pagination.js';
import type { Db } from './roles.js';

export interface ApiScope {
  name: string;
  description: string;
}

export interface ApiRecord {
  id: string;
  identifier: string;
  name: string;
  scopes: ApiScope[];
  accessTokenTtl: number;
  signingAlg: string;
  createdAt: Date;
  updatedAt: Date;
}

export type NewApi = Omit<ApiRecord, 'id' | 'createdAt' | 'updatedAt'>;

const toRecord = (row: Prisma.ApiResourceGetPayload<object>): ApiRecord => ({ ...row, scopes: row.scopes as unknown as ApiScope[] });

export type ApiStore = ReturnType<typeof createApiStore>;

export function createApiStore(db: Db) {
  return {
    async list(): Promise<ApiRecord[]> {
      return (await db.apiResource.findMany({ orderBy: { identifier: 'asc' } })).map(toRecord);
    },

    /** limit + 1 rows in (createdAt, id) order after the cursor. */
    async page(page: PageRequest): Promise<ApiRecord[]> {
      const rows = await db.apiResource.findMany({ where: afterCursor(page.after), orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: page.limit + 1 });
      return rows.map(toRecord);
    },

    async findByIdentifier(identifier: string): Promise<ApiRecord | undefined> {
      const row = await db.apiResource.findUnique({ where: { identifier } });
      return row ? toRecord(row) : undefined;
    },

    async findById(id: string): Promise<ApiRecord | undefined> {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const row = await db.apiResource.findUnique({ where: { id } });
      return row ? toRecord(row) : undefined;
    },

    async create(api: NewApi): Promise<ApiRecord> {
      try {
        return toRecord(await db.apiResource.create({ data: { ...api, scopes: api.scopes as unknown as Prisma.InputJsonArray } }));
      } catch (error) {
        mapPrismaError(error, 'An API with this identifier');
      }
    },

    async update(id: string, changes: Partial<Omit<NewApi, 'identifier'>>): Promise<ApiRecord> {
      const { scopes, ...columns } = changes;
      try {
        return toRecord(await db.apiResource.update({
          where: { id },
          data: { ...columns, ...(scopes ? { scopes: scopes as unknown as Prisma.InputJsonArray } : {}) },
        }));
      } catch (error) {
        mapPrismaError(error, 'The API');
      }
    },

    async delete(id: string): Promise<void> {
      try {
        await db.apiResource.delete({ where: { id } });
      } catch (error) {
        mapPrismaError(error, 'The API');
      }
    },
  };
}
