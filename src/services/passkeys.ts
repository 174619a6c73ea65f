// Passkeys (WebAuthn): the registration and authentication ceremonies, and a user's list.
// The relying party is the issuer: RP ID = its host name, expected origin = its origin.
// Every ceremony's challenge is kept server-side under a key naming the browser flow it
// belongs to (an interaction uid, an account session) and is taken exactly once; what
// the browser sends back is only ever checked against it.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { AuditActor } from '../stores/audit.js';
import { createPasskeyStore, type PasskeyRecord } from '../stores/passkeys.js';
import type { UserRecord } from '../stores/users.js';
import type { SecurityChanges } from './security-changes.js';
import type { Stores, Transaction } from './transaction.js';

export const RP_NAME = 'Gatehouse';
/** How long a ceremony may take, from options to verification. */
const CHALLENGE_TTL_SECONDS = 300;
/** What the browser is told (it shows its own prompt for at most this long). */
const CEREMONY_TIMEOUT_MS = 120_000;
/** A user with more than this many passkeys must remove one first. */
const MAX_PASSKEYS_PER_USER = 20;

/**
 * A passkey's name, as the user typed it. Control characters (NUL above all, which
 * PostgreSQL text cannot hold) and unpaired surrogates (not UTF-8) are refused here, with
 * a message, rather than failing in the database.
 */
export const passkeyName = z
  .string()
  .trim()
  .min(1, 'give the passkey a name')
  .max(100, 'must be at most 100 characters')
  .refine((name) => !/\p{Cc}/u.test(name), 'must not contain control characters')
  .refine((name) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(name), 'must be valid text');

/**
 * The transports a browser may report for a new credential (WebAuthn's
 * AuthenticatorTransport). They come from the client unchecked and are only hints for later
 * ceremonies: anything else is dropped.
 */
const KNOWN_TRANSPORTS = new Set(['usb', 'nfc', 'ble', 'internal', 'hybrid', 'smart-card', 'cable']);

function knownTransports(reported: readonly unknown[] | undefined): string[] {
  return [...new Set((reported ?? []).filter((transport): transport is string => typeof transport === 'string' && KNOWN_TRANSPORTS.has(transport)))];
}

/** The outer shape of a credential as @simplewebauthn/browser sends it; the library checks the rest. */
const credentialShape = z
  .object({
    id: z.string().min(1).max(1400).regex(/^[\w-]+$/),
    rawId: z.string().min(1).max(1400),
    type: z.literal('public-key'),
    response: z.record(z.string(), z.unknown()),
    clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
    authenticatorAttachment: z.string().max(50).optional(),
  })
  .loose();

export interface PasskeyView {
  id: string;
  name: string;
  deviceType: string;
  backedUp: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface VerifiedPasskeyUse {
  userId: string;
  passkeyId: string;
  /** The authenticator verified the user (PIN, biometrics): possession and a second factor. */
  userVerified: boolean;
  /** singleDevice keys never leave their authenticator; multiDevice (synced) ones can. */
  deviceType: string;
}

/** Where and by whom a ceremony was performed, for the audit trail. */
export interface RequestContext {
  ip?: string | undefined;
  userAgent?: string | undefined;
  requestId?: string | undefined;
}

export type PasskeyService = ReturnType<typeof createPasskeyService>;

export function createPasskeyService(deps: { stores: Stores; transaction: Transaction; issuer: string; securityChanges?: SecurityChanges | undefined }) {
  const issuerUrl = new URL(deps.issuer);
  const rpID = issuerUrl.hostname;
  const expectedOrigin = issuerUrl.origin;
  const passkeys = createPasskeyStore(deps.stores.db);

  const refused = () => new AppError('forbidden', 'The passkey could not be verified. Try again.');
  const actorFor = (userId: string, context: RequestContext): AuditActor => ({ type: 'user', id: userId, ...context });

  function parseCredential<T>(input: unknown): T {
    const parsed = credentialShape.safeParse(input);
    if (!parsed.success) throw new AppError('invalid_input', 'The passkey response was malformed.');
    return parsed.data as unknown as T;
  }

  /** The WebAuthn user handle: the user's UUID as its 16 bytes (no personal data). */
  function userHandle(userId: string): Uint8Array<ArrayBuffer> {
    return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
  }

  return {
    rpID,
    expectedOrigin,

    async list(userId: string): Promise<PasskeyView[]> {
      return (await passkeys.listByUser(userId)).map(view);
    },

    /** Whether the user can use a passkey as a second factor. */
    async hasAny(userId: string): Promise<boolean> {
      return (await passkeys.listByUser(userId)).length > 0;
    },

    /** Options for adding a passkey to `user`; the challenge is kept under `flow`. */
    async registrationOptions(user: UserRecord, flow: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await passkeys.listByUser(user.id);
      if (existing.length >= MAX_PASSKEYS_PER_USER) {
        throw new AppError('conflict', `You have ${MAX_PASSKEYS_PER_USER} passkeys already. Remove one first.`);
      }
      const displayName = typeof user.claims['name'] === 'string' ? user.claims['name'] : user.email;
      const options = await generateRegistrationOptions({
        rpName: RP_NAME,
        rpID,
        userID: userHandle(user.id),
        userName: user.username ?? user.email,
        userDisplayName: displayName,
        timeout: CEREMONY_TIMEOUT_MS,
        attestationType: 'none',
        // The same authenticator cannot be registered twice for one user.
        excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      });
      await passkeys.putChallenge(flow, { challenge: options.challenge, userId: user.id }, CHALLENGE_TTL_SECONDS);
      return options;
    },

    /**
     * Verifies the new credential against the challenge of `flow` and stores it for
     * `userId`. A new way to sign in ends the user's other browser sessions (ASVS 7.4.3):
     * all but `keepSessionUid`, the one that added it.
     */
    async register(userId: string, flow: string, input: { credential: unknown; name: unknown }, context: RequestContext, keepSessionUid?: string): Promise<PasskeyView> {
      const name = passkeyName.safeParse(input.name);
      if (!name.success) {
        throw new AppError('invalid_input', 'Give the passkey a name of 1 to 100 characters, without control characters.', [{ field: 'name', message: name.error.issues[0]?.message ?? 'invalid' }]);
      }
      const response = parseCredential<RegistrationResponseJSON>(input.credential);
      const issued = await passkeys.takeChallenge(flow);
      if (!issued || issued.userId !== userId) throw refused();
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response,
          expectedChallenge: issued.challenge,
          expectedOrigin,
          expectedRPID: rpID,
          requireUserVerification: false,
        });
      } catch {
        // The library's message names what failed; the browser learns only that it did.
        throw refused();
      }
      if (!verification.verified) throw refused();
      const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
      const added = await deps.transaction(async (tx) => {
        const store = createPasskeyStore(tx.db);
        const created = await store.create({
          id: credential.id,
          userId,
          publicKey: credential.publicKey,
          counter: credential.counter,
          transports: knownTransports(credential.transports),
          deviceType: credentialDeviceType,
          backedUp: credentialBackedUp,
          name: name.data,
        });
        if (!created) throw new AppError('conflict', 'This passkey is already registered.');
        const saved = (await store.find(credential.id))!;
        const sessionsEnded = await tx.payloads.destroySessionsByAccountId(userId, keepSessionUid);
        await tx.audit.append(actorFor(userId, context), {
          action: 'passkey.register',
          targetType: 'user',
          targetId: userId,
          after: { passkey_id: saved.id, name: saved.name, device_type: saved.deviceType, backed_up: saved.backedUp, sessions_ended: sessionsEnded },
        });
        return view(saved);
      });
      deps.securityChanges?.announce(userId, 'passkey_added', actorFor(userId, context));
      return added;
    },

    /**
     * Options for signing in with a passkey. With `userId` (second factor) the browser is
     * told which of that user's credentials to use; without (passwordless) it offers any
     * discoverable credential it holds for this RP.
     */
    async authenticationOptions(flow: string, options: { userId?: string | undefined; userVerification: 'required' | 'preferred' }): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const allowCredentials = options.userId
        ? (await passkeys.listByUser(options.userId)).map((passkey) => ({ id: passkey.id, transports: passkey.transports }))
        : [];
      if (options.userId && !allowCredentials.length) throw new AppError('invalid_input', 'This account has no passkey.');
      const generated = await generateAuthenticationOptions({
        rpID,
        allowCredentials,
        userVerification: options.userVerification,
        timeout: CEREMONY_TIMEOUT_MS,
      });
      await passkeys.putChallenge(flow, { challenge: generated.challenge, userId: options.userId }, CHALLENGE_TTL_SECONDS);
      return generated;
    },

    /**
     * Verifies an assertion against the challenge of `flow`. The challenge is spent
     * whatever the outcome, so a captured response can never be presented again.
     */
    async authenticate(flow: string, input: unknown, options: { requireUserVerification: boolean }, context: RequestContext): Promise<VerifiedPasskeyUse> {
      const response = parseCredential<AuthenticationResponseJSON>(input);
      const issued = await passkeys.takeChallenge(flow);
      if (!issued) throw refused();
      const passkey = await passkeys.find(response.id);
      // Second factor: only a passkey of the user who passed the first step.
      if (!passkey || (issued.userId !== undefined && passkey.userId !== issued.userId)) throw refused();
      // A discoverable credential names its user; it must be the passkey's owner.
      const handle = (response.response as { userHandle?: unknown }).userHandle;
      if (typeof handle === 'string' && handle !== Buffer.from(userHandle(passkey.userId)).toString('base64url')) throw refused();
      const user = await deps.stores.users.findById(passkey.userId);
      if (!user || user.disabled) throw refused();
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response,
          expectedChallenge: issued.challenge,
          expectedOrigin,
          expectedRPID: rpID,
          credential: { id: passkey.id, publicKey: new Uint8Array(passkey.publicKey), counter: passkey.counter, transports: passkey.transports },
          requireUserVerification: options.requireUserVerification,
        });
      } catch {
        throw refused();
      }
      if (!verification.verified) throw refused();
      const info = verification.authenticationInfo;
      await deps.transaction(async (tx) => {
        if (!(await createPasskeyStore(tx.db).recordUse(passkey.id, info.newCounter, info.credentialBackedUp))) throw refused();
        await tx.audit.append(actorFor(passkey.userId, context), {
          action: 'passkey.use',
          targetType: 'user',
          targetId: passkey.userId,
          after: { passkey_id: passkey.id, user_verified: info.userVerified },
        });
      });
      return { userId: passkey.userId, passkeyId: passkey.id, userVerified: info.userVerified, deviceType: info.credentialDeviceType };
    },

    /** Removes a passkey of `userId` and ends the user's other browser sessions: all but `keepSessionUid`. */
    async remove(userId: string, passkeyId: string, context: RequestContext, keepSessionUid?: string): Promise<void> {
      await deps.transaction(async (tx) => {
        const removed = await createPasskeyStore(tx.db).delete(userId, passkeyId);
        if (!removed) throw new AppError('not_found', 'There is no such passkey on your account.');
        const sessionsEnded = await tx.payloads.destroySessionsByAccountId(userId, keepSessionUid);
        await tx.audit.append(actorFor(userId, context), {
          action: 'passkey.remove',
          targetType: 'user',
          targetId: userId,
          before: { passkey_id: removed.id, name: removed.name },
          after: { sessions_ended: sessionsEnded },
        });
      });
      deps.securityChanges?.announce(userId, 'passkey_removed', actorFor(userId, context));
    },
  };
}

function view(passkey: PasskeyRecord): PasskeyView {
  return {
    id: passkey.id,
    name: passkey.name,
    deviceType: passkey.deviceType,
    backedUp: passkey.backedUp,
    createdAt: passkey.createdAt.toISOString(),
    lastUsedAt: passkey.lastUsedAt?.toISOString() ?? null,
  };
}

/**
 * The authentication methods (RFC 8176) a passkey sign-in proves: a key held on
 * hardware (hwk) or one that can be synced between devices (swk), and, when the
 * authenticator verified the user, a user presence test with a local verification as a
 * second factor (user, mfa).
 */
export function passkeyAmr(use: VerifiedPasskeyUse): string[] {
  const key = use.deviceType === 'multiDevice' ? 'swk' : 'hwk';
  return use.userVerified ? [key, 'user', 'mfa'] : [key];
}
