// Row-level access to the one table that holds every oidc-provider artifact. This is the
// hottest path in Gatehouse (every token, code and session goes through it), so each
// operation is one hand-written statement sent with Prisma's raw queries: Prisma 6's
// WebAssembly query compiler costs ~1 ms of CPU per model query on these machines, about
// three times a raw statement (docs/benchmarks.md), and a conditional UPDATE needs no
// surrounding transaction.
import { Prisma } from '@prisma/client';
import { createBatcher } from '../db/batcher.js';
import { isDatabaseUnavailable } from '../db/errors.js';
import type { Db } from './roles.js';

export interface PayloadRow {
  payload: Record<string, unknown>;
  expiresAt: Date | null;
  /** Expired by the database's clock, the one clock every instance shares (checklist R7). */
  expired: boolean;
  consumedAt: Date | null;
}

export interface PayloadWrite {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  accountId: string | null;
  clientId: string | null;
  uid: string | null;
  userCode: string | null;
  /**
   * Lifetime in seconds, counted from the database's clock when the row is written: a row
   * written by an instance whose clock is off still lives its lifetime and no longer.
   */
  expiresIn: number | null;
}

/** A stored artifact with the key it is stored under (a SHA-256 for bearer artifacts). */
export interface StoredArtifact extends PayloadRow {
  id: string;
}

interface RawListed extends RawRow {
  id: string;
}

interface RawRow {
  payload: unknown;
  expires_at: Date | string | null;
  expired: boolean;
  consumed_at: Date | string | null;
}

export type PayloadStore = ReturnType<typeof createPayloadStore>;

const toRow = (row: RawRow | undefined): PayloadRow | undefined =>
  row && {
    payload: (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Record<string, unknown>,
    expiresAt: toDate(row.expires_at),
    expired: row.expired,
    consumedAt: toDate(row.consumed_at),
  };

/** The columns a read returns: `expired` is decided by the database's clock. */
const READ_COLUMNS = Prisma.sql`payload, expires_at, COALESCE(expires_at <= now(), false) AS expired, consumed_at`;
/** A lifetime in seconds (or null) as a timestamp by the database's clock. */
const expiryFrom = (expiresIn: number | null) => Prisma.sql`now() + ${expiresIn}::float8 * interval '1 second'`;

/**
 * @param options.batched Group concurrent upserts and lookups into one statement each
 *   (src/db/batcher.ts). Only for the shared client: inside a transaction every statement
 *   must run on the transaction's connection, in order.
 */
export function createPayloadStore(prisma: Db, options: { batched?: boolean } = {}) {
  const store = {
    async upsert(write: PayloadWrite): Promise<void> {
      await prisma.$executeRaw`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, client_id, uid, user_code, expires_at)
        VALUES (${write.model}, ${write.id}, ${JSON.stringify(write.payload)}::jsonb, ${write.grantId}, ${write.accountId},
                ${write.clientId}, ${write.uid}, ${write.userCode}, ${expiryFrom(write.expiresIn)})
        ON CONFLICT (model, id) DO UPDATE SET
          payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, account_id = EXCLUDED.account_id, client_id = EXCLUDED.client_id,
          uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`;
    },

    /**
     * Inserts a row unless a live one with the same id exists; false when it did. An
     * expired row with the same id no longer counts (the purge may not have run yet).
     */
    async insert(write: PayloadWrite): Promise<boolean> {
      const inserted = await prisma.$executeRaw`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, client_id, uid, user_code, expires_at)
        VALUES (${write.model}, ${write.id}, ${JSON.stringify(write.payload)}::jsonb, ${write.grantId}, ${write.accountId},
                ${write.clientId}, ${write.uid}, ${write.userCode}, ${expiryFrom(write.expiresIn)})
        ON CONFLICT (model, id) DO UPDATE SET
          payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, account_id = EXCLUDED.account_id, client_id = EXCLUDED.client_id,
          uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at, consumed_at = NULL
        WHERE oidc_payloads.expires_at < now()`;
      return inserted === 1;
    },

    async find(model: string, id: string): Promise<PayloadRow | undefined> {
      const rows = await prisma.$queryRaw<RawRow[]>`
        SELECT ${READ_COLUMNS} FROM oidc_payloads WHERE model = ${model} AND id = ${id}`;
      return toRow(rows[0]);
    },

    async findBy(model: string, where: { uid: string } | { userCode: string }): Promise<PayloadRow | undefined> {
      const rows = 'uid' in where
        ? await prisma.$queryRaw<RawRow[]>`
            SELECT ${READ_COLUMNS} FROM oidc_payloads WHERE model = ${model} AND uid = ${where.uid} LIMIT 1`
        : await prisma.$queryRaw<RawRow[]>`
            SELECT ${READ_COLUMNS} FROM oidc_payloads WHERE model = ${model} AND user_code = ${where.userCode} LIMIT 1`;
      return toRow(rows[0]);
    },

    /**
     * Marks an artifact consumed if nobody has yet. Returns false when it was already
     * consumed (or is gone): the single conditional UPDATE is what makes one-time use
     * atomic across concurrent requests and instances.
     */
    async consume(model: string, id: string): Promise<{ consumed: boolean; grantId: string | null }> {
      const count = await prisma.$executeRaw`
        UPDATE oidc_payloads SET consumed_at = now() WHERE model = ${model} AND id = ${id} AND consumed_at IS NULL`;
      if (count === 1) return { consumed: true, grantId: null };
      const rows = await prisma.$queryRaw<Array<{ grant_id: string | null }>>`
        SELECT grant_id FROM oidc_payloads WHERE model = ${model} AND id = ${id}`;
      return { consumed: false, grantId: rows[0]?.grant_id ?? null };
    },

    async destroy(model: string, id: string): Promise<void> {
      await prisma.$executeRaw`DELETE FROM oidc_payloads WHERE model = ${model} AND id = ${id}`;
    },

    /** Deletes the artifacts of a grant: of one model, or of every model and the grant itself. */
    async destroyByGrantId(grantId: string, model?: string): Promise<number> {
      return model
        ? prisma.$executeRaw`DELETE FROM oidc_payloads WHERE model = ${model} AND grant_id = ${grantId}`
        : prisma.$executeRaw`DELETE FROM oidc_payloads WHERE grant_id = ${grantId} OR (model = 'Grant' AND id = ${grantId})`;
    },

    /** Deletes every session, grant, code and token of a user (password reset, disabling). */
    async destroyByAccountId(accountId: string): Promise<number> {
      return prisma.$executeRaw`DELETE FROM oidc_payloads WHERE account_id = ${accountId}`;
    },

    /** Like destroyByAccountId, but the browser session `keepSessionUid` survives. */
    async destroyByAccountIdExcept(accountId: string, keepSessionUid: string): Promise<number> {
      return prisma.$executeRaw`
        DELETE FROM oidc_payloads WHERE account_id = ${accountId} AND NOT (model = 'Session' AND uid IS NOT DISTINCT FROM ${keepSessionUid})`;
    },

    /**
     * Deletes a user's browser sessions, every one or all but `keepSessionUid`, and nothing
     * else: grants and tokens stay. For a change of sign-in factor (ASVS 7.4.3), where
     * destroyByAccountIdExcept would be too much: it also revokes every grant and token,
     * including those of the session that made the change, signing the user out of their
     * applications on every device for what is routine upkeep (turning on two-step
     * verification, adding a passkey). A session is what lets a browser sign in again
     * without the new factor; tokens were issued to the user's applications, and a
     * password change or reset still revokes them.
     */
    async destroySessionsByAccountId(accountId: string, keepSessionUid?: string): Promise<number> {
      return keepSessionUid === undefined
        ? prisma.$executeRaw`DELETE FROM oidc_payloads WHERE model = 'Session' AND account_id = ${accountId}`
        : prisma.$executeRaw`
            DELETE FROM oidc_payloads WHERE model = 'Session' AND account_id = ${accountId} AND uid IS DISTINCT FROM ${keepSessionUid}`;
    },

    /** Deletes every grant, code, token and registration token issued to a client. */
    async destroyByClientId(clientId: string): Promise<number> {
      return prisma.$executeRaw`DELETE FROM oidc_payloads WHERE client_id = ${clientId}`;
    },

    /** Live artifacts of one model that belong to a user, newest expiry last. */
    async listByAccount(model: string, accountId: string): Promise<StoredArtifact[]> {
      const rows = await prisma.$queryRaw<RawListed[]>`
        SELECT id, ${READ_COLUMNS} FROM oidc_payloads
        WHERE model = ${model} AND account_id = ${accountId} AND (expires_at IS NULL OR expires_at > now())
        ORDER BY expires_at NULLS LAST, id LIMIT 1000`;
      return rows.map((row) => ({ id: row.id, ...toRow(row)! }));
    },

    /** Live artifacts of one model (e.g. initial access tokens) in id order: `limit` of them after `afterId`. */
    async listByModel(model: string, page: { limit: number; afterId?: string | undefined }): Promise<StoredArtifact[]> {
      const rows = await prisma.$queryRaw<RawListed[]>`
        SELECT id, ${READ_COLUMNS} FROM oidc_payloads
        WHERE model = ${model} AND (expires_at IS NULL OR expires_at > now()) AND id > ${page.afterId ?? ''}
        ORDER BY id LIMIT ${page.limit}`;
      return rows.map((row) => ({ id: row.id, ...toRow(row)! }));
    },

    async purgeExpired(): Promise<number> {
      return prisma.$executeRaw`DELETE FROM oidc_payloads WHERE expires_at < now()`;
    },
  };
  if (!options.batched) return store;

  const retrySingly = (error: unknown) => !isDatabaseUnavailable(error);
  const upsert = createBatcher<PayloadWrite, void>({
    run: async (writes) => {
      await upsertMany(prisma, writes);
      return writes.map(() => undefined);
    },
    inFlight: BATCHES_IN_FLIGHT,
    maxBatch: MAX_BATCH,
    retrySingly,
  });
  const find = createBatcher<{ model: string; id: string }, PayloadRow | undefined>({
    run: (keys) => findMany(prisma, keys),
    inFlight: BATCHES_IN_FLIGHT,
    maxBatch: MAX_BATCH,
    retrySingly,
  });
  return { ...store, upsert, find: (model: string, id: string) => find({ model, id }) };
}

// One statement of each kind at a time: while it runs, the next batch fills. On these
// machines each statement costs far more CPU (Prisma, the socket write, the backend) than
// each extra row in it, and one in flight gave larger batches and more tokens per second
// than two (docs/benchmarks.md). A call to an idle store still goes out at once.
const BATCHES_IN_FLIGHT = 1;
const MAX_BATCH = 200;

/** Upserts of many artifacts in one statement; of two writes to one artifact, the later wins. */
async function upsertMany(prisma: Db, writes: PayloadWrite[]): Promise<void> {
  const latest = [...new Map(writes.map((write) => [`${write.model}\u0000${write.id}`, write])).values()];
  const column = <T>(pick: (write: PayloadWrite) => T) => latest.map(pick);
  await prisma.$executeRaw`
    INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, client_id, uid, user_code, expires_at)
    SELECT m, i, p::jsonb, g, a, c, u, uc, now() + e::float8 * interval '1 second'
      FROM unnest(${column((w) => w.model)}::text[], ${column((w) => w.id)}::text[], ${column((w) => JSON.stringify(w.payload))}::text[],
                  ${column((w) => w.grantId)}::text[], ${column((w) => w.accountId)}::text[], ${column((w) => w.clientId)}::text[],
                  ${column((w) => w.uid)}::text[], ${column((w) => w.userCode)}::text[], ${column((w) => (w.expiresIn === null ? null : String(w.expiresIn)))}::text[])
        AS t(m, i, p, g, a, c, u, uc, e)
    ON CONFLICT (model, id) DO UPDATE SET
      payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, account_id = EXCLUDED.account_id, client_id = EXCLUDED.client_id,
      uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`;
}

/** Lookups of many artifacts in one statement, answered in the order asked. */
async function findMany(prisma: Db, keys: { model: string; id: string }[]): Promise<(PayloadRow | undefined)[]> {
  const rows = await prisma.$queryRaw<(RawRow & { ord: number | bigint })[]>`
    SELECT t.ord, p.payload, p.expires_at, COALESCE(p.expires_at <= now(), false) AS expired, p.consumed_at
      FROM unnest(${keys.map((key) => key.model)}::text[], ${keys.map((key) => key.id)}::text[]) WITH ORDINALITY AS t(m, i, ord)
      JOIN oidc_payloads p ON p.model = t.m AND p.id = t.i`;
  const found = new Map(rows.map((row) => [Number(row.ord), row]));
  return keys.map((_, index) => toRow(found.get(index + 1)));
}

function toDate(value: Date | string | null): Date | null {
  if (value === null) return null;
  return value instanceof Date ? value : new Date(value);
}
