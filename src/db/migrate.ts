// Applies the committed Prisma migrations (prisma/migrations/*/migration.sql) at start
// and from `npm run migrate`. Prisma's own `migrate deploy` needs a schema engine binary
// that offline machines cannot download, and it cannot share the single in-process PGlite
// connection with a running server, so Gatehouse applies the same files itself, records
// them in Prisma's `_prisma_migrations` table (same checksums, so `prisma migrate status`
// agrees), and does it all in one transaction under an advisory lock: idempotent, and
// safe when several instances start together.
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database, SqlExecutor } from './database.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations/', import.meta.url));

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  total: number;
}

export class MigrationError extends Error {}

export async function migrate(db: Database, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await readMigrations(dir);
  return db.withMigrationLock(async (sql) => {
    await ensureHistoryTable(sql);
    const done = new Map(
      (await sql.query<{ migration_name: string; checksum: string }>(
        'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      )).map((row) => [row.migration_name, row.checksum]),
    );
    const applied: string[] = [];
    for (const migration of migrations) {
      const recorded = done.get(migration.name);
      if (recorded !== undefined) {
        if (recorded !== migration.checksum) {
          throw new MigrationError(`Migration ${migration.name} was changed after it was applied; restore the original file.`);
        }
        continue;
      }
      await sql.exec(migration.sql);
      await sql.query(
        'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES ($1, $2, $3, now(), now(), 1)',
        [randomUUID(), migration.checksum, migration.name],
      );
      applied.push(migration.name);
    }
    return { applied, total: migrations.length };
  });
}

/** Names of committed migrations not yet applied (used by readiness checks). */
export async function pendingMigrations(db: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const rows = await db.prisma.$queryRawUnsafe<{ migration_name: string }[]>(
    'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
  );
  const done = new Set(rows.map((row) => row.migration_name));
  return migrations.map((migration) => migration.name).filter((name) => !done.has(name));
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

async function ensureHistoryTable(sql: SqlExecutor): Promise<void> {
  await sql.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`);
}
