// Times every SQL statement Prisma sends, for the query latency histogram.
//
// Why the driver adapter and not a Prisma client extension (`$extends`): the adapter is
// where the SQL text exists, so the verb comes from the statement itself — also for
// $queryRaw/$executeRaw, and for each statement when one model call (an include, a
// nested write) compiles to several. The time is the database round trip, without
// Prisma's query compilation and result mapping. An extension would instead give a
// Prisma operation per call (raw calls unclassified), change the client's type for
// every store, and add Prisma's per-call extension machinery on top of ours. Here the
// adapter's methods are replaced once per connection/transaction; a statement costs one
// performance.now() pair, a scan of its first letters and one histogram observe.
import type { PrismaClient } from '@prisma/client';

type AdapterFactory = NonNullable<NonNullable<ConstructorParameters<typeof PrismaClient>[0]>['adapter']>;
type Adapter = Awaited<ReturnType<AdapterFactory['connect']>>;
type Transaction = Awaited<ReturnType<Adapter['startTransaction']>>;
type Queryable = Pick<Adapter, 'queryRaw' | 'executeRaw'>;

/** The closed set of `operation` label values: the leading SQL verb, roughly. */
export type DbOperation = 'select' | 'insert' | 'update' | 'delete' | 'transaction' | 'other';

/** Told about each statement; must not throw (it runs inside the query path). */
export type QueryObserver = (operation: DbOperation, ok: boolean, seconds: number) => void;

/** Holds the observer, which the app sets after the store is open (and migrated). */
export interface QueryProbe {
  observer: QueryObserver | undefined;
}

/**
 * Makes the factory's connections (and their transactions) report to probe.observer.
 * Mutates and returns the factory: Prisma reads the methods when it connects, so
 * replacing them on the instances leaves everything else (types, extra methods) intact.
 */
export function timeQueries<F extends AdapterFactory>(factory: F, probe: QueryProbe): F {
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    timeStatements(adapter, probe);
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => {
      // Opening counts as one `transaction` statement: BEGIN with pg (sent inside
      // startTransaction, so not seen below), the wait for PGlite's single connection.
      const tx = await timed(probe, 'BEGIN', startTransaction, isolationLevel);
      timeTransaction(tx, probe);
      return tx;
    };
    return adapter;
  };
  return factory;
}

function timeStatements(queryable: Queryable, probe: QueryProbe): void {
  const queryRaw = queryable.queryRaw.bind(queryable);
  const executeRaw = queryable.executeRaw.bind(queryable);
  queryable.queryRaw = (query) => timed(probe, query.sql, queryRaw, query);
  queryable.executeRaw = (query) => timed(probe, query.sql, executeRaw, query);
}

function timeTransaction(tx: Transaction, probe: QueryProbe): void {
  timeStatements(tx, probe);
  // With pg, Prisma sends COMMIT/ROLLBACK through executeRaw (timed above) and commit()
  // only releases the connection. Adapters with "phantom" queries (PGlite) do the real
  // COMMIT/ROLLBACK in commit()/rollback(), so time those instead.
  if (!tx.options.usePhantomQuery) return;
  const commit = tx.commit.bind(tx);
  const rollback = tx.rollback.bind(tx);
  tx.commit = () => timed(probe, 'COMMIT', commit, undefined);
  tx.rollback = () => timed(probe, 'ROLLBACK', rollback, undefined);
}

async function timed<A, R>(probe: QueryProbe, sql: string, run: (arg: A) => Promise<R>, arg: A): Promise<R> {
  const observe = probe.observer;
  if (!observe) return run(arg);
  const start = performance.now();
  try {
    const result = await run(arg);
    observe(sqlOperation(sql), true, (performance.now() - start) / 1000);
    return result;
  } catch (error) {
    observe(sqlOperation(sql), false, (performance.now() - start) / 1000);
    throw error;
  }
}

/**
 * The statement's leading verb, read in place (no substring, no regex): the rest of the
 * SQL is never scanned. A CTE (`WITH …`) is `other`: its verb comes later.
 */
export function sqlOperation(sql: string): DbOperation {
  let i = 0;
  let code = sql.charCodeAt(0);
  // Whitespace and opening parentheses, as in `(SELECT …) UNION …`.
  while (code === 32 || code === 40 || (code >= 9 && code <= 13)) code = sql.charCodeAt(++i);
  switch (code | 0x20) {
    case 0x73: // s
      if (startsWord(sql, i, 'select')) return 'select';
      return startsWord(sql, i, 'savepoint') || startsWord(sql, i, 'start') ? 'transaction' : 'other';
    case 0x69: // i
      return startsWord(sql, i, 'insert') ? 'insert' : 'other';
    case 0x75: // u
      return startsWord(sql, i, 'update') ? 'update' : 'other';
    case 0x64: // d
      return startsWord(sql, i, 'delete') ? 'delete' : 'other';
    case 0x62: // b
      return startsWord(sql, i, 'begin') ? 'transaction' : 'other';
    case 0x63: // c
      return startsWord(sql, i, 'commit') ? 'transaction' : 'other';
    case 0x72: // r
      return startsWord(sql, i, 'rollback') || startsWord(sql, i, 'release') ? 'transaction' : 'other';
    default:
      return 'other';
  }
}

/** Case-insensitive `word` at sql[at], followed by a non-letter (or the end). */
function startsWord(sql: string, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) {
    if ((sql.charCodeAt(at + k) | 0x20) !== word.charCodeAt(k)) return false;
  }
  const next = sql.charCodeAt(at + word.length) | 0x20;
  return !(next >= 0x61 && next <= 0x7a) && next !== 0x7f; // 0x5f ('_') | 0x20 = 0x7f
}
