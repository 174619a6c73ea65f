// Request objects (RFC 9101, JWT-secured authorization requests) and pushed authorization
// requests (RFC 9126): the algorithms Gatehouse verifies, the claims it insists on beyond
// oidc-provider's checks (signature against the client's keys, iss = client_id,
// aud = issuer, exp/nbf when present), and the registration rules for the per-client
// settings.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { FieldProblem } from '../errors.js';

/**
 * Verified with the client's public keys only. HS256 is left out on purpose: a shared
 * secret would make every confidential client's secret a signing key, and a server that
 * accepts HS256 is the one where "HS256 signed with the RSA public key" is worth trying.
 */
export const REQUEST_OBJECT_SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** A request object is a one-off credential for one request: it expires within the hour. */
const MAX_REQUEST_OBJECT_LIFETIME = 3600;

/**
 * RFC 9101 §4 says request objects SHOULD carry iss and aud; Gatehouse requires them, and
 * an exp, so a captured object cannot be replayed indefinitely (RFC 8725 §3.10).
 */
export async function assertRequestObjectClaims(_ctx: KoaContextWithOIDC, claims: Record<string, unknown>): Promise<void> {
  for (const claim of ['iss', 'aud', 'exp']) {
    if (claims[claim] === undefined) throw new errors.InvalidRequestObject(`the request object must have a ${claim} claim`);
  }
  const exp = claims['exp'];
  if (typeof exp !== 'number' || exp - Math.floor(Date.now() / 1000) > MAX_REQUEST_OBJECT_LIFETIME) {
    throw new errors.InvalidRequestObject(`the request object must expire within ${MAX_REQUEST_OBJECT_LIFETIME} seconds`);
  }
}

/** A client that signs request objects needs public keys to check them with. */
export function requestObjectProblems(data: {
  require_signed_request_object?: boolean | undefined;
  request_object_signing_alg?: string | undefined;
  jwks?: unknown;
  jwks_uri?: string | undefined;
}): FieldProblem[] {
  const signs = data.require_signed_request_object === true || data.request_object_signing_alg !== undefined;
  if (signs && !data.jwks && !data.jwks_uri) {
    const field = data.request_object_signing_alg !== undefined ? 'request_object_signing_alg' : 'require_signed_request_object';
    return [{ field, message: 'signed request objects need the client\'s public keys: give jwks or jwks_uri' }];
  }
  return [];
}
