// The second factor's rows: the TOTP columns of users and the recovery codes. Every "use once" rule is one conditional UPDATE, so it
// holds across parallel requests and across instances sharing the database.
import type { Db } from './roles.js';

export interface TotpState {
  /** The seed, sealed (SecretBox purpose 'mfa-seed'); null when not enrolled. */
  sealedSecret: string | null;
  confirmedAt: Date | null;
  lastStep: bigint | null;
}

export type MfaStore = ReturnType<typeof createMfaStore>;

export function createMfaStore(db: Db) {
  return {
    async totp(userId: string): Promise<TotpState | undefined> {
      const rows = await db.$queryRaw<Array<{ totp_secret: string | null; totp_confirmed_at: Date | null; totp_last_step: bigint | null }>>`
        SELECT totp_secret, totp_confirmed_at, totp_last_step FROM users WHERE id = ${userId}::uuid`;
      const row = rows[0];
      return row && { sealedSecret: row.totp_secret, confirmedAt: row.totp_confirmed_at, lastStep: row.totp_last_step };
    },

    /** Stores a pending seed; refused (false) while a confirmed one exists. */
    async setPendingSecret(userId: string, sealedSecret: string): Promise<boolean> {
      const count = await db.$executeRaw`
        UPDATE users SET totp_secret = ${sealedSecret}, totp_confirmed_at = NULL, totp_last_step = NULL
        WHERE id = ${userId}::uuid AND totp_confirmed_at IS NULL`;
      return count === 1;
    },

    /** Confirms the pending seed with the step of the code that proved it (used up with it). */
    async confirm(userId: string, sealedSecret: string, step: bigint): Promise<boolean> {
      const count = await db.$executeRaw`
        UPDATE users SET totp_confirmed_at = now(), totp_last_step = ${step}
        WHERE id = ${userId}::uuid AND totp_confirmed_at IS NULL AND totp_secret = ${sealedSecret}`;
      return count === 1;
    },

    /**
     * Records `step` as used if no later or equal step was: true for exactly one of any
     * number of concurrent callers with the same code (RFC 6238 §5.2).
     */
    async acceptStep(userId: string, step: bigint): Promise<boolean> {
      const count = await db.$executeRaw`
        UPDATE users SET totp_last_step = ${step}
        WHERE id = ${userId}::uuid AND totp_confirmed_at IS NOT NULL
          AND (totp_last_step IS NULL OR totp_last_step < ${step})`;
      return count === 1;
    },

    /** Removes the seed and every recovery code. */
    async clear(userId: string): Promise<void> {
      await db.$executeRaw`
        UPDATE users SET totp_secret = NULL, totp_confirmed_at = NULL, totp_last_step = NULL WHERE id = ${userId}::uuid`;
      await db.recoveryCode.deleteMany({ where: { userId } });
    },

    async replaceRecoveryCodes(userId: string, codeHashes: string[]): Promise<void> {
      await db.recoveryCode.deleteMany({ where: { userId } });
      await db.recoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ userId, codeHash })) });
    },

    /** Marks the code used; true only for the one request that did. */
    async useRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
      const count = await db.$executeRaw`
        UPDATE recovery_codes SET used_at = now()
        WHERE user_id = ${userId}::uuid AND code_hash = ${codeHash} AND used_at IS NULL`;
      return count === 1;
    },

    unusedRecoveryCodes: (userId: string) => db.recoveryCode.count({ where: { userId, usedAt: null } }),
  };
}
