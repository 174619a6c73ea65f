// The secret box across a SECRET_KEY rotation: sealed under the current key, opened under
// the current or a previous one, and values from before key ids (format v1) still read.
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { SealedValueError, SecretBox } from '../../src/crypto/secret-box.js';

/** A value sealed as Gatehouse did before key ids: `v1.<iv>.<ciphertext>.<tag>`, AAD = purpose. */
function sealV1(master: Buffer, plaintext: string, purpose: string): string {
  const key = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `gatehouse ${purpose}`, 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(purpose));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

describe('secret box key rotation', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const k3 = randomBytes(32);

  test('when a value was sealed under the previous key, then the rotated box opens it and seals anew under the current key only', () => {
    const sealed = new SecretBox(k1).seal('seed', 'mfa-seed');
    const rotated = new SecretBox(k2, [k1]);
    expect(rotated.open(sealed, 'mfa-seed')).toBe('seed');
    expect(rotated.isCurrent(sealed)).toBe(false);
    const resealed = rotated.seal('seed', 'mfa-seed');
    expect(rotated.isCurrent(resealed)).toBe(true);
    expect(resealed.split('.')[1]).toBe(rotated.keyId);
    expect(new SecretBox(k2).open(resealed, 'mfa-seed')).toBe('seed');
    expect(() => new SecretBox(k1).open(resealed, 'mfa-seed')).toThrow(SealedValueError);
  });

  test('when a value was sealed in format v1, then it opens under whichever configured key sealed it', () => {
    const legacy = sealV1(k1, 'private jwk', 'signing-key');
    expect(new SecretBox(k1).open(legacy, 'signing-key')).toBe('private jwk');
    expect(new SecretBox(k2, [k3, k1]).open(legacy, 'signing-key')).toBe('private jwk');
    expect(new SecretBox(k1).isCurrent(legacy)).toBe(false);
    expect(() => new SecretBox(k2, [k3]).open(legacy, 'signing-key')).toThrow(/neither SECRET_KEY nor any key in SECRET_KEY_PREVIOUS/);
    expect(() => new SecretBox(k1).open(legacy, 'client-secret')).toThrow(SealedValueError);
  });

  test('when the key that sealed a value is not configured, then opening names its key id and SECRET_KEY_PREVIOUS', () => {
    const box = new SecretBox(k1);
    const sealed = box.seal('secret', 'client-secret');
    expect(() => new SecretBox(k2, [k3]).open(sealed, 'client-secret')).toThrow(
      `sealed under key ${box.keyId}, which is neither SECRET_KEY nor listed in SECRET_KEY_PREVIOUS`,
    );
  });

  test('when the key id in a sealed value is changed, then it does not open even if that key is configured', () => {
    const sealed = new SecretBox(k1).seal('secret', 'client-secret');
    const parts = sealed.split('.');
    parts[1] = new SecretBox(k2).keyId;
    expect(() => new SecretBox(k2, [k1]).open(parts.join('.'), 'client-secret')).toThrow(SealedValueError);
  });

  test('when the current key is also listed as a previous one, then it is accepted; keys shorter than 32 bytes are not', () => {
    const box = new SecretBox(k1, [k1, k2]);
    expect(box.open(new SecretBox(k2).seal('x', 'artifact-id'), 'artifact-id')).toBe('x');
    expect(() => new SecretBox(k1, [randomBytes(16)])).toThrow(/at least 32 bytes/);
  });

  test('when keys are given encoded, then base64 and base64url forms of the same key agree', () => {
    const sealed = SecretBox.fromEncoded(k1.toString('base64')).seal('x', 'artifact-id');
    expect(SecretBox.fromEncoded(k2.toString('base64'), [k1.toString('base64url')]).open(sealed, 'artifact-id')).toBe('x');
  });
});

describe('SECRET_KEY_PREVIOUS', () => {
  test('when it lists earlier keys, then they are parsed in order; unset, there are none', () => {
    const [a, b] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64url')];
    expect(loadConfig({ SECRET_KEY_PREVIOUS: ` ${a} , ${b}` }).secretKeyPrevious).toEqual([a, b]);
    expect(loadConfig({}).secretKeyPrevious).toEqual([]);
  });

  test('when one of its keys is too short or not base64, then start-up names the setting', () => {
    expect(() => loadConfig({ SECRET_KEY_PREVIOUS: `${randomBytes(32).toString('base64')},c2hvcnQ=` })).toThrow(/SECRET_KEY_PREVIOUS: each key must be at least 32 random bytes/);
  });
});
