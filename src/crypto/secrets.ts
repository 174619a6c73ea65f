// Resolves the two secrets every instance needs: the key that seals data at rest and the
// cookie signing keys. Production must configure both (config.ts refuses to start
// otherwise); in development they are generated once into DATA_DIR so that restarts keep
// sessions and can still decrypt the stored signing keys.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { randomToken } from './random.js';

export interface Secrets {
  secretKey: string;
  /** Earlier secret keys (SECRET_KEY_PREVIOUS) that still open sealed data during a rotation. */
  previousSecretKeys?: string[];
  cookieKeys: string[];
}

const FILE_NAME = 'secrets.json';

export async function resolveSecrets(config: Config, logger: Logger): Promise<Secrets> {
  if (config.secretKey && config.cookieKeys) {
    return { secretKey: config.secretKey, previousSecretKeys: [...config.secretKeyPrevious], cookieKeys: [...config.cookieKeys] };
  }
  const file = path.resolve(config.dataDir, FILE_NAME);
  // The file holds generated values only; a configured secret is never written to disk.
  let generated = await readStored(file);
  if (!generated) {
    generated = { secretKey: randomToken(32), cookieKeys: [randomToken(32)] };
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await writeFile(file, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process created it first: use theirs, so both agree.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      generated = (await readStored(file)) ?? generated;
    }
  }
  const secrets: Secrets = {
    secretKey: config.secretKey ?? generated.secretKey,
    previousSecretKeys: [...config.secretKeyPrevious],
    cookieKeys: config.cookieKeys ? [...config.cookieKeys] : generated.cookieKeys,
  };
  logger.warn(
    { file },
    'Using development secrets generated into DATA_DIR. Set SECRET_KEY and COOKIE_KEYS before production use.',
  );
  return secrets;
}

async function readStored(file: string): Promise<Secrets | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Secrets>;
    if (typeof parsed.secretKey === 'string' && Array.isArray(parsed.cookieKeys)) {
      return { secretKey: parsed.secretKey, cookieKeys: parsed.cookieKeys.map(String) };
    }
    throw new Error(`${file} is malformed; delete it only if no data was encrypted with it`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
