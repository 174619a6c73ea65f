// Authenticated encryption for secrets kept in the database (private signing keys,
// client secrets). AES-256-GCM with a fresh 96-bit IV per message; the key for each
// purpose is derived from the configured SECRET_KEY with HKDF, so one leaked derived key
// does not expose the other kinds of secret.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';

export type SecretPurpose = 'signing-key' | 'client-secret' | 'artifact-id' | 'mfa-seed';

export class SecretBox {
  readonly #keys = new Map<SecretPurpose, Buffer>();

  constructor(private readonly masterKey: Buffer) {
    if (masterKey.length < 32) throw new Error('SECRET_KEY must hold at least 32 bytes');
  }

  static fromEncoded(encoded: string): SecretBox {
    return new SecretBox(Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  }

  seal(plaintext: string, purpose: SecretPurpose): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key(purpose), iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, purpose: SecretPurpose): string {
    const [version, iv, body, tag] = sealed.split('.');
    if (version !== VERSION || !iv || body === undefined || !tag) throw new Error('unrecognised sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.#key(purpose), Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  #key(purpose: SecretPurpose): Buffer {
    let key = this.#keys.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.masterKey, Buffer.alloc(0), `gatehouse ${purpose}`, 32));
      this.#keys.set(purpose, key);
    }
    return key;
  }
}
