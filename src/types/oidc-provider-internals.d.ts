// Internal oidc-provider modules Gatehouse calls (see oidc/keystore.ts for why).
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  import type Provider from 'oidc-provider';

  export default function initializeKeystore(this: Provider, jwks: { keys: Array<Record<string, unknown>> }): void;
}
