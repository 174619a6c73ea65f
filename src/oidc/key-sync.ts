// Keeps this instance's signing keys in step with the database: rotations made by any
// instance (or the CLI) arrive by NOTIFY at once, and a periodic check catches a lost
// notice, runs the scheduled rotation when it is due (one instance wins the lock) and
// unpublishes retired keys whose tokens have all expired.
import type Provider from 'oidc-provider';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { KEY_CHANGES_CHANNEL } from '../services/index.js';
import type { KeyService } from '../services/keys.js';
import { replaceSigningKeys } from './keystore.js';

export interface KeySync {
  /** Algorithms this instance currently signs with. */
  signingAlgorithms(): string[];
  /** Reads the key set and swaps it in if it changed. */
  reload(): Promise<void>;
  stop(): void;
}

export async function startKeySync(deps: {
  provider: Provider;
  keys: KeyService;
  config: Config;
  db: Database;
  logger: Logger;
  /** The fingerprint of the key set the provider was built with. */
  loaded: { fingerprint: string; algorithms: string[] };
  /** Called after a new key set was swapped in (e.g. to drop a cached JWKS). */
  onKeysReplaced?: () => void;
}): Promise<KeySync> {
  const { provider, keys, config, logger } = deps;
  let fingerprint = deps.loaded.fingerprint;
  let algorithms = deps.loaded.algorithms;
  /** The last queued task, settled either way (its failure is reported by its caller). */
  let running: Promise<void> = Promise.resolve();

  async function reload(): Promise<void> {
    const jwks = await keys.signingJwks();
    if (jwks.fingerprint === fingerprint) return;
    replaceSigningKeys(provider, { keys: jwks.keys as Array<Record<string, unknown>> });
    deps.onKeysReplaced?.();
    fingerprint = jwks.fingerprint;
    algorithms = [...new Set(jwks.keys.map((key) => String(key.alg)))];
    logger.info({ event: 'keys.reloaded', keys: jwks.fingerprint.split(',') }, 'signing keys reloaded');
  }

  /** One at a time: a notice arriving during a check waits for it, then runs once more. */
  function serialized(task: () => Promise<void>): () => Promise<void> {
    return () => {
      const next = running.then(task);
      running = next.catch(() => undefined);
      return next;
    };
  }

  const reloadNow = serialized(reload);
  const check = serialized(async () => {
    if (config.keys.rotationInterval > 0 && (await keys.rotateIfDue(config.keys.rotationInterval))) {
      logger.info({ event: 'keys.rotated', reason: 'schedule' }, 'signing keys rotated on schedule');
    }
    const removed = await keys.deleteExpiredRetired();
    if (removed) logger.info({ event: 'keys.unpublished', count: removed }, 'retired signing keys unpublished');
    await reload();
  });

  const report = (error: unknown) => logger.warn({ err: error }, 'signing key check failed; keeping the current keys');
  await deps.db.listen(KEY_CHANGES_CHANNEL, () => void reloadNow().catch(report), () => void reloadNow().catch(report));
  const timer = setInterval(() => void check().catch(report), config.keys.refreshInterval * 1000);
  timer.unref();

  return {
    signingAlgorithms: () => algorithms,
    reload: reloadNow,
    stop: () => clearInterval(timer),
  };
}
