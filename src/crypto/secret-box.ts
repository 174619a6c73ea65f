// Authenticated encryption for secrets kept in the database (private signing keys,
// client secrets, TOTP seeds, sealed artifact ids). AES-256-GCM with a fresh 96-bit IV per
// message; the key for each purpose is derived from the master key with HKDF, so one
// leaked derived key does not expose the other kinds of secret.
//
// The master key (SECRET_KEY) can be rotated: values are always sealed under the current
// key and open under it or any previous key (SECRET_KEY_PREVIOUS) until `gatehouse secrets
// reseal` has moved them all to the current one.
//
// Format v2 names the key it was sealed under: `v2.<key id>.<iv>.<ciphertext>.<tag>`. GCM
// authentication alone could tell which key fits by trial, but the id lets a reseal skip
// values that are already current without decrypting them (a second run writes nothing),
// lets opening go straight to the right key, and turns "sealed under a key you no longer
// configure" into an error that says so instead of a bare authentication failure. The id
// is an HKDF output of the key, so it reveals nothing about the key itself. Format v1
// (`v1.<iv>.<ciphertext>.<tag>`, no key id) is still read, trying each configured key.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v2';
const LEGACY_VERSION = 'v1';

export type SecretPurpose = 'signing-key' | 'client-secret' | 'artifact-id' | 'mfa-seed';

/** A sealed value that no configured key opens, or that is malformed or tampered with. */
export class SealedValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedValueError';
  }
}

/** One master key with its id and the per-purpose keys derived from it. */
class MasterKey {
  readonly id: string;
  readonly #derived = new Map<SecretPurpose, Buffer>();

  constructor(readonly secret: Buffer) {
    if (secret.length < 32) throw new Error('SECRET_KEY must hold at least 32 bytes');
    this.id = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'gatehouse key-id', 8)).toString('base64url');
  }

  key(purpose: SecretPurpose): Buffer {
    let key = this.#derived.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), `gatehouse ${purpose}`, 32));
      this.#derived.set(purpose, key);
    }
    return key;
  }
}

export class SecretBox {
  readonly #current: MasterKey;
  /** Current first, then the previous keys in the order configured. */
  readonly #all: MasterKey[];

  constructor(masterKey: Buffer, previousKeys: readonly Buffer[] = []) {
    this.#current = new MasterKey(masterKey);
    this.#all = [this.#current];
    for (const secret of previousKeys) {
      const key = new MasterKey(secret);
      // Listing the current key among the previous ones (mid-rotation) is harmless.
      if (this.#all.some((known) => known.secret.equals(key.secret))) continue;
      if (this.#all.some((known) => known.id === key.id)) throw new Error('two configured secret keys have the same key id; generate a new SECRET_KEY');
      this.#all.push(key);
    }
  }

  static fromEncoded(encoded: string, previous: readonly string[] = []): SecretBox {
    return new SecretBox(decode(encoded), previous.map(decode));
  }

  /** The id of the current key, as written into every value sealed now. */
  get keyId(): string {
    return this.#current.id;
  }

  seal(plaintext: string, purpose: SecretPurpose): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key(purpose), iv);
    cipher.setAAD(Buffer.from(additionalData(purpose, this.#current.id)));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.#current.id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Opens a value sealed under the current key or any previous one; throws SealedValueError otherwise. */
  open(sealed: string, purpose: SecretPurpose): string {
    const parts = sealed.split('.');
    if (parts[0] === VERSION && parts.length === 5) {
      const [, keyId, iv, body, tag] = parts as [string, string, string, string, string];
      const key = this.#all.find((candidate) => candidate.id === keyId);
      if (!key) throw new SealedValueError(`sealed under key ${keyId}, which is neither SECRET_KEY nor listed in SECRET_KEY_PREVIOUS`);
      const opened = decrypt(key.key(purpose), additionalData(purpose, keyId), iv, body, tag);
      if (opened === undefined) throw new SealedValueError(`sealed value does not open with key ${keyId} (tampered with, or sealed for another purpose)`);
      return opened;
    }
    if (parts[0] === LEGACY_VERSION && parts.length === 4) {
      const [, iv, body, tag] = parts as [string, string, string, string];
      // No key id: GCM authentication tells which key fits (a wrong key fails it).
      for (const key of this.#all) {
        const opened = decrypt(key.key(purpose), purpose, iv, body, tag);
        if (opened !== undefined) return opened;
      }
      throw new SealedValueError('sealed value (format v1) opens with neither SECRET_KEY nor any key in SECRET_KEY_PREVIOUS');
    }
    throw new SealedValueError('unrecognised sealed value');
  }

  /** Whether `sealed` is already sealed under the current key (a reseal would change nothing). */
  isCurrent(sealed: string): boolean {
    const [version, keyId] = sealed.split('.');
    return version === VERSION && keyId === this.#current.id;
  }
}

function decode(encoded: string): Buffer {
  return Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** v2 authenticates its header too, so a key id cannot be swapped without detection. */
function additionalData(purpose: SecretPurpose, keyId: string): string {
  return `${purpose}.${VERSION}.${keyId}`;
}

function decrypt(key: Buffer, aad: string, iv: string, body: string, tag: string): string | undefined {
  const tagBytes = Buffer.from(tag, 'base64url');
  if (tagBytes.length !== 16) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
