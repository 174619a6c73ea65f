// DPoP proofs (RFC 9449 §4.3, §7.1) as a resource server checks them: a token bound to a
// key (`cnf.jkt`) is accepted only with a proof JWT that the same key signed for this very
// request (method and URL), for this very token (`ath`), recently (`iat`) and only once
// (`jti`).
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';

export interface DPoPOptions {
  /** Accepted proof algorithms; asymmetric only (default ES256, PS256, RS256, EdDSA, Ed25519). */
  algorithms?: string[];
  /** How far a proof's iat may be from now, seconds (default 60). */
  maxAgeSeconds?: number;
  /** How many proof ids are remembered to refuse replays (default 10 000). */
  replayCacheSize?: number;
}

/** What a resource server knows about the request that carried the token. */
export interface DPoPRequest {
  /** The HTTP method, e.g. GET. */
  method: string;
  /** The URL the client called, as the client saw it (scheme, host, path; the query is ignored). */
  url: string;
  /** The request's DPoP header, if any. */
  proof?: string | undefined;
}

export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519'];
const MAX_PROOF_LENGTH = 8_192;

export class ProofError extends Error {
  override name = 'ProofError';
}

/**
 * Proof ids seen recently, per process. A bounded in-memory cache: it forgets ids once
 * their proofs are too old to be accepted anyway, and when full drops the oldest first,
 * so under a flood of more than `size` proofs per window a replay could slip through.
 * Several instances of an API do not share it; a replay sent to another instance within
 * the iat window is not detected (the proof still binds it to the same method, URL, token
 * and key).
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();

  constructor(private readonly size: number) {}

  /** Records the id; false when it was already recorded and has not expired. */
  add(id: string, expiresAt: number, now: number): boolean {
    const until = this.#seen.get(id);
    if (until !== undefined && until > now) return false;
    this.#seen.delete(id);
    if (this.#seen.size >= this.size) {
      for (const [key, value] of this.#seen) {
        if (value <= now || this.#seen.size >= this.size) this.#seen.delete(key);
        else break;
      }
    }
    this.#seen.set(id, expiresAt);
    return true;
  }
}

/** The URL without query and fragment, normalised (RFC 9449 §4.3 item 9). */
function htuOf(value: string): string | undefined {
  const url = URL.parse(value);
  if (!url) return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
}

export function createProofChecker(options: DPoPOptions = {}) {
  const algorithms = options.algorithms ?? DEFAULT_DPOP_ALGORITHMS;
  if (algorithms.some((alg) => alg === 'none' || alg.startsWith('HS'))) {
    throw new Error('gatehouse/verify: DPoP proofs are signed with asymmetric keys only');
  }
  const maxAge = options.maxAgeSeconds ?? 60;
  const replays = new ReplayCache(options.replayCacheSize ?? 10_000);

  return {
    algorithms,
    /** Checks the proof for `token` bound to `jkt`; throws ProofError with a short reason. */
    async check(request: DPoPRequest, token: string, jkt: string): Promise<void> {
      const proof = request.proof;
      if (!proof) throw new ProofError('a DPoP proof is required for this access token');
      if (proof.length > MAX_PROOF_LENGTH) throw new ProofError('the DPoP proof is too long');
      let header: { jwk?: JWK };
      let payload: Record<string, unknown>;
      try {
        // EmbeddedJWK takes the key from the proof's own header and refuses a private key.
        const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms });
        header = verified.protectedHeader as { jwk?: JWK };
        payload = verified.payload as Record<string, unknown>;
      } catch {
        throw new ProofError('the DPoP proof is not a valid dpop+jwt signed by its embedded public key');
      }
      const jwk = header.jwk!;
      if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk)) throw new ProofError('the DPoP proof key must be a public key');
      if (typeof payload.htm !== 'string' || payload.htm !== request.method.toUpperCase()) throw new ProofError('the DPoP proof was made for another method');
      const expected = htuOf(request.url);
      if (typeof payload.htu !== 'string' || !expected || htuOf(payload.htu) !== expected) throw new ProofError('the DPoP proof was made for another URL');
      const now = Math.floor(Date.now() / 1000);
      if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > maxAge) throw new ProofError('the DPoP proof is not recent');
      if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw new ProofError('the DPoP proof has no usable jti');
      const ath = createHash('sha256').update(token).digest('base64url');
      if (payload.ath !== ath) throw new ProofError('the DPoP proof was made for another access token');
      if ((await calculateJwkThumbprint(jwk)) !== jkt) throw new ProofError('the DPoP proof is signed by a key the access token is not bound to');
      // Last: a proof that fails any other check does not use up its id.
      if (!replays.add(`${jkt}:${payload.jti}`, payload.iat + maxAge + 1, now)) throw new ProofError('the DPoP proof has been used before');
    },
  };
}
