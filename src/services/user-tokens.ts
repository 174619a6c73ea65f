// Password reset and email verification by mailed, single-use, expiring tokens. A token
// is 256 bits from the CSPRNG, handed out once (in the mail) and stored only as its
// SHA-256; it is bound to the address it was sent to, so it stops working when the
// account's address changes. Issuing a new one retires the older unused ones.
import { randomToken, sha256 } from '../crypto/random.js';
import { AppError } from '../errors.js';
import type { AuditActor } from '../stores/audit.js';
import type { UserTokenPurpose } from '../stores/user-tokens.js';
import type { UserRecord } from '../stores/users.js';
import { normalizeEmail, refuseAccountWords, setPasswordInput } from './accounts.js';
import type { PasswordHasher } from './passwords.js';
import type { SecurityChanges } from './security-changes.js';
import type { Stores, Transaction } from './transaction.js';
import { parseInput } from './validation.js';

/** How long a mailed link works: short for a password reset, a day to verify an address. */
export const TOKEN_LIFETIME_SECONDS: Readonly<Record<UserTokenPurpose, number>> = {
  password_reset: 30 * 60,
  email_verification: 24 * 3600,
};

/** What randomToken(32) produces; anything else is refused before touching the database. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedToken {
  /** The only copy of the token: it goes into the mail and nowhere else. */
  token: string;
  userId: string;
  email: string;
  expiresAt: Date;
}

/**
 * valid: the token works (or just worked); invalid: unknown, used, expired or its account
 * is gone; address_changed: it was sent to an address the account no longer has.
 */
export type TokenOutcome = { status: 'valid'; email: string } | { status: 'invalid' } | { status: 'address_changed' };

const INVALID: TokenOutcome = { status: 'invalid' };
const ADDRESS_CHANGED: TokenOutcome = { status: 'address_changed' };

export type UserTokenService = ReturnType<typeof createUserTokenService>;

export function createUserTokenService(deps: { stores: Stores; transaction: Transaction; passwords: PasswordHasher; securityChanges?: SecurityChanges }) {
  const { stores, transaction, passwords } = deps;

  async function issue(user: UserRecord, purpose: UserTokenPurpose, actor: AuditActor, action: string): Promise<IssuedToken> {
    const token = randomToken(32);
    return transaction(async (tx) => {
      const record = await tx.userTokens.replace({
        userId: user.id,
        purpose,
        tokenHash: sha256(token),
        email: user.email,
        lifetimeSeconds: TOKEN_LIFETIME_SECONDS[purpose],
      });
      // The audit record says a link was sent and where, never the link.
      await tx.audit.append(actor, { action, targetType: 'user', targetId: user.id, after: { email: user.email, expires_at: record.expiresAt.toISOString() } });
      return { token, userId: user.id, email: user.email, expiresAt: record.expiresAt };
    });
  }

  /** Whether a token would work now, without using it (the pages a mailed link opens). */
  async function check(token: unknown, purpose: UserTokenPurpose): Promise<TokenOutcome> {
    if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return INVALID;
    const record = await stores.userTokens.findUsable(sha256(token), purpose);
    if (!record) return INVALID;
    const user = await stores.users.findById(record.userId);
    if (!user || (purpose === 'password_reset' && user.disabled)) return INVALID;
    if (user.email !== record.email) return ADDRESS_CHANGED;
    return { status: 'valid', email: record.email };
  }

  return {
    /**
     * Issues a reset token when the address is the verified, current address of an enabled
     * account; undefined otherwise. An unverified address may not be the user's own (a
     * typo, or someone else's), and whoever reads it would get the account (checklist F9).
     * The caller must not let the difference show (checklist F4).
     */
    async requestPasswordReset(email: string, actor: AuditActor): Promise<IssuedToken | undefined> {
      const user = await stores.users.findByEmail(normalizeEmail(email));
      if (!user || user.disabled || !user.emailVerified) return undefined;
      return issue(user, 'password_reset', actor, 'user.request_password_reset');
    },

    /** Issues a verification token for the user's current address (not_found, or conflict when already verified). */
    async requestEmailVerification(userId: string, actor: AuditActor): Promise<IssuedToken> {
      const user = await stores.users.findById(userId);
      if (!user) throw new AppError('not_found', `No user with id ${userId}.`);
      if (user.emailVerified) throw new AppError('conflict', 'The user\'s email address is already verified.');
      return issue(user, 'email_verification', actor, 'user.send_verification_email');
    },

    check,

    /**
     * Uses a reset token to set a new password, then signs the user out everywhere, as an
     * administrator's password change does: sessions, grants, refresh and access tokens
     * end (ASVS 7.4.3). Second factors stay as they are. The link proves the mailbox, so
     * the address counts as verified. Throws invalid_input when the password breaks the
     * password rules; the token is then still usable.
     */
    async resetPassword(token: unknown, password: unknown, actor: Omit<AuditActor, 'type' | 'id'>): Promise<TokenOutcome> {
      const checked = await check(token, 'password_reset');
      if (checked.status !== 'valid') return checked;
      const data = parseInput(setPasswordInput, { password });
      const owner = await stores.userTokens.findUsable(sha256(token as string), 'password_reset');
      const ownerUser = owner ? await stores.users.findById(owner.userId) : undefined;
      if (ownerUser) refuseAccountWords(data.password, ownerUser);
      const hash = await passwords.hash(data.password);
      let resetUserId: string | undefined;
      const result = await transaction(async (tx): Promise<TokenOutcome> => {
        const record = await tx.userTokens.consume(sha256(token as string), 'password_reset');
        if (!record) return INVALID;
        const user = await tx.users.findById(record.userId);
        if (!user || user.disabled) return INVALID;
        if (user.email !== record.email) return ADDRESS_CHANGED;
        await tx.users.setPasswordHash(user.id, hash);
        await tx.users.markEmailVerified(user.id, record.email);
        const revoked = await tx.payloads.destroyByAccountId(user.id);
        await tx.audit.append({ ...actor, type: 'user', id: user.id }, {
          action: 'user.reset_password', targetType: 'user', targetId: user.id, after: { artifacts_revoked: revoked },
        });
        resetUserId = user.id;
        return { status: 'valid', email: record.email };
      });
      if (result.status === 'valid' && resetUserId) deps.securityChanges?.announce(resetUserId, 'password_reset', { ...actor, type: 'user', id: resetUserId });
      return result;
    },

    /** Uses a verification token: the address it was sent to is verified if the account still has it. */
    async verifyEmail(token: unknown, actor: Omit<AuditActor, 'type' | 'id'>): Promise<TokenOutcome> {
      if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return INVALID;
      return transaction(async (tx) => {
        const record = await tx.userTokens.consume(sha256(token), 'email_verification');
        if (!record) return INVALID;
        const user = await tx.users.findById(record.userId);
        if (!user) return INVALID;
        // Conditional on the address, in the same statement that sets the flag.
        if (!(await tx.users.markEmailVerified(user.id, record.email))) return ADDRESS_CHANGED;
        await tx.audit.append({ ...actor, type: 'user', id: user.id }, {
          action: 'user.verify_email', targetType: 'user', targetId: user.id,
          before: { email: user.email, email_verified: user.emailVerified }, after: { email: record.email, email_verified: true },
        });
        return { status: 'valid', email: record.email };
      });
    },
  };
}
