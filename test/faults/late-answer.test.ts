// Checklist R2/I6, the store's side: when PostgreSQL's answer to a statement is late (a
// slow network, where the server's statement_timeout never fires), the store gives up
// one second after DATABASE_STATEMENT_TIMEOUT, and drops that connection. Reusing it
// would be worse than the error: inside a transaction the rollback cannot be sent behind
// the late statement, so the next request would run inside the abandoned transaction
// and see (or commit) its writes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { openDatabase, type Database } from '../../src/db/database.js';
import { isDatabaseUnavailable } from '../../src/db/errors.js';
import { startLatencyProxy, type LatencyProxy } from '../helpers/latency-proxy.js';
import { createPrivatePostgres, postgresBinaries, type PrivatePostgres } from '../helpers/private-postgres.js';

const bin = postgresBinaries();
// Without PostgreSQL's binaries there is no server of our own to slow down.
const describeWithPostgres = bin ? describe : describe.skip;

describeWithPostgres('when an answer from PostgreSQL is late inside a transaction', () => {
  let postgres: PrivatePostgres;
  let proxy: LatencyProxy;
  let db: Database;

  beforeAll(async () => {
    postgres = await createPrivatePostgres(bin!);
    const target = new URL(postgres.url);
    proxy = await startLatencyProxy({ host: target.hostname, port: Number(target.port) });
    // One connection, so the statement after the failure gets the same one unless it
    // was dropped; answers are given up 500 + 1000 ms after a statement is sent.
    db = await openDatabase({ databaseUrl: proxy.through(postgres.url), dataDir: '', poolMax: 1, connectTimeoutMs: 2_000, statementTimeoutMs: 500 });
    await db.prisma.$executeRawUnsafe('CREATE TABLE late_answer (id int)');
  }, 60_000);
  afterAll(async () => {
    // Bounded: a connection that was never released would keep close() waiting forever.
    await Promise.race([db?.close(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await proxy?.close();
    await postgres?.destroy();
  });

  test('then the statement fails as "unavailable" within its bound, the transaction is rolled back, and the next statement runs on a clean connection', async () => {
    const started = Date.now();
    const failure = await db.prisma
      .$transaction(async (tx) => {
        await tx.$executeRawUnsafe('INSERT INTO late_answer VALUES (1)');
        // From here on every chunk takes 3 s each way: the answer to the next statement
        // comes 6 s after it is sent, long after the 1.5 s the store waits for it.
        proxy.setLatency(3_000);
        await tx.$queryRawUnsafe('SELECT 1');
      }, { timeout: 20_000 })
      .then(() => undefined, (error: unknown) => error);
    const elapsed = Date.now() - started;
    proxy.setLatency(0);

    expect(failure).toBeDefined();
    expect(isDatabaseUnavailable(failure)).toBe(true);
    // 1.5 s for the answer, with room for the rollback attempt; not the 6 s the answer takes.
    expect(elapsed).toBeLessThan(4_000);

    // The same pool (one connection) answers again at once, outside any transaction: the
    // insert of the abandoned transaction is not visible, and nothing is open.
    const [row] = await db.prisma.$queryRawUnsafe<Array<{ rows: bigint; in_transaction: boolean }>>(
      "SELECT (SELECT count(*) FROM late_answer) AS rows, (SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS in_transaction",
    );
    expect(Number(row!.rows)).toBe(0);
    expect(row!.in_transaction).toBe(false);
  }, 30_000);
});
