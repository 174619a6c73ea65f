// Token signing keys: RS256 (mandatory to implement for OIDC ID tokens) and ES256 (seven
// times cheaper to sign, for clients and APIs that ask for it). Private parts are sealed
// with AES-256-GCM before they reach the database; only public parts are ever published.
//
// Lifecycle per algorithm: next → current → retired → deleted. A next key is published
// from the moment it is made, one whole rotation before it signs, so every verifier has
// it before it meets a token it signed (OIDC Core 10.1.1, checklist D6). A retired key
// stays published until every token it signed has expired and every JWKS cache has
// turned over. The database is the one truth: every instance reads it.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import { createAuditStore, type AuditActor } from '../stores/audit.js';
import type { KeyOperations, KeyStore, SigningKeyRecord } from '../stores/keys.js';

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
const SYSTEM: AuditActor = { type: 'system', id: 'key-rotation-schedule' };

export type KeyService = ReturnType<typeof createKeyService>;

export function createKeyService(deps: {
  keys: KeyStore;
  secretBox: SecretBox;
  /** How long a retired key stays published: the longest token lifetime plus the JWKS cache lifetime. */
  retiredKeyRetentionSeconds(): Promise<number>;
  /** Tells every instance the key set changed (after commit). */
  announceChange(tx: Parameters<Parameters<KeyStore['exclusive']>[0]>[1]): Promise<void>;
}) {
  const { keys, secretBox } = deps;

  async function generate(alg: SigningAlgorithm) {
    const { privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    const privateJwk: JWK = { ...jwk, kid, alg, use: 'sig' };
    const publicJwk = Object.fromEntries(Object.entries(privateJwk).filter(([member]) => !PRIVATE_MEMBERS.includes(member)));
    return { kid, alg, use: 'sig', publicJwk, privateJwkCiphertext: secretBox.seal(JSON.stringify(privateJwk), 'signing-key') };
  }

  type GeneratedKey = Awaited<ReturnType<typeof generate>>;

  /** Makes the published next key of `alg` current, or `fresh` when there is none. */
  async function promoteNext(locked: KeyOperations, existing: SigningKeyRecord[], alg: string, fresh: GeneratedKey): Promise<void> {
    const next = existing.find((key) => key.alg === alg && key.status === 'next');
    if (!next) await locked.addNext(fresh);
    await locked.promote(next?.kid ?? fresh.kid, alg);
  }

  /** Promotes each algorithm's next key (or a fresh one) to current and publishes a new next key. */
  async function rotateLocked(locked: KeyOperations, fresh: Map<string, GeneratedKey[]>): Promise<void> {
    const existing = await locked.list();
    for (const alg of SIGNING_ALGORITHMS) {
      const [first, second] = fresh.get(alg)!;
      await promoteNext(locked, existing, alg, first!);
      await locked.addNext(second!);
    }
  }

  async function freshKeys(): Promise<Map<string, GeneratedKey[]>> {
    // Generated outside the lock: RSA generation takes a while.
    const pairs = await Promise.all(SIGNING_ALGORITHMS.map(async (alg) => [alg, [await generate(alg), await generate(alg)]] as [string, GeneratedKey[]]));
    return new Map(pairs);
  }

  const summary = (list: SigningKeyRecord[]) => list.map(({ kid, alg, status }) => ({ kid, alg, status }));

  async function rotate(actor: AuditActor, onlyIfOlderThanSeconds?: number): Promise<SigningKeyRecord[] | undefined> {
    const fresh = await freshKeys();
    // Read before taking the lock: inside it only the transaction's own connection may be
    // used (the embedded store has a single connection).
    const retention = await deps.retiredKeyRetentionSeconds();
    return keys.exclusive(async (locked, tx) => {
      const before = await locked.list();
      if (onlyIfOlderThanSeconds !== undefined) {
        // Checked again under the lock: of several instances that found the keys due,
        // only the first rotates.
        const cutoff = Date.now() - onlyIfOlderThanSeconds * 1000;
        const due = before.some((key) => key.status === 'current' && (key.activatedAt?.getTime() ?? 0) <= cutoff);
        if (!due) return undefined;
      }
      await rotateLocked(locked, fresh);
      await locked.deleteRetiredBefore(new Date(Date.now() - retention * 1000));
      const after = await locked.list();
      const added = after.filter((key) => !before.some((old) => old.kid === key.kid)).map((key) => key.kid);
      await createAuditStore(tx).append(actor, { action: 'key.rotate', targetType: 'key', targetId: added.join(','), before: summary(before), after: summary(after) });
      await deps.announceChange(tx);
      return after;
    });
  }

  return {
    list: () => keys.list(),

    /** On start: a current and a next key for each algorithm that lacks them. */
    async ensureKeys(): Promise<void> {
      const complete = (list: SigningKeyRecord[]) =>
        SIGNING_ALGORITHMS.every((alg) => list.some((key) => key.alg === alg && key.status === 'current') && list.some((key) => key.alg === alg && key.status === 'next'));
      if (complete(await keys.list())) return;
      const fresh = await freshKeys();
      await keys.exclusive(async (locked, tx) => {
        const existing = await locked.list();
        let changed = false;
        for (const alg of SIGNING_ALGORITHMS) {
          const [first, second] = fresh.get(alg)!;
          if (!existing.some((key) => key.alg === alg && key.status === 'current')) {
            await promoteNext(locked, existing, alg, first!);
            changed = true;
          }
          const refreshed = await locked.list();
          if (!refreshed.some((key) => key.alg === alg && key.status === 'next')) {
            await locked.addNext(second!);
            changed = true;
          }
        }
        if (changed) await deps.announceChange(tx);
      });
    },

    /**
     * Rotates now: the published next keys start signing, the current ones retire (still
     * published until their tokens have expired) and new next keys are published.
     */
    async rotate(actor: AuditActor): Promise<SigningKeyRecord[]> {
      return (await rotate(actor))!;
    },

    /** The scheduled rotation: rotates when the current keys are older than the interval. */
    async rotateIfDue(intervalSeconds: number): Promise<boolean> {
      const current = (await keys.list()).filter((key) => key.status === 'current');
      const cutoff = Date.now() - intervalSeconds * 1000;
      if (!current.some((key) => (key.activatedAt?.getTime() ?? 0) <= cutoff)) return false;
      return (await rotate(SYSTEM, intervalSeconds)) !== undefined;
    },

    /** Unpublishes retired keys whose tokens have all expired. */
    async deleteExpiredRetired(): Promise<number> {
      const cutoff = new Date(Date.now() - (await deps.retiredKeyRetentionSeconds()) * 1000);
      return keys.deleteRetiredBefore(cutoff);
    },

    /**
     * The private key set oidc-provider works with: current keys first (oidc-provider
     * signs with the first key of an algorithm), then next and retired ones, which only
     * verify and are published.
     */
    async signingJwks(): Promise<{ keys: JWK[]; fingerprint: string }> {
      const order = { current: 0, next: 1, retired: 2 } as const;
      const all = (await keys.list()).sort((a, b) => order[a.status] - order[b.status] || a.kid.localeCompare(b.kid));
      return {
        keys: all.map((key) => JSON.parse(secretBox.open(key.privateJwkCiphertext, 'signing-key')) as JWK),
        fingerprint: all.map((key) => `${key.kid}:${key.status}`).join(','),
      };
    },
  };
}
