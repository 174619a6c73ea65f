// Preloaded into a Gatehouse process by the benchmark (node --import ./bench/sql-counter.mjs
// dist/main.js, spawned with an IPC channel) to count the SQL statements each request
// sends, without touching Gatehouse's code: it wraps pg's Client#query, which every
// Prisma query, transaction statement and raw query goes through.
// Messages: 'reset' clears the log; 'report' answers with the statements since the reset.
import pg from 'pg';

let log = [];
const original = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(config, ...rest) {
  const text = typeof config === 'string' ? config : config?.text;
  if (typeof text === 'string') log.push(text);
  return original.call(this, config, ...rest);
};

process.on('message', (message) => {
  if (message === 'reset') {
    log = [];
    process.send?.({ type: 'reset' });
  } else if (message === 'report') {
    process.send?.({ type: 'report', statements: log });
    log = [];
  }
});
