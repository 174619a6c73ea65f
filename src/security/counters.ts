// Counters shared by every instance (checklist I8): rate limits, failed sign-ins and
// lockouts must hold however requests are spread over instances, so they never live in
// one process's memory. PostgreSQL (the store every instance already shares) by default,
// Redis when REDIS_URL is set. Each counter is a fixed window: the first hit opens it for
// `windowSeconds`, later hits in it add up, and the next hit after it closes starts over.
import { Redis } from 'ioredis';
import type { PrismaClient } from '@prisma/client';

export interface Count {
  hits: number;
  /** Milliseconds until this window closes. */
  resetMs: number;
}

export interface Counters {
  /** Adds `amount` hits to each key's window and returns the totals, in key order. */
  hit(entries: readonly { key: string; windowSeconds: number; amount?: number }[]): Promise<Count[]>;
  /** The current window of a key, if one is open. */
  peek(key: string): Promise<Count | undefined>;
  clear(keys: readonly string[]): Promise<void>;
  /** Deletes closed windows; returns how many (0 where the store expires keys itself). */
  purgeExpired(): Promise<number>;
  close(): Promise<void>;
}

export function postgresCounters(prisma: PrismaClient): Counters {
  return {
    async hit(entries) {
      if (!entries.length) return [];
      // One statement for all keys: a request checking an IP and a client limit pays one
      // round trip. An expired window is restarted in place, atomically, by the upsert.
      const keys = entries.map((entry) => entry.key);
      const windows = entries.map((entry) => entry.windowSeconds * 1000);
      const amounts = entries.map((entry) => entry.amount ?? 1);
      const rows = await prisma.$queryRaw<{ key: string; hits: number; reset_ms: number }[]>`
        INSERT INTO rate_counters (key, hits, expires_at)
        SELECT k, a, now() + w * interval '1 millisecond'
          FROM unnest(${keys}::text[], ${windows}::int[], ${amounts}::int[]) AS t(k, w, a)
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN rate_counters.expires_at <= now() THEN EXCLUDED.hits ELSE rate_counters.hits + EXCLUDED.hits END,
          expires_at = CASE WHEN rate_counters.expires_at <= now() THEN EXCLUDED.expires_at ELSE rate_counters.expires_at END
        RETURNING key, hits, GREATEST(0, CEIL(EXTRACT(EPOCH FROM (expires_at - now())) * 1000))::int AS reset_ms`;
      const byKey = new Map(rows.map((row) => [row.key, { hits: Number(row.hits), resetMs: Number(row.reset_ms) }]));
      return keys.map((key) => byKey.get(key) ?? { hits: 0, resetMs: 0 });
    },
    async peek(key) {
      const rows = await prisma.$queryRaw<{ hits: number; reset_ms: number }[]>`
        SELECT hits, CEIL(EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::int AS reset_ms
          FROM rate_counters WHERE key = ${key} AND expires_at > now()`;
      const row = rows[0];
      return row ? { hits: Number(row.hits), resetMs: Number(row.reset_ms) } : undefined;
    },
    async clear(keys) {
      if (keys.length) await prisma.$executeRaw`DELETE FROM rate_counters WHERE key = ANY(${[...keys]}::text[])`;
    },
    async purgeExpired() {
      return prisma.$executeRaw`DELETE FROM rate_counters WHERE expires_at <= now()`;
    },
    async close() {},
  };
}

// INCRBY opens or extends the window; the expiry is set only by the hit that opened it.
const HIT_SCRIPT = `
local hits = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { hits, ttl }`;

/** Any Redis failure means the counters cannot be consulted: a 503, like a database outage. */
function unavailable(cause: unknown): Error {
  return Object.assign(new Error('the Redis counter store is unavailable', { cause }), { kind: 'CounterStoreUnavailable' });
}

export function redisCounters(url: string): Counters {
  // Fail fast rather than queue commands while Redis is away: a limit check that cannot
  // be made is an error the caller maps to 503, not a request that hangs.
  // Connected on first use, so a CLI command that never counts opens no connection.
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, keyPrefix: 'gatehouse:rate:' });
  redis.on('error', () => {
    // Reconnection is automatic; failed commands surface to their callers.
  });
  let connecting: Promise<void> | undefined;
  const connected = () => {
    if (redis.status === 'ready') return Promise.resolve();
    connecting ??= redis.connect().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };
  const guarded = <T>(task: () => Promise<T>): Promise<T> => task().catch((error: unknown) => {
    throw unavailable(error);
  });
  return {
    hit: (entries) => guarded(async () => {
      if (!entries.length) return [];
      await connected();
      const pipeline = redis.pipeline();
      for (const entry of entries) pipeline.eval(HIT_SCRIPT, 1, entry.key, entry.windowSeconds * 1000, entry.amount ?? 1);
      const results = (await pipeline.exec()) ?? [];
      return results.map(([error, value]) => {
        if (error) throw error;
        const [hits, ttl] = value as [number, number];
        return { hits: Number(hits), resetMs: Math.max(0, Number(ttl)) };
      });
    }),
    peek: (key) => guarded(async () => {
      await connected();
      const [hits, ttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
      return hits === null || ttl <= 0 ? undefined : { hits: Number(hits), resetMs: ttl };
    }),
    clear: (keys) => guarded(async () => {
      await connected();
      if (keys.length) await redis.del(...keys);
    }),
    async purgeExpired() {
      return 0;
    },
    async close() {
      if (redis.status !== 'wait') await redis.quit().catch(() => redis.disconnect());
    },
  };
}
