// Opens the one store Gatehouse runs on: PostgreSQL when DATABASE_URL is set, otherwise
// the embedded PostgreSQL (PGlite) under DATA_DIR. Both run the same schema and the same
// Prisma client; only the driver adapter differs.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { timeQueries, type QueryObserver, type QueryProbe } from './query-timing.js';
import { acquireStoreLock, type StoreLock } from './store-lock.js';

export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** Runs a script of several statements (no parameters). */
  exec(script: string): Promise<void>;
}

export interface Database {
  readonly kind: 'embedded' | 'postgresql';
  /** Human-readable location, safe to log (no credentials). */
  readonly description: string;
  readonly prisma: PrismaClient;
  /** Runs fn in one transaction that holds the cluster-wide migration lock. */
  withMigrationLock<T>(fn: (sql: SqlExecutor) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /**
   * Reports every statement sent through `prisma` from now on (one observer; undefined
   * stops). Set by the app for its metrics; the store opens before the app exists.
   */
  observeQueries(observer: QueryObserver | undefined): void;
  /**
   * Calls onMessage for every NOTIFY on channel (from any instance, this one included),
   * and onGap whenever notices may have been missed (a lost connection), so the caller
   * can drop whatever it cached.
   */
  listen(channel: string, onMessage: (payload: string) => void, onGap: () => void): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolMax?: number;
  /** Wait for a pooled connection (a free one, or a new one), ms. PostgreSQL only. */
  connectTimeoutMs?: number;
  /** PostgreSQL's statement_timeout, ms: one statement, lock waits included. */
  statementTimeoutMs?: number;
}

// Any constant works; it only has to be the same in every instance (see migrate.ts).
const MIGRATION_LOCK_ID = 72707369;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, {
        poolMax: options.poolMax ?? 10,
        connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
        statementTimeoutMs: options.statementTimeoutMs ?? 15_000,
      })
    : openEmbedded(options.dataDir);
}

/** Closing twice (a failed request path and shutdown, say) closes once. */
function once(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= task());
}

// How much later than the server's statement_timeout the client gives up on an answer: the
// server's timer runs only while it executes, so a statement or result held up on the
// network (a slow or congested link) would otherwise keep a request waiting unbounded.
const ANSWER_GRACE_MS = 1_000;

/**
 * A pg client that drops its connection when a statement's answer is late (pg's
 * query_timeout fired). pg itself only stops waiting: the statement may still run, and
 * inside a transaction the connection would go back to the pool with that transaction
 * open, for the next request to commit or roll back by accident. A dead connection is
 * never reused: the pool discards it and the next checkout opens a fresh one.
 */
class DeadlineClient extends pg.Client {
  // pg's query has a dozen overloads (callback, promise, submittable); this one forwards
  // them all, so only `any` fits every one of them.
  override query(...args: any[]): any {
    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const callback = args[last] as (error: unknown, result: unknown) => void;
      args[last] = (error: unknown, result: unknown) => {
        this.dropIfLate(error);
        callback(error, result);
      };
      return (super.query as (...params: unknown[]) => unknown)(...args);
    }
    const result = (super.query as (...params: unknown[]) => unknown)(...args);
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        this.dropIfLate(error);
        throw error;
      });
    }
    return result;
  }

  private dropIfLate(error: unknown): void {
    if (error instanceof Error && error.message === 'Query read timeout') {
      (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    }
  }
}

/**
 * Prisma ends a transaction by sending COMMIT or ROLLBACK and only then releasing its
 * connection; when that statement fails (the connection dropped, or an answer was late
 * and DeadlineClient closed it), the release is skipped and the connection stays checked
 * out for good. Each such failure would shrink the pool by one, until no request gets a
 * connection and shutdown waits forever for them. Releasing it here lets pg-pool discard
 * the broken connection and open a fresh one.
 */
function releaseOnFailedEnd(factory: PrismaPg): PrismaPg {
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => {
      const tx = await startTransaction(isolationLevel);
      const executeRaw = tx.executeRaw.bind(tx);
      tx.executeRaw = async (query) => {
        try {
          return await executeRaw(query);
        } catch (error) {
          // With pg, rollback() only releases the connection (the SQL was sent above).
          if (/^\s*(COMMIT|ROLLBACK)\b/i.test(query.sql)) await tx.rollback().catch(() => {});
          throw error;
        }
      };
      return tx;
    };
    return adapter;
  };
  return factory;
}

async function openPostgres(url: string, limits: { poolMax: number; connectTimeoutMs: number; statementTimeoutMs: number }): Promise<Database> {
  // `?schema=NAME` selects a PostgreSQL schema, as in Prisma's own URLs. Prisma's query
  // compiler qualifies every table with it, and the search path makes our raw SQL
  // (migrations) land there too.
  const target = new URL(url);
  const schema = target.searchParams.get('schema') ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/i.test(schema)) throw new Error('DATABASE_URL: schema must be a plain identifier');
  target.searchParams.delete('schema');
  const pool = new pg.Pool({
    connectionString: target.toString(),
    // UTC sessions: timestamps sent as parameters carry no zone, and must mean the same
    // instant as now() in SQL whatever the server's default time zone is.
    options: `-c search_path="${schema}" -c TimeZone=UTC`,
    max: limits.poolMax,
    // Fail fast while the server is unreachable, slow or every connection is busy (a long
    // lock) instead of queueing requests forever: the error becomes a 503.
    connectionTimeoutMillis: limits.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: limits.statementTimeoutMs,
    query_timeout: limits.statementTimeoutMs + ANSWER_GRACE_MS,
    Client: DeadlineClient,
  });
  // An idle client losing its connection (server restart) must not crash the process;
  // the pool replaces it on the next checkout.
  pool.on('error', () => {});
  const probe: QueryProbe = { observer: undefined };
  const prisma = new PrismaClient({ adapter: timeQueries(releaseOnFailedEnd(new PrismaPg(pool, { schema })), probe) });

  // LISTEN needs one long-lived connection of its own, outside the pool. When it drops,
  // notices sent meanwhile are lost: listeners hear about the gap, and it reconnects.
  const listeners: Array<{ channel: string; onMessage: (payload: string) => void; onGap: () => void }> = [];
  let listener: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  async function connectListener(): Promise<void> {
    if (closed) return;
    const previous = listener;
    listener = undefined;
    await previous?.end().catch(() => {});
    const client = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: limits.connectTimeoutMs });
    const lost = () => {
      if (closed || listener !== client) return;
      listener = undefined;
      for (const entry of listeners) entry.onGap();
      retry = setTimeout(() => void connectListener().catch(() => {}), 1_000);
      retry.unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      for (const entry of listeners) if (entry.channel === message.channel) entry.onMessage(message.payload ?? '');
    });
    try {
      await client.connect();
      for (const channel of new Set(listeners.map((entry) => entry.channel))) await client.query(`LISTEN "${channel}"`);
      listener = client;
    } catch (error) {
      await client.end().catch(() => {});
      if (listeners.length && !closed) {
        retry = setTimeout(() => void connectListener().catch(() => {}), 1_000);
        retry.unref();
      }
      throw error;
    }
  }

  return {
    kind: 'postgresql',
    description: `PostgreSQL at ${target.hostname}:${target.port || 5432}${target.pathname} (schema ${schema})`,
    prisma,
    async withMigrationLock(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // Two instances starting together: the second waits here, then finds the
        // migrations applied and does nothing.
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
        const result = await fn({
          query: async (text, params) => (await client.query(text, params)).rows,
          exec: async (script) => {
            await client.query(script);
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    observeQueries(observer) {
      probe.observer = observer;
    },
    async listen(channel, onMessage, onGap) {
      listeners.push({ channel, onMessage, onGap });
      await connectListener();
    },
    close: once(async () => {
      closed = true;
      if (retry) clearTimeout(retry);
      await listener?.end().catch(() => {});
      await prisma.$disconnect();
      await pool.end();
    }),
  };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const inMemory = dataDir.startsWith('memory://');
  let lock: StoreLock | undefined;
  let location = dataDir;
  if (!inMemory) {
    const root = path.resolve(dataDir);
    await mkdir(root, { recursive: true });
    lock = await acquireStoreLock(root);
    location = path.join(root, 'pgdata');
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(inMemory ? undefined : location);
  } catch (error) {
    await lock?.release();
    throw error;
  }
  // pglite-prisma-adapter 0.6 (the last line for Prisma 6) is typed against an older
  // @prisma/driver-adapter-utils; the runtime interface is the same.
  const probe: QueryProbe = { observer: undefined };
  const prisma = new PrismaClient({ adapter: timeQueries(new PrismaPGlite(pglite) as unknown as PrismaPg, probe) });
  return {
    kind: 'embedded',
    description: inMemory ? 'embedded PostgreSQL (PGlite) in memory' : `embedded PostgreSQL (PGlite) in ${location}`,
    prisma,
    async withMigrationLock(fn) {
      // PGlite is a single connection owned by this process (guarded by the store lock),
      // so a transaction is all the locking needed.
      return pglite.transaction((tx) =>
        fn({
          query: async (text, params) => (await tx.query(text, params)).rows as never[],
          exec: async (script) => {
            await tx.exec(script);
          },
        }),
      );
    },
    async ping() {
      await pglite.query('SELECT 1');
    },
    observeQueries(observer) {
      probe.observer = observer;
    },
    async listen(channel, onMessage) {
      // One process owns the embedded store, so no notice can be missed.
      await pglite.listen(channel, onMessage);
    },
    close: once(async () => {
      await prisma.$disconnect();
      await pglite.close();
      await lock?.release();
    }),
  };
}
