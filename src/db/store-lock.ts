// The embedded store is one PostgreSQL data folder opened in-process: two processes
// opening it at once would corrupt it. A lock file naming the owner's pid keeps a second
// server or a CLI run out, with a message that says who holds it.
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

export class StoreLockedError extends Error {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(
      `The embedded store in ${dataDir} is in use by another Gatehouse process (pid ${pid}). ` +
        'Stop that process first, or run Gatehouse on PostgreSQL (DATABASE_URL) to share one store between processes.',
    );
    this.name = 'StoreLockedError';
  }
}

export interface StoreLock {
  release(): Promise<void>;
}

export async function acquireStoreLock(dataDir: string): Promise<StoreLock> {
  const file = path.join(dataDir, 'gatehouse.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new StoreLockedError(dataDir, owner);
      }
      // Left behind by a process that died: take it over.
      await rm(file, { force: true });
    }
  }
  throw new Error(`Could not lock the embedded store in ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
