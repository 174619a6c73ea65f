import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { SecretBox } from '../crypto/secret-box.js';
import { resolveSecrets } from '../crypto/secrets.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../logger.js';
import { createResealService } from '../services/reseal.js';
import { createTransaction } from '../services/transaction.js';
import { cliActor, printJson } from './context.js';

export function registerSecretCommands(program: Command): void {
  const secrets = program.command('secrets').description('manage the key that seals secrets at rest (SECRET_KEY)');

  secrets
    .command('reseal')
    .description('re-seal every sealed value (signing keys, client secrets, TOTP seeds, session ids) under the current SECRET_KEY; prints counts as JSON')
    .action(async () => {
      printJson(await resealAll());
    });
}

/**
 * Runs without the rest of Gatehouse on purpose: building it loads (and so opens) the
 * signing keys, and a key that does not open must be reported by the reseal, with every
 * other value that does not, rather than stop it before it starts.
 */
async function resealAll() {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, stderr: true, format: config.logFormat });
  const secrets = await resolveSecrets(config, logger);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2, connectTimeoutMs: config.databaseConnectTimeout * 1000, statementTimeoutMs: config.databaseStatementTimeout * 1000 });
  try {
    await migrate(db);
    const service = createResealService({
      db: db.prisma,
      transaction: createTransaction(db.prisma),
      secretBox: SecretBox.fromEncoded(secrets.secretKey, secrets.previousSecretKeys),
    });
    return await service.reseal(cliActor());
  } finally {
    await db.close();
  }
}
