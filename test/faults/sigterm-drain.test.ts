// SIGTERM drains (issue 6, checklist R6): the real server process (dist/main.js) gets
// SIGTERM while requests are in flight. Those requests finish with their normal answers,
// new connections are refused, and the process exits 0 within its 15 s bound.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sleep } from '../helpers/security.js';
import { freePort, halfSentPost, startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('SIGTERM with requests in flight', () => {
  let dir: string;
  let gatehouse: ServerProcess;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-drain-'));
    port = await freePort();
    gatehouse = await startServerProcess({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, DATA_DIR: path.join(dir, 'data') });
  }, 60_000);

  afterAll(async () => {
    await stopServerProcess(gatehouse);
    await rm(dir, { recursive: true, force: true });
  });

  test('when SIGTERM arrives, then in-flight requests get their normal answers, new connections are refused, and the process exits 0 within 15 s', async () => {
    const origin = `http://127.0.0.1:${port}`;
    // A normal answer to compare with, before any signal.
    const normal = await fetch(`${origin}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'x'.repeat(64) }),
    });
    expect(normal.status).toBe(401);
    expect(((await normal.json()) as { error?: string }).error).toBe('invalid_client');

    const inFlight = Array.from({ length: 6 }, () => halfSentPost(port, '/token', { grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'x'.repeat(64) }));
    await sleep(500);
    const server = gatehouse.child;
    const exited = new Promise<{ code: number | null; ms: number }>((resolve) => {
      const started = Date.now();
      server.once('exit', (code) => resolve({ code, ms: Date.now() - started }));
    });
    server.kill('SIGTERM');
    await sleep(1_000);

    // The listener is closed: a new connection is refused while the old ones finish.
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    expect(server.exitCode).toBeNull();

    for (const request of inFlight) request.finish();
    const answers = await Promise.all(inFlight.map((request) => request.answer));
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect((JSON.parse(answer.body) as { error?: string }).error).toBe('invalid_client');
    }

    const { code, ms } = await exited;
    expect(code).toBe(0);
    expect(ms).toBeLessThan(15_000);
    expect(gatehouse.output()).toContain('shutting down: finishing in-flight requests');
    expect(gatehouse.output()).not.toContain('did not finish in time');
  }, 45_000);
});
