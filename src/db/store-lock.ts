// The embedded store is one PostgreSQL data folder opened in-process: two processes
// opening it at once would corrupt it. A lock file naming the owner's pid keeps a second
// server or a CLI run out, with a message that says who holds it.
import { link, readFile, rm, writeFile } from 'node:fs/promises';
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
  // The pid is written to a private file first and then hard-linked into place: link()
  // fails if the lock exists, so the lock file never exists without its owner's pid.
  const candidate = `${file}.${process.pid}`;
  await writeFile(candidate, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        await link(candidate, file);
        return { release: () => rm(file, { force: true }) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const recorded = await readFile(file, 'utf8').catch(() => '');
      const owner = Number.parseInt(recorded, 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new StoreLockedError(dataDir, owner);
      }
      // Left behind by a process that died. Remove it only if it still names that
      // process, so a lock another process has just taken over is left alone.
      if ((await readFile(file, 'utf8').catch(() => '')) === recorded) await rm(file, { force: true });
    }
    throw new Error(`Could not lock the embedded store in ${dataDir}`);
  } finally {
    await rm(candidate, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
