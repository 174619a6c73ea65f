// A PostgreSQL server of the test's own, on a spare port, that the test may stop and
// start (Debian's postgresql package: initdb and pg_ctl). It never touches the shared
// server. Runs as the `postgres` user when the tests run as root (initdb refuses root).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The folder of initdb and pg_ctl, if PostgreSQL is installed. */
export function postgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => existsSync(path.join(root, name, 'bin', 'pg_ctl'))).sort();
  const latest = versions[versions.length - 1];
  return latest ? path.join(root, latest, 'bin') : undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrivatePostgres {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export async function createPrivatePostgres(bin: string): Promise<PrivatePostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-pg-'));
  const asRoot = userInfo().uid === 0;
  const command = async (tool: string, args: string[]) => {
    const file = path.join(bin, tool);
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', file, ...args], { timeout: 60_000 });
    else await run(file, args, { timeout: 60_000 });
  };
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const data = path.join(dir, 'data');
  await command('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let running = false;
  const server: PrivatePostgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await command('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
      running = true;
    },
    async stop() {
      await command('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      running = false;
    },
    async destroy() {
      if (running) await server.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
