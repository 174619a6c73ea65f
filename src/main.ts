// Entry point: read config → open the store → migrate → build the app → listen.
// SIGTERM/SIGINT stop accepting connections, let in-flight requests finish, then exit.
import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.js';
import { resolveSecrets } from './crypto/secrets.js';
import { openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';
import { StoreLockedError } from './db/store-lock.js';
import { createApp } from './app.js';
import { createListener } from './http/listener.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const secrets = await resolveSecrets(config, logger);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: config.databasePoolMax, connectTimeoutMs: config.databaseConnectTimeout * 1000, statementTimeoutMs: config.databaseStatementTimeout * 1000 });
  const migrations = await migrate(db);
  if (migrations.applied.length) logger.info({ applied: migrations.applied }, 'database migrated');
  const app = await createApp({ config, db, secrets, logger });

  const server = await listen(createListener(app.koa.callback(), config.tls, config.timeouts), config.port, config.host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const adminServer = app.adminKoa && config.admin.port !== undefined ? await listen(createListener(app.adminKoa.callback(), undefined, config.timeouts), config.admin.port, config.admin.host) : undefined;
  if (adminServer) logger.info({ admin: `http://${config.admin.host}:${config.admin.port}/admin` }, 'admin API on its own listener');

  logger.info(
    { issuer: config.issuer, discovery: `${config.issuer}/.well-known/openid-configuration`, store: db.description, port },
    `Gatehouse is serving ${config.issuer}`,
  );
  if (config.env !== 'production') {
    logger.info(
      'Next: create a user with `npx gatehouse user create --email you@example.com --password …` and a client with ' +
        '`npx gatehouse client create --name my-app --redirect-uri http://localhost:8080/callback`, and an admin API client with ' +
        '`npx gatehouse client create --name ops --admin` ' +
        '(with the embedded store, stop the server first or use DATABASE_URL).',
    );
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    adminServer?.close();
    adminServer?.closeIdleConnections();
    server.close(() => {
      void (async () => {
        await app.close();
        await db.close();
        logger.info('stopped');
        process.exit(0);
      })();
    });
    server.closeIdleConnections();
    setTimeout(() => {
      logger.warn('in-flight requests did not finish in time; exiting');
      process.exit(1);
    }, 15_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function listen(server: Server, port: number, host: string): Promise<Server> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StoreLockedError) {
    process.stderr.write(`gatehouse: ${error.message}\n`);
  } else {
    process.stderr.write(`gatehouse: failed to start: ${(error as Error)?.message ?? String(error)}\n`);
  }
  process.exit(1);
});
