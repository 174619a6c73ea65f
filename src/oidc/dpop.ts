// DPoP (RFC 9449): sender-constrained tokens. A client that sends a DPoP proof with its
// token request gets an access token bound to the proof's key (`cnf.jkt`, token_type
// DPoP), usable only with a fresh proof signed by that key: at userinfo (checked by
// oidc-provider) and at APIs (checked by gatehouse/verify). A public client's refresh
// token is bound too, so a stolen one is useless without the key (RFC 9449 §5); a
// confidential client's refresh token is already bound to its credentials. A client
// registered with dpop_bound_access_tokens=true (RFC 9449 §5.2) gets no token without a
// proof.
import type { Configuration } from 'oidc-provider';

/**
 * Server-provided nonces (RFC 9449 §8) are off. They would make every client's first
 * request fail with use_dpop_nonce and need a nonce secret shared by every instance; what
 * they add — limiting how far ahead a proof can be made — is covered here by the proof's
 * iat window (oidc-provider accepts proofs made within the last minute or so) and by
 * replay detection: each proof's jti is recorded in the shared database, so a proof is
 * accepted once across all instances (adapter.ts makes that insert atomic).
 */
export const dpopFeature: NonNullable<Configuration['features']>['dPoP'] = {
  enabled: true,
  requireNonce: () => false,
  allowReplay: false,
};
