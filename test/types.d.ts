// oidc-provider ships no types for its memory adapter module, which the adapter contract
// suite runs against to prove the suite itself.
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  export function createMemoryAdapter(clockTolerance?: number): unknown;
}
