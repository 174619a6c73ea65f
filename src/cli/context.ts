// What every CLI command runs on: the same configuration, store and services as the
// server. The embedded store is opened under its lock, so the CLI refuses (with the
// reason) while a server holds it instead of corrupting it.
import { loadConfig } from '../config.js';
import { resolveSecrets } from '../crypto/secrets.js';
import { openDatabase, type Database } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { createGatehouse, type Gatehouse } from '../gatehouse.js';
import { createRenderer } from '../http/views.js';
import { createLogger } from '../logger.js';
import type { AuditActor } from '../stores/audit.js';
import { userInfo } from 'node:os';

export interface CliContext extends Gatehouse {
  db: Database;
}

export async function withGatehouse<T>(task: (context: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Logs go to stderr so stdout carries only the command's JSON.
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, stderr: true, format: config.logFormat });
  const secrets = await resolveSecrets(config, logger);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeout * 1000, statementTimeoutMs: config.databaseStatementTimeout * 1000 });
  try {
    await migrate(db);
    const gatehouse = await createGatehouse({ config, db, secrets, logger, render: createRenderer({ cache: false, brand: config.brand }) });
    try {
      return await task({ ...gatehouse, db });
    } finally {
      await gatehouse.services.counters.close();
    }
  } finally {
    await db.close();
  }
}

export async function withDatabase<T>(task: (db: Database) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeout * 1000, statementTimeoutMs: config.databaseStatementTimeout * 1000 });
  try {
    return await task(db);
  } finally {
    await db.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Who the audit trail names for a change made from this command line. */
export function cliActor(): AuditActor {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep "unknown"
  }
  return { type: 'cli', id: name };
}
