// What one database statement costs Gatehouse's process, by the road it takes: Prisma
// (query compiler + pg driver adapter, as Gatehouse runs it) against the same statement
// sent with pg directly, plus the wall time of a committed write (WAL flush). Runs on the
// benchmark's schema, pinned like the servers, one statement at a time. Prints JSON.
// Usage: node bench/query-cost.mjs <dist dir> <database url with ?schema=>
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const [distDir, databaseUrl] = process.argv.slice(2);
const { openDatabase } = await import(pathToFileURL(path.join(distDir, 'db', 'database.js')).href);
const db = await openDatabase({ databaseUrl, dataDir: '/nonexistent', poolMax: 2 });
const url = new URL(databaseUrl);
const schema = url.searchParams.get('schema');
url.searchParams.delete('schema');
url.searchParams.delete('application_name');
const pool = new pg.Pool({ connectionString: url.toString(), options: `-c search_path="${schema}"`, max: 2 });

async function measure(run, count = 400) {
  for (let i = 0; i < 50; i += 1) await run(i);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i += 1) await run(i);
  const wall = (performance.now() - started) / count;
  const used = process.cpuUsage(cpu);
  return { wallMs: wall, cpuMs: (used.user + used.system) / 1000 / count };
}

const clientId = (await db.prisma.client.findFirst({ select: { id: true } }))?.id;
if (!clientId) throw new Error('no client in the schema');
const withRoles = { roles: { select: { role: { select: { name: true } } } } };
const results = {};
try {
  results.prismaClientWithRoles = await measure(() => db.prisma.client.findUnique({ where: { id: clientId }, include: withRoles }));
  results.prismaPayloadFind = await measure(() => db.prisma.oidcPayload.findUnique({ where: { model_id: { model: 'AccessToken', id: 'missing' } }, select: { payload: true, expiresAt: true, consumedAt: true } }));
  results.prismaPayloadUpsert = await measure((i) => db.prisma.oidcPayload.upsert({
    where: { model_id: { model: 'BenchProbe', id: `p${i}` } },
    create: { model: 'BenchProbe', id: `p${i}`, payload: { i }, expiresAt: new Date(Date.now() + 60_000) },
    update: { payload: { i } },
  }));
  results.pgClientWithRoles = await measure(() => pool.query(
    'SELECT c.*, COALESCE(array_agg(r.name) FILTER (WHERE r.name IS NOT NULL), \'{}\') AS roles FROM clients c LEFT JOIN client_roles cr ON cr.client_id = c.id LEFT JOIN roles r ON r.id = cr.role_id WHERE c.id = $1 GROUP BY c.id',
    [clientId],
  ));
  results.pgPayloadFind = await measure(() => pool.query('SELECT payload, expires_at, consumed_at FROM oidc_payloads WHERE model = $1 AND id = $2', ['AccessToken', 'missing']));
  results.pgSelect1 = await measure(() => pool.query('SELECT 1'));
  await pool.query('CREATE UNLOGGED TABLE IF NOT EXISTS bench_probe_unlogged (id serial PRIMARY KEY, v text)');
  await pool.query('CREATE TABLE IF NOT EXISTS bench_probe_logged (id serial PRIMARY KEY, v text)');
  results.pgInsertUnlogged = await measure(() => pool.query('INSERT INTO bench_probe_unlogged (v) VALUES ($1)', ['x']), 200);
  results.pgInsertCommitted = await measure(() => pool.query('INSERT INTO bench_probe_logged (v) VALUES ($1)', ['x']), 200);
} finally {
  await db.prisma.oidcPayload.deleteMany({ where: { model: 'BenchProbe' } }).catch(() => {});
  await pool.query('DROP TABLE IF EXISTS bench_probe_unlogged, bench_probe_logged').catch(() => {});
  await pool.end();
  await db.close();
}
process.stdout.write(`${JSON.stringify(results)}\n`);
