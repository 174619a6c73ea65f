import { createHash, randomBytes } from 'node:crypto';

/** A URL-safe random string carrying `bytes` bytes of CSPRNG entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256, base64url: how bearer values are keyed in storage (RFC 6819 §5.1.4.1.3). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
