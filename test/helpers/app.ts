// Starts the real Gatehouse app on a random loopback port against a real database:
// PGlite in a temporary folder by default, or the PostgreSQL named by
// TEST_DATABASE_URL, in a fresh schema per app so test files never share state.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Secrets } from '../../src/crypto/secrets.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';

export interface TestApp {
  issuer: string;
  /** This app's log (JSON lines), when the run collects logs. */
  logFile: string | undefined;
  /** Where this instance listens; equals the issuer unless ISSUER was overridden. */
  origin: string;
  /** Where the admin API listens: the origin, or its own listener when ADMIN_PORT is set. */
  adminOrigin: string;
  storage: Storage;
  config: Config;
  app: App;
  db: Database;
  /** Stops the server and closes the store, keeping its data. */
  stop(): Promise<void>;
  /**
   * Stops, then starts again on the same port and data: a process restart. `env` changes
   * settings for the new process (an empty value unsets one), e.g. a rotated SECRET_KEY.
   */
  restart(env?: Record<string, string>): Promise<TestApp>;
  /** Stops and deletes the data. */
  destroy(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Run a second instance on the same PostgreSQL schema as this one (PostgreSQL only). */
  shareStoreWith?: TestApp;
  /**
   * Issuer host name instead of 127.0.0.1, e.g. `localhost` for WebAuthn in a browser
   * (an IP address is not a valid RP ID; localhost is a secure context). The server
   * still listens on 127.0.0.1.
   */
  issuerHost?: 'localhost';
}

export const usingPostgres = Boolean(process.env.TEST_DATABASE_URL);

/** Set by the global setup: the folder every app of this run writes its log to. */
const LOG_DIR = process.env.GATEHOUSE_TEST_LOG_DIR;
let appCounter = 0;

/** Rate limits and lockouts on, but far above what one test sends from one address. */
export const GENEROUS_LIMITS: Record<string, string> = {
  TOKEN_RATE_LIMIT: '100000',
  TOKEN_IP_RATE_LIMIT: '100000',
  INTROSPECTION_RATE_LIMIT: '100000',
  AUTHORIZATION_RATE_LIMIT: '100000',
  LOGIN_RATE_LIMIT: '100000',
  LOGIN_LOCKOUT_THRESHOLD: '100',
  LOGIN_IP_FAILURE_LIMIT: '100000',
};

const secrets: Secrets = { secretKey: randomBytes(32).toString('base64'), cookieKeys: [randomBytes(32).toString('base64url')] };

export async function startApp(options: StartOptions = {}): Promise<TestApp> {
  const storage = options.shareStoreWith?.storage ?? (await createStorage());
  return launch(storage, options, 0);
}

/** Starts several instances on one fresh store at the same moment (PostgreSQL only). */
export async function startTogether(count: number, options: Omit<StartOptions, 'shareStoreWith'> = {}): Promise<TestApp[]> {
  const storage = await createStorage();
  return Promise.all(Array.from({ length: count }, () => launch(storage, options, 0)));
}

export interface Storage {
  env: Record<string, string>;
  drop(): Promise<void>;
}

async function createStorage(): Promise<Storage> {
  const base = process.env.TEST_DATABASE_URL;
  if (base) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const url = new URL(base);
    url.searchParams.set('schema', schema);
    return {
      env: { DATABASE_URL: url.toString() },
      async drop() {
        const client = new pg.Client({ connectionString: base });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      },
    };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-test-'));
  return { env: { DATA_DIR: dir }, drop: () => rm(dir, { recursive: true, force: true }) };
}

async function launch(storage: Storage, options: StartOptions, port: number): Promise<TestApp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actualPort = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${actualPort}`;
  const issuer = options.env?.ISSUER ?? (options.issuerHost ? `http://${options.issuerHost}:${actualPort}` : origin);
  const config = loadConfig({
    NODE_ENV: 'test',
    // Every app of the run logs at debug level to its own file; the global teardown greps
    // them all for secrets (checklist K4).
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? (LOG_DIR ? 'debug' : 'silent'),
    PURGE_INTERVAL: '0',
    // Tests sign in and call the token endpoint far faster than people do, all from
    // 127.0.0.1: limits and lockouts are on (their code runs in every test) but high;
    // the tests of limits and lockouts set their own.
    ...GENEROUS_LIMITS,
    // Without SMTP_URL mail goes to files: keep them out of the working tree.
    MAIL_DIR: path.join(tmpdir(), `gatehouse-test-mail-${process.pid}`),
    ...storage.env,
    ...options.env,
    ISSUER: issuer,
  });
  appCounter += 1;
  const logFile = LOG_DIR ? path.join(LOG_DIR, `app-${process.pid}-${appCounter}.log`) : undefined;
  const logger = createLogger({ level: config.logLevel, ...(logFile ? { file: logFile } : {}) });
  // Five connections per test app keep a suite on the shared server under its connection
  // cap; a test that sets DATABASE_POOL_MAX (pool exhaustion) gets its own number.
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: options.env?.DATABASE_POOL_MAX ? config.databasePoolMax : 5,
    connectTimeoutMs: config.databaseConnectTimeout * 1000,
    statementTimeoutMs: config.databaseStatementTimeout * 1000,
  });
  await migrate(db);
  // A store written by another process (the CLI) is readable only with its secrets.
  const appSecrets: Secrets = config.secretKey && config.cookieKeys
    ? { secretKey: config.secretKey, previousSecretKeys: [...config.secretKeyPrevious], cookieKeys: [...config.cookieKeys] }
    : secrets;
  let app: App;
  try {
    app = await createApp({ config, db, secrets: appSecrets, logger });
  } catch (error) {
    // A start that fails (e.g. stored keys that no configured SECRET_KEY opens) must not
    // keep the store open or the port bound.
    await db.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  server.on('request', app.koa.callback());
  // Tests share one process with the server: a long pause of the event loop (argon2,
  // the embedded database) must not let the server drop a kept-alive connection just as
  // the client reuses it for a POST, which fetch does not retry.
  server.keepAliveTimeout = 60_000;
  // With ADMIN_PORT set (any value; tests pick a free port), the admin API gets its own server.
  let adminServer: Server | undefined;
  let adminOrigin = origin;
  if (app.adminKoa) {
    const admin = createServer(app.adminKoa.callback());
    admin.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
    adminServer = admin;
    adminOrigin = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
  }

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    adminServer?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (adminServer) await new Promise<void>((resolve) => adminServer.close(() => resolve()));
    await app.close();
    await db.close();
  };
  return {
    issuer,
    logFile,
    origin,
    adminOrigin,
    storage,
    config,
    app,
    db,
    stop,
    async restart(env?: Record<string, string>) {
      await stop();
      return launch(storage, env ? { ...options, env: { ...options.env, ...env } } : options, actualPort);
    },
    async destroy() {
      await stop();
      await storage.drop();
    },
  };
}
