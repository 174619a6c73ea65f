// Swapping the signing keys of a running oidc-provider. oidc-provider reads its key set
// once, at construction; its own initializer (lib/helpers/initialize_keystore.js, called
// by the Provider constructor) replaces both the signing keystore and the published
// JWKS, so calling it again with the key set from the database makes a rotation made by
// any instance take effect here without a restart. Both are looked up per request, so
// the swap is atomic from a request's point of view. Pinned oidc-provider version: the
// initializer is internal, and an upgrade must re-check it.
import type Provider from 'oidc-provider';
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';

export function replaceSigningKeys(provider: Provider, jwks: { keys: Array<Record<string, unknown>> }): void {
  // The initializer adjusts the keys it is given; hand it a copy.
  initializeKeystore.call(provider, structuredClone(jwks));
}
