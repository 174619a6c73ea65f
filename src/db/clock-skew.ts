// This instance's clock against the database's (checklist R7). Stored artifacts expire by
// the database's clock (src/stores/oidc-payloads.ts), so a wrong clock does not lengthen
// the row an artifact is written in; but signed tokens, and artifacts saved again later,
// carry the exp this instance computed, and verifiers compare it with their own clocks.
// A skew beyond a few seconds is alarmed: a warning in the log and the gauge
// `gatehouse_clock_skew_seconds`.
import type { Logger } from '../logger.js';
import type { Database } from './database.js';

/** A skew larger than this, either way, is warned about. */
export const CLOCK_SKEW_ALARM_SECONDS = 5;

/** A reading that took longer than this (a wait for a connection, a slow database) is not trusted. */
const MAX_ROUND_TRIP_MS = 1_000;

/**
 * Seconds this instance's clock is ahead of the database's (negative: behind), to within
 * half a round trip; undefined when the round trip took too long to tell.
 */
export async function measureClockSkew(db: Database): Promise<number | undefined> {
  const sent = Date.now();
  const rows = await db.prisma.$queryRaw<Array<{ now: Date | string }>>`SELECT clock_timestamp() AS now`;
  const received = Date.now();
  if (received - sent > MAX_ROUND_TRIP_MS) return undefined;
  const databaseNow = new Date(rows[0]!.now).getTime();
  return ((sent + received) / 2 - databaseNow) / 1000;
}

/** Measures the skew at start and then every `intervalSeconds`; reports each measurement. */
export function watchClockSkew(deps: { db: Database; logger: Logger; report(seconds: number): void; intervalSeconds?: number }): { stop(): void } {
  const check = async () => {
    const skew = await measureClockSkew(deps.db);
    if (skew === undefined) return;
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
