// Liveness says the process answers; readiness says it can serve: the database answers,
// every committed migration is applied, and signing keys are loaded.
import Router from '@koa/router';
import type { Database } from '../db/database.js';
import { pendingMigrations } from '../db/migrate.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from './unavailable.js';

export function createHealthRouter(deps: { db: Database; keysLoaded: () => boolean }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const checks: Record<string, string> = {};
    try {
      await withTimeout(deps.db.ping(), 2_000);
      checks.database = 'ok';
      const pending = await withTimeout(pendingMigrations(deps.db), 2_000);
      checks.migrations = pending.length ? `pending: ${pending.join(', ')}` : 'ok';
    } catch {
      checks.database = 'unreachable';
    }
    checks.keys = deps.keysLoaded() ? 'ok' : 'missing';
    const ready = Object.values(checks).every((value) => value === 'ok');
    ctx.status = ready ? 200 : 503;
    if (!ready) ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    ctx.body = { status: ready ? 'ready' : 'unavailable', checks };
  });
  return router;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]);
}
