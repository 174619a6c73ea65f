// Mailed single-use tokens (password reset, email verification), keyed by the SHA-256 of
// the token: the table never holds a value that could be used. Times come from the
// database clock, so every instance agrees on what has expired.
import { randomUUID } from 'node:crypto';
import type { Db } from './roles.js';

export type UserTokenPurpose = 'password_reset' | 'email_verification';

export interface UserTokenRecord {
  id: string;
  userId: string;
  purpose: UserTokenPurpose;
  /** The address the token was sent to. */
  email: string;
  expiresAt: Date;
}

interface RawToken {
  id: string;
  user_id: string;
  purpose: string;
  email: string;
  expires_at: Date | string;
}

const toRecord = (row: RawToken): UserTokenRecord => ({
  id: row.id,
  userId: row.user_id,
  purpose: row.purpose as UserTokenPurpose,
  email: row.email,
  expiresAt: new Date(row.expires_at),
});

export type UserTokenStore = ReturnType<typeof createUserTokenStore>;

export function createUserTokenStore(db: Db) {
  return {
    /**
     * Stores a new token and deletes the user's unused ones of the same purpose, so only
     * the latest link works. Call inside a transaction: the user's row is locked so two
     * requests at once cannot both leave a live token.
     */
    async replace(token: { userId: string; purpose: UserTokenPurpose; tokenHash: string; email: string; lifetimeSeconds: number }): Promise<UserTokenRecord> {
      await db.$queryRaw`SELECT 1 FROM users WHERE id = ${token.userId}::uuid FOR UPDATE`;
      await db.$executeRaw`
        DELETE FROM user_tokens WHERE user_id = ${token.userId}::uuid AND purpose = ${token.purpose} AND used_at IS NULL`;
      const rows = await db.$queryRaw<RawToken[]>`
        INSERT INTO user_tokens (id, user_id, purpose, token_hash, email, expires_at)
        VALUES (${randomUUID()}::uuid, ${token.userId}::uuid, ${token.purpose}, ${token.tokenHash}, ${token.email},
                now() + ${token.lifetimeSeconds}::int * interval '1 second')
        RETURNING id::text AS id, user_id::text AS user_id, purpose, email, expires_at`;
      return toRecord(rows[0]!);
    },

    /** The token if it is unused and unexpired; it stays usable. */
    async findUsable(tokenHash: string, purpose: UserTokenPurpose): Promise<UserTokenRecord | undefined> {
      const rows = await db.$queryRaw<RawToken[]>`
        SELECT id::text AS id, user_id::text AS user_id, purpose, email, expires_at FROM user_tokens
        WHERE token_hash = ${tokenHash} AND purpose = ${purpose} AND used_at IS NULL AND expires_at > now()`;
      return rows[0] && toRecord(rows[0]);
    },

    /**
     * Marks the token used and returns it, in one statement: of any number of concurrent
     * calls, on any instance, exactly one gets the row (the others wait for its row lock,
     * then see used_at set). Rolled back with its transaction, the token is usable again.
     */
    async consume(tokenHash: string, purpose: UserTokenPurpose): Promise<UserTokenRecord | undefined> {
      const rows = await db.$queryRaw<RawToken[]>`
        UPDATE user_tokens SET used_at = now()
        WHERE token_hash = ${tokenHash} AND purpose = ${purpose} AND used_at IS NULL AND expires_at > now()
        RETURNING id::text AS id, user_id::text AS user_id, purpose, email, expires_at`;
      return rows[0] && toRecord(rows[0]);
    },

    async purgeExpired(): Promise<number> {
      return db.$executeRaw`DELETE FROM user_tokens WHERE expires_at < now()`;
    },
  };
}
