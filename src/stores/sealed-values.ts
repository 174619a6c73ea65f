// Every database column that holds a value sealed with the SecretBox, for re-sealing them
// under a new SECRET_KEY. Each location lists its sealed values and replaces one only if
// it still holds what was read (a conditional UPDATE): a value a running instance rewrote
// meanwhile was sealed under the current key by that instance and is left alone.
import type { SecretPurpose } from '../crypto/secret-box.js';
import type { Db } from './roles.js';

export interface SealedValue {
  /** The row, for messages and for the conditional update: a primary key, or `model/id` for protocol artifacts. */
  ref: string;
  sealed: string;
}

export interface SealedLocation {
  /** `table.column` (with the JSON path for protocol artifacts), as reports name it. */
  name: string;
  purpose: SecretPurpose;
  list(db: Db): Promise<SealedValue[]>;
  /** Replaces `value.sealed` with `resealed`; false when the row changed or went meanwhile. */
  replace(db: Db, value: SealedValue, resealed: string): Promise<boolean>;
}

const ARTIFACT_SEPARATOR = '/';

function splitArtifactRef(ref: string): [string, string] {
  const at = ref.indexOf(ARTIFACT_SEPARATOR);
  return [ref.slice(0, at), ref.slice(at + 1)];
}

export const SEALED_LOCATIONS: readonly SealedLocation[] = [
  {
    name: 'signing_keys.private_jwk_ciphertext',
    purpose: 'signing-key',
    list: (db) => db.$queryRaw<SealedValue[]>`
      SELECT kid AS ref, private_jwk_ciphertext AS sealed FROM signing_keys ORDER BY kid`,
    replace: async (db, value, resealed) => (await db.$executeRaw`
      UPDATE signing_keys SET private_jwk_ciphertext = ${resealed}
      WHERE kid = ${value.ref} AND private_jwk_ciphertext = ${value.sealed}`) === 1,
  },
  {
    name: 'clients.secret_ciphertext',
    purpose: 'client-secret',
    list: (db) => db.$queryRaw<SealedValue[]>`
      SELECT id AS ref, secret_ciphertext AS sealed FROM clients WHERE secret_ciphertext IS NOT NULL ORDER BY id`,
    replace: async (db, value, resealed) => (await db.$executeRaw`
      UPDATE clients SET secret_ciphertext = ${resealed} WHERE id = ${value.ref} AND secret_ciphertext = ${value.sealed}`) === 1,
  },
  {
    // Opened whenever it is set, even after its grace period: resealed likewise.
    name: 'clients.previous_secret_ciphertext',
    purpose: 'client-secret',
    list: (db) => db.$queryRaw<SealedValue[]>`
      SELECT id AS ref, previous_secret_ciphertext AS sealed FROM clients WHERE previous_secret_ciphertext IS NOT NULL ORDER BY id`,
    replace: async (db, value, resealed) => (await db.$executeRaw`
      UPDATE clients SET previous_secret_ciphertext = ${resealed}
      WHERE id = ${value.ref} AND previous_secret_ciphertext = ${value.sealed}`) === 1,
  },
  {
    name: 'users.totp_secret',
    purpose: 'mfa-seed',
    list: (db) => db.$queryRaw<SealedValue[]>`
      SELECT id::text AS ref, totp_secret AS sealed FROM users WHERE totp_secret IS NOT NULL ORDER BY id`,
    replace: async (db, value, resealed) => (await db.$executeRaw`
      UPDATE users SET totp_secret = ${resealed} WHERE id = ${value.ref}::uuid AND totp_secret = ${value.sealed}`) === 1,
  },
  {
    // Sessions (and device codes) keep their id sealed so they can be found by uid; a live
    // session can last SESSION_TTL, far longer than a rotation should wait. Expired rows
    // are never opened again (the purge deletes them) and are left as they are.
    name: 'oidc_payloads.payload.sealedJti',
    purpose: 'artifact-id',
    list: (db) => db.$queryRaw<SealedValue[]>`
      SELECT model || ${ARTIFACT_SEPARATOR} || id AS ref, payload->>'sealedJti' AS sealed FROM oidc_payloads
      WHERE jsonb_typeof(payload->'sealedJti') = 'string'
        AND (expires_at IS NULL OR expires_at > now())
      ORDER BY model, id`,
    replace: async (db, value, resealed) => {
      const [model, id] = splitArtifactRef(value.ref);
      return (await db.$executeRaw`
        UPDATE oidc_payloads SET payload = jsonb_set(payload, '{sealedJti}', to_jsonb(${resealed}::text))
        WHERE model = ${model} AND id = ${id} AND payload->>'sealedJti' = ${value.sealed}`) === 1;
    },
  },
  {
    // An interaction carries the browser's session id, sealed (see the oidc adapter).
    name: 'oidc_payloads.payload.session.cookie',
    purpose: 'artifact-id',
    list: (db) => db.$queryRaw<SealedValue[]>`
      SELECT model || ${ARTIFACT_SEPARATOR} || id AS ref, payload#>>'{session,cookie}' AS sealed FROM oidc_payloads
      WHERE model = 'Interaction' AND jsonb_typeof(payload#>'{session,cookie}') = 'string'
        AND (expires_at IS NULL OR expires_at > now())
      ORDER BY model, id`,
    replace: async (db, value, resealed) => {
      const [model, id] = splitArtifactRef(value.ref);
      return (await db.$executeRaw`
        UPDATE oidc_payloads SET payload = jsonb_set(payload, '{session,cookie}', to_jsonb(${resealed}::text))
        WHERE model = ${model} AND id = ${id} AND payload#>>'{session,cookie}' = ${value.sealed}`) === 1;
    },
  },
];
