// A real Gatehouse server process (dist/main.js) on a PostgreSQL server of the test's own
// (initdb/pg_ctl), for the fault and soak tests that watch a process under load: its
// latency, memory and event loop are not shared with the test's own work.
import { randomBytes } from 'node:crypto';
import { createAdminClient, type AdminCredentials } from './admin.js';
import { GENEROUS_LIMITS, startApp, type TestApp } from './app.js';
import { createPrivatePostgres, type PrivatePostgres } from './private-postgres.js';
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from './server-process.js';

export interface GatehouseProcess<Fixtures> {
  postgres: PrivatePostgres;
  server: ServerProcess;
  origin: string;
  /** A confidential client allowed client credentials and introspection. */
  service: AdminCredentials;
  /** What `prepare` made. */
  fixtures: Fixtures;
  /**
   * Starts a second instance on the same store and secrets (not through the route), on a
   * port of its own and with `env` on top of the first one's settings; stopped by destroy().
   */
  startSibling(env?: Record<string, string>): Promise<{ server: ServerProcess; origin: string }>;
  /** Stops the processes and deletes the database. */
  destroy(): Promise<void>;
}

export interface GatehouseProcessOptions<Fixtures> {
  /** Settings for the process, on top of generous rate limits and a fresh store. */
  env?: Record<string, string>;
  /** The database URL the process is given, from its server's (e.g. through a proxy). */
  route?(databaseUrl: string): Promise<string> | string;
  /** More set-up, through an in-process app on the same store, before the process starts. */
  prepare?(setup: TestApp): Promise<Fixtures>;
}

/**
 * Creates the database, migrates it and creates the client (and `prepare`'s fixtures)
 * through an in-process app on the same store and secrets, as an operator would with the
 * CLI, stops that app, then starts the process.
 */
export async function startGatehouseProcess<Fixtures = undefined>(bin: string, options: GatehouseProcessOptions<Fixtures> = {}): Promise<GatehouseProcess<Fixtures>> {
  const postgres = await createPrivatePostgres(bin);
  let server: ServerProcess | undefined;
  try {
    const secrets = { SECRET_KEY: randomBytes(32).toString('base64'), COOKIE_KEYS: randomBytes(32).toString('base64url') };
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const setup = await startApp({ env: { DATABASE_URL: postgres.url, ISSUER: origin, ...secrets } });
    let service: AdminCredentials;
    let fixtures: Fixtures;
    try {
      service = await createAdminClient(setup, 'none');
      fixtures = (await options.prepare?.(setup)) as Fixtures;
    } finally {
      await setup.stop();
    }
    const settings = { ISSUER: origin, ...GENEROUS_LIMITS, ...secrets, ...options.env };
    server = await startServerProcess({
      ...settings,
      PORT: String(port),
      DATABASE_URL: options.route ? await options.route(postgres.url) : postgres.url,
    });
    const processes = [server];
    return {
      postgres, server, origin, service, fixtures,
      async startSibling(env = {}) {
        const siblingPort = await freePort();
        const sibling = await startServerProcess({ ...settings, PORT: String(siblingPort), DATABASE_URL: postgres.url, ...env });
        processes.push(sibling);
        return { server: sibling, origin: `http://127.0.0.1:${siblingPort}` };
      },
      async destroy() {
        await Promise.all(processes.map((running) => stopServerProcess(running)));
        await postgres.destroy();
      },
    };
  } catch (error) {
    await stopServerProcess(server);
    await postgres.destroy();
    throw error;
  }
}
