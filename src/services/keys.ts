// Token signing keys: RS256 (mandatory to implement for OIDC ID tokens) and ES256 (seven
// times cheaper to sign, for clients that ask for it). Private parts are sealed with
// AES-256-GCM before they reach the database; only public parts are ever published.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import { createAuditStore, type AuditActor } from '../stores/audit.js';
import type { KeyStore, SigningKeyRecord } from '../stores/keys.js';

export const SIGNING_ALGORITHMS = ['RS256', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export interface KeyView {
  kid: string;
  alg: string;
  use: string;
  status: string;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  public_jwk: Record<string, unknown>;
}

export function viewKey(key: SigningKeyRecord): KeyView {
  return {
    kid: key.kid,
    alg: key.alg,
    use: key.use,
    status: key.status,
    created_at: key.createdAt.toISOString(),
    activated_at: key.activatedAt?.toISOString() ?? null,
    retired_at: key.retiredAt?.toISOString() ?? null,
    public_jwk: key.publicJwk,
  };
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

export type KeyService = ReturnType<typeof createKeyService>;

export function createKeyService(deps: { keys: KeyStore; secretBox: SecretBox; retiredKeyRetentionSeconds: number }) {
  const { keys, secretBox } = deps;

  async function generate(alg: SigningAlgorithm) {
    const { privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    const privateJwk: JWK = { ...jwk, kid, alg, use: 'sig' };
    const publicJwk = Object.fromEntries(Object.entries(privateJwk).filter(([member]) => !PRIVATE_MEMBERS.includes(member)));
    return { kid, alg, use: 'sig', publicJwk, privateJwkCiphertext: secretBox.seal(JSON.stringify(privateJwk), 'signing-key') };
  }

  const service = {
    list: () => keys.list(),

    /** On first start: creates a current key for each algorithm that has none. */
    async ensureKeys(): Promise<void> {
      await keys.exclusive(async (locked) => {
        const existing = await locked.list();
        const missing = SIGNING_ALGORITHMS.filter((alg) => !existing.some((key) => key.alg === alg && key.status === 'current'));
        if (missing.length) await locked.activate(await Promise.all(missing.map(generate)));
      });
    },

    /**
     * Replaces the current key of every algorithm. The previous keys stay published as
     * retired until every token they signed has expired, so verifiers never break.
     */
    async rotate(actor: AuditActor): Promise<SigningKeyRecord[]> {
      const fresh = await Promise.all(SIGNING_ALGORITHMS.map(generate));
      return keys.exclusive(async (locked, tx) => {
        const before = await locked.list();
        await locked.activate(fresh);
        await locked.deleteRetiredBefore(new Date(Date.now() - deps.retiredKeyRetentionSeconds * 1000));
        const after = await locked.list();
        const summary = (list: SigningKeyRecord[]) => list.map(({ kid, alg, status }) => ({ kid, alg, status }));
        await createAuditStore(tx).append(actor, { action: 'key.rotate', targetType: 'key', targetId: fresh.map((key) => key.kid).join(','), before: summary(before), after: summary(after) });
        return after;
      });
    },

    /**
     * The private key set oidc-provider signs with: current keys first (oidc-provider
     * signs with the first key of an algorithm), then the others for verification.
     */
    async signingJwks(): Promise<{ keys: JWK[] }> {
      const order = { current: 0, retired: 1 } as const;
      const all = (await keys.list()).sort((a, b) => order[a.status] - order[b.status]);
      return { keys: all.map((key) => JSON.parse(secretBox.open(key.privateJwkCiphertext, 'signing-key')) as JWK) };
    },
  };
  return service;
}
