// Passkeys (WebAuthn credentials) and the challenges issued for them. A challenge lives
// in oidc_payloads under its own model name, keyed by the flow it belongs to, and is
// taken with one DELETE … RETURNING: of two requests presenting the same flow, at most
// one gets the challenge, on any instance.
import type { Db } from './roles.js';

export interface PasskeyRecord {
  /** The credential id, base64url. */
  id: string;
  userId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** A passkey as registered: no use recorded yet. */
export type NewPasskey = Omit<PasskeyRecord, 'createdAt' | 'lastUsedAt'>;

/** What a challenge was issued for; checked again when it is taken. */
export interface ChallengePayload {
  challenge: string;
  /** The user the ceremony is for, when known in advance (registration, second factor). */
  userId?: string | undefined;
}

const CHALLENGE_MODEL = 'PasskeyChallenge';

interface PasskeyRow {
  id: string;
  user_id: string;
  public_key_hex: string;
  counter: bigint | number | string;
  transports: string[] | null;
  device_type: string;
  backed_up: boolean;
  name: string;
  created_at: Date | string;
  last_used_at: Date | string | null;
}

function toRecord(row: PasskeyRow): PasskeyRecord {
  return {
    id: row.id,
    userId: row.user_id,
    publicKey: new Uint8Array(Buffer.from(row.public_key_hex, 'hex')),
    counter: Number(row.counter),
    transports: row.transports ?? [],
    deviceType: row.device_type,
    backedUp: row.backed_up,
    name: row.name,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

export type PasskeyStore = ReturnType<typeof createPasskeyStore>;

/**
 * Public keys travel as hex through SQL (decode/encode): a bytea parameter would depend
 * on which realm's Uint8Array the database driver recognises.
 */
export function createPasskeyStore(db: Db) {
  return {
    async listByUser(userId: string): Promise<PasskeyRecord[]> {
      const rows = await db.$queryRaw<PasskeyRow[]>`
        SELECT id, user_id::text AS user_id, encode(public_key, 'hex') AS public_key_hex, counter, transports, device_type,
               backed_up, name, created_at, last_used_at
        FROM passkeys WHERE user_id = ${userId}::uuid ORDER BY created_at, id`;
      return rows.map(toRecord);
    },

    async find(id: string): Promise<PasskeyRecord | undefined> {
      const rows = await db.$queryRaw<PasskeyRow[]>`
        SELECT id, user_id::text AS user_id, encode(public_key, 'hex') AS public_key_hex, counter, transports, device_type,
               backed_up, name, created_at, last_used_at
        FROM passkeys WHERE id = ${id}`;
      return rows[0] && toRecord(rows[0]);
    },

    /** False when the credential id is already registered (to anyone). */
    async create(passkey: NewPasskey): Promise<boolean> {
      const inserted = await db.$executeRaw`
        INSERT INTO passkeys (id, user_id, public_key, counter, transports, device_type, backed_up, name)
        VALUES (${passkey.id}, ${passkey.userId}::uuid, decode(${Buffer.from(passkey.publicKey).toString('hex')}, 'hex'),
                ${passkey.counter}, ${passkey.transports}::text[], ${passkey.deviceType}, ${passkey.backedUp}, ${passkey.name})
        ON CONFLICT (id) DO NOTHING`;
      return inserted === 1;
    },

    /**
     * Records a successful use: the authenticator's new signature counter and the time.
     * False when a concurrent use already recorded this counter or a later one (a cloned
     * authenticator, or the same assertion raced); authenticators that keep no counter
     * always report 0.
     */
    async recordUse(id: string, counter: number, backedUp: boolean): Promise<boolean> {
      const updated = await db.$executeRaw`
        UPDATE passkeys SET counter = ${counter}, backed_up = ${backedUp}, last_used_at = now()
        WHERE id = ${id} AND (counter < ${counter} OR ${counter} = 0)`;
      return updated === 1;
    },

    /** Deletes one of the user's passkeys; undefined when the user has no such passkey. */
    async delete(userId: string, id: string): Promise<{ id: string; name: string } | undefined> {
      const rows = await db.$queryRaw<Array<{ id: string; name: string }>>`
        DELETE FROM passkeys WHERE id = ${id} AND user_id = ${userId}::uuid RETURNING id, name`;
      return rows[0];
    },

    /** Stores the challenge of a flow, replacing any earlier one of the same flow. */
    async putChallenge(key: string, payload: ChallengePayload, ttlSeconds: number): Promise<void> {
      // Expires by the database's clock, like every artifact (oidc-payloads.ts).
      await db.$executeRaw`
        INSERT INTO oidc_payloads (model, id, payload, expires_at)
        VALUES (${CHALLENGE_MODEL}, ${key}, ${JSON.stringify(payload)}::jsonb, now() + ${ttlSeconds}::float8 * interval '1 second')
        ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at, consumed_at = NULL`;
    },

    /** Removes and returns the live challenge of a flow: each one is taken at most once. */
    async takeChallenge(key: string): Promise<ChallengePayload | undefined> {
      const rows = await db.$queryRaw<Array<{ payload: unknown }>>`
        DELETE FROM oidc_payloads WHERE model = ${CHALLENGE_MODEL} AND id = ${key} AND expires_at > now()
        RETURNING payload`;
      const payload = rows[0]?.payload;
      if (payload === undefined) return undefined;
      return (typeof payload === 'string' ? JSON.parse(payload) : payload) as ChallengePayload;
    },
  };
}
