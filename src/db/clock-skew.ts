// This instance's clock against the database's (checklist R7). Stored artifacts expire by
// the database's clock (src/stores/oidc-payloads.ts), so a wrong clock cannot lengthen
// them; but signed tokens carry this instance's iat and exp, and verifiers compare them
// with their own clocks. A skew beyond a few seconds is alarmed: a warning in the log and
// the gauge `gatehouse_clock_skew_seconds`.
import type { Logger } from '../logger.js';
import type { Database } from './database.js';

/** A skew larger than this, either way, is warned about. */
export const CLOCK_SKEW_ALARM_SECONDS = 5;

/** Seconds this instance's clock is ahead of the database's (negative: behind), to within half a round trip. */
export async function measureClockSkew(db: Database): Promise<number> {
  const sent = Date.now();
  const rows = await db.prisma.$queryRaw<Array<{ now: Date | string }>>`SELECT now() AS now`;
  const received = Date.now();
  const databaseNow = new Date(rows[0]!.now).getTime();
  return ((sent + received) / 2 - databaseNow) / 1000;
}

/** Measures the skew at start and then every `intervalSeconds`; reports each measurement. */
export function watchClockSkew(deps: { db: Database; logger: Logger; report(seconds: number): void; intervalSeconds?: number }): { stop(): void } {
  const check = async () => {
    const skew = await measureClockSkew(deps.db);
    deps.report(skew);
    if (Math.abs(skew) > CLOCK_SKEW_ALARM_SECONDS) {
      deps.logger.warn({ skewSeconds: Math.round(skew * 10) / 10, alarmSeconds: CLOCK_SKEW_ALARM_SECONDS }, 'this instance\'s clock differs from the database\'s; synchronise it (NTP)');
    }
  };
  // A database that cannot be reached is reported by readiness, not here.
  const run = () => void check().catch(() => {});
  run();
  const timer = setInterval(run, (deps.intervalSeconds ?? 60) * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
