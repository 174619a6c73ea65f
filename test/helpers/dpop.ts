// DPoP proofs (RFC 9449 §4.2) built by hand, for the cases a real client library never
// produces: another method or URL, a stale iat, a replayed jti, a forged header.
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface ProofKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function proofKey(alg: 'ES256' | 'RS256' = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, publicJwk: await exportJWK(publicKey) };
}

export const athOf = (accessToken: string) => createHash('sha256').update(accessToken).digest('base64url');

export interface ProofClaims {
  htm: string;
  htu: string;
  /** The access token the proof goes with (its hash becomes ath). */
  accessToken?: string;
  iat?: number;
  jti?: string;
  ath?: string;
}

/** A proof signed with `key` and carrying its public JWK, as a client makes one. */
export async function makeProof(key: ProofKey, claims: ProofClaims, header: Record<string, unknown> = {}): Promise<string> {
  const { accessToken, ...rest } = claims;
  return new SignJWT({
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    ...(accessToken ? { ath: athOf(accessToken) } : {}),
    ...rest,
  })
    .setProtectedHeader({ alg: key.publicJwk.kty === 'RSA' ? 'RS256' : 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...header })
    .sign(key.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Hand-assembled proofs that must be refused (checklist D5), by name. */
export async function forgedProofs(key: ProofKey, claims: ProofClaims): Promise<Record<string, string>> {
  const { accessToken, ...rest } = claims;
  const payload = { jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...(accessToken ? { ath: athOf(accessToken) } : {}), ...rest };
  const valid = await makeProof(key, claims);
  const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string];
  const privateJwk = await exportJWK(key.privateKey);
  const hmacKey = new TextEncoder().encode(JSON.stringify(key.publicJwk));
  const other = await proofKey();
  return {
    'alg none': `${b64url({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk })}.${b64url(payload)}.`,
    'HS256 keyed with the public key': await new SignJWT({ ...payload, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.publicJwk })
      .sign(hmacKey),
    'missing jwk': await new SignJWT({ ...payload, jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt' }).sign(key.privateKey),
    'private key in jwk': await new SignJWT({ ...payload, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk })
      .sign(key.privateKey),
    'bad signature': `${validHeader}.${validPayload}.${validSignature.slice(0, -6)}AAAAAA`,
    'payload changed after signing': `${validHeader}.${b64url({ ...payload, htm: 'DELETE' })}.${validSignature}`,
    'signed by another key than the jwk': await new SignJWT({ ...payload, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
      .sign(other.privateKey),
    'wrong typ': await new SignJWT({ ...payload, jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', jwk: key.publicJwk }).sign(key.privateKey),
    'not a JWT': 'not-a-jwt',
  };
}
