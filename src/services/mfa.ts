// Multi-factor authentication with an authenticator app (TOTP, RFC 6238) and one-time
// recovery codes. The seed is sealed at rest; a code is accepted at most once (its time
// step is recorded atomically); recovery codes are kept only as SHA-256 digests.
import { randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { sha256 } from '../crypto/random.js';
import type { Counters } from '../security/counters.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import type { AuditActor } from '../stores/audit.js';
import type { SecurityChanges } from './security-changes.js';
import type { Stores, Transaction } from './transaction.js';

/** The `acr` of a sign-in with the password alone, and with a second factor as well. */
export const ACR_PASSWORD = 'urn:gatehouse:acr:pwd';
export const ACR_MFA = 'urn:gatehouse:acr:mfa';

/** The issuer shown in authenticator apps, unless BRAND_NAME says otherwise. */
const ISSUER_LABEL = 'Gatehouse';
const PERIOD_SECONDS = 30;
/** One step either way: clocks drift, but a wider window only helps a guesser. */
const DRIFT_STEPS = 1;
const SEED_BYTES = 20;
export const RECOVERY_CODE_COUNT = 10;
/** 10 bytes: 80 bits per code, written as 16 base32 characters in groups of four. */
const RECOVERY_CODE_BYTES = 10;

export interface Enrolment {
  /** The seed in base32, for typing into an app that cannot scan. */
  secret: string;
  /** otpauth://totp/… */
  uri: string;
  /** The URI as a QR code, a PNG data: URL (no external request). */
  qrDataUrl: string;
}

export interface MfaStatus {
  totp: 'none' | 'pending' | 'confirmed';
  recoveryCodesLeft: number;
}

export type MfaService = ReturnType<typeof createMfaService>;

export function createMfaService(deps: { stores: Stores; transaction: Transaction; secretBox: SecretBox; counters: Counters; now?: () => number; securityChanges?: SecurityChanges; issuerLabel?: string }) {
  const { stores, transaction, secretBox } = deps;
  const now = deps.now ?? Date.now;

  async function userOrThrow(userId: string, within: Stores = stores) {
    const user = await within.users.findById(userId);
    if (!user) throw new AppError('not_found', `No user with id ${userId}.`);
    return user;
  }

  function totpFor(secret: Secret, email: string): TOTP {
    return new TOTP({ issuer: deps.issuerLabel ?? ISSUER_LABEL, label: email, algorithm: 'SHA1', digits: 6, period: PERIOD_SECONDS, secret });
  }

  async function describe(secret: Secret, email: string): Promise<Enrolment> {
    const uri = totpFor(secret, email).toString();
    return { secret: secret.base32, uri, qrDataUrl: await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 240 }) };
  }

  /** The step of `code` within ±1 step of the server's clock, if it is valid for `secret`. */
  function matchingStep(secret: Secret, code: string): bigint | undefined {
    const token = code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(token)) return undefined;
    const timestamp = now();
    const delta = TOTP.validate({ token, secret, algorithm: 'SHA1', digits: 6, period: PERIOD_SECONDS, timestamp, window: DRIFT_STEPS });
    if (delta === null) return undefined;
    return BigInt(TOTP.counter({ period: PERIOD_SECONDS, timestamp }) + delta);
  }

  function openSecret(sealed: string): Secret {
    return Secret.fromBase32(secretBox.open(sealed, 'mfa-seed'));
  }

  /** New recovery codes for display, and their digests for storage. */
  function newRecoveryCodes(): { codes: string[]; hashes: string[] } {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => {
      const plain = randomSecret(RECOVERY_CODE_BYTES).base32;
      return plain.match(/.{4}/g)!.join('-');
    });
    return { codes, hashes: codes.map(recoveryDigest) };
  }

  return {
    async status(userId: string): Promise<MfaStatus> {
      const totp = await stores.mfa.totp(userId);
      const state = !totp?.sealedSecret ? 'none' : totp.confirmedAt ? 'confirmed' : 'pending';
      return { totp: state, recoveryCodesLeft: state === 'confirmed' ? await stores.mfa.unusedRecoveryCodes(userId) : 0 };
    },

    /**
     * Starts (or resumes) enrolment: a fresh 160-bit seed from the CSPRNG, sealed before it
     * is stored. A pending seed is shown again rather than replaced, so a reload does not
     * invalidate what the user already scanned.
     */
    async beginEnrolment(userId: string, actor: AuditActor): Promise<Enrolment> {
      const user = await userOrThrow(userId);
      const current = await stores.mfa.totp(userId);
      if (current?.confirmedAt) throw new AppError('conflict', 'An authenticator app is already set up. Turn it off first to set up another.');
      if (current?.sealedSecret) return describe(openSecret(current.sealedSecret), user.email);
      const secret = randomSecret(SEED_BYTES);
      await transaction(async (tx) => {
        if (!(await tx.mfa.setPendingSecret(userId, secretBox.seal(secret.base32, 'mfa-seed')))) {
          throw new AppError('conflict', 'An authenticator app is already set up.');
        }
        await tx.audit.append(actor, { action: 'user.mfa_enrol', targetType: 'user', targetId: userId, after: { method: 'totp', state: 'pending' } });
      });
      return describe(secret, user.email);
    },

    /**
     * Confirms the pending seed with a code from the app; only now does the second factor
     * take effect. Returns the recovery codes, shown this once. Like every change of a
     * sign-in factor here, it ends the user's other browser sessions (ASVS 7.4.3): all but
     * `keepSessionUid`, the one that made the change, or all when none is named (the CLI).
     */
    async confirmEnrolment(userId: string, code: string, actor: AuditActor, keepSessionUid?: string): Promise<string[] | undefined> {
      const current = await stores.mfa.totp(userId);
      if (!current?.sealedSecret || current.confirmedAt) throw new AppError('invalid_input', 'There is no authenticator app set-up in progress.');
      const step = matchingStep(openSecret(current.sealedSecret), code);
      if (step === undefined) return undefined;
      const { codes, hashes } = newRecoveryCodes();
      await transaction(async (tx) => {
        if (!(await tx.mfa.confirm(userId, current.sealedSecret!, step))) {
          throw new AppError('conflict', 'The set-up changed meanwhile. Start again.');
        }
        await tx.mfa.replaceRecoveryCodes(userId, hashes);
        const sessionsEnded = await tx.payloads.destroySessionsByAccountId(userId, keepSessionUid);
        await tx.audit.append(actor, { action: 'user.mfa_confirm', targetType: 'user', targetId: userId, after: { method: 'totp', state: 'confirmed', recovery_codes: codes.length, sessions_ended: sessionsEnded } });
      });
      deps.securityChanges?.announce(userId, 'totp_enabled', actor);
      return codes;
    },

    /** Checks a code at sign-in; true at most once per code, on any instance. */
    async verifyTotp(userId: string, code: string): Promise<boolean> {
      const current = await stores.mfa.totp(userId);
      if (!current?.sealedSecret || !current.confirmedAt) return false;
      const step = matchingStep(openSecret(current.sealedSecret), code);
      if (step === undefined) return false;
      return stores.mfa.acceptStep(userId, step);
    },

    /** Uses up one recovery code; true only for the first use. */
    async useRecoveryCode(userId: string, code: string, actor: AuditActor): Promise<boolean> {
      const normalized = normalizeRecoveryCode(code);
      if (normalized.length !== 16) return false;
      return transaction(async (tx) => {
        if (!(await tx.mfa.useRecoveryCode(userId, sha256(normalized)))) return false;
        const left = await tx.mfa.unusedRecoveryCodes(userId);
        await tx.audit.append(actor, { action: 'user.mfa_recovery_code_used', targetType: 'user', targetId: userId, after: { recovery_codes_left: left } });
        return true;
      });
    },

    /** Replaces every recovery code with ten new ones, shown this once; ends the other sessions. */
    async regenerateRecoveryCodes(userId: string, actor: AuditActor, keepSessionUid?: string): Promise<string[]> {
      const current = await stores.mfa.totp(userId);
      if (!current?.confirmedAt) throw new AppError('invalid_input', 'Set up an authenticator app first.');
      const { codes, hashes } = newRecoveryCodes();
      await transaction(async (tx) => {
        await tx.mfa.replaceRecoveryCodes(userId, hashes);
        const sessionsEnded = await tx.payloads.destroySessionsByAccountId(userId, keepSessionUid);
        await tx.audit.append(actor, { action: 'user.mfa_recovery_codes_regenerate', targetType: 'user', targetId: userId, after: { recovery_codes: codes.length, sessions_ended: sessionsEnded } });
      });
      deps.securityChanges?.announce(userId, 'recovery_codes_regenerated', actor);
      return codes;
    },

    /** The user turns the second factor off (the caller checks the sign-in is recent); ends the other sessions. */
    async disable(userId: string, actor: AuditActor, keepSessionUid?: string): Promise<void> {
      await transaction(async (tx) => {
        await userOrThrow(userId, tx);
        await tx.mfa.clear(userId);
        const sessionsEnded = await tx.payloads.destroySessionsByAccountId(userId, keepSessionUid);
        await tx.audit.append(actor, { action: 'user.mfa_disable', targetType: 'user', targetId: userId, after: { method: 'totp', state: 'none', sessions_ended: sessionsEnded } });
      });
      deps.securityChanges?.announce(userId, 'totp_disabled', actor);
    },

    /**
     * An administrator removes a user's second factor (a lost phone); they enrol again.
     * Every browser session of the user ends: whoever holds one may be who has the phone.
     */
    async reset(id: string, actor: AuditActor): Promise<void> {
      await transaction(async (tx) => {
        await userOrThrow(id, tx);
        const before = await tx.mfa.totp(id);
        await tx.mfa.clear(id);
        const sessionsEnded = await tx.payloads.destroySessionsByAccountId(id);
        await tx.audit.append(actor, {
          action: 'user.mfa_reset',
          targetType: 'user',
          targetId: id,
          before: { totp: !before?.sealedSecret ? 'none' : before.confirmedAt ? 'confirmed' : 'pending' },
          after: { totp: 'none', sessions_ended: sessionsEnded },
        });
      });
      deps.securityChanges?.announce(id, 'totp_reset', actor);
    },

    /**
     * Counts one attempt against `key` (an interaction, a user) within `windowSeconds` and
     * returns the count including this one, shared by every instance: the caller allows
     * only so many. An `amount` of -1 gives a counted attempt back.
     */
    async countAttempt(key: string, windowSeconds: number, amount = 1): Promise<number> {
      const [count] = await deps.counters.hit([{ key: `mfa:${key}`, windowSeconds, amount }]);
      return count?.hits ?? 0;
    },
  };
}

/** Recovery codes compare without dashes, spaces or case. */
export function normalizeRecoveryCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z2-7]/g, '');
}

function recoveryDigest(code: string): string {
  return sha256(normalizeRecoveryCode(code));
}

/** `bytes` bytes from the CSPRNG in an ArrayBuffer of their own (a Buffer may be a slice of a pool). */
function randomSecret(bytes: number): Secret {
  return new Secret({ buffer: new Uint8Array(randomBytes(bytes)).buffer });
}
