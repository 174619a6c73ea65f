// Checklist I5: slow clients cannot hold the server. The real server process with a short
// HEADERS_TIMEOUT: sockets that dribble their headers are closed within the bound, while
// ordinary requests keep being answered at once.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

const HEADERS_TIMEOUT = 2;

/** A client that sends one header byte every 300 ms; resolves with the seconds until the server closed it. */
function dribble(port: number): { socket: Socket; closedAfter: Promise<number> } {
  const socket = connect({ host: '127.0.0.1', port });
  const started = Date.now();
  const text = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}`;
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < text.length && !socket.destroyed) socket.write(text[sent++]!);
  }, 300);
  const closedAfter = new Promise<number>((resolve) => {
    socket.once('close', () => {
      clearInterval(timer);
      resolve((Date.now() - started) / 1000);
    });
    socket.on('error', () => {});
  });
  return { socket, closedAfter };
}

describe('I5 slow clients are disconnected while real traffic goes on', () => {
  let dir: string;
  let gatehouse: ServerProcess;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-slow-'));
    port = await freePort();
    gatehouse = await startServerProcess({
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      DATA_DIR: path.join(dir, 'data'),
      HEADERS_TIMEOUT: String(HEADERS_TIMEOUT),
      REQUEST_TIMEOUT: '4',
    });
  }, 60_000);

  afterAll(async () => {
    await stopServerProcess(gatehouse);
    await rm(dir, { recursive: true, force: true });
  });

  test('when 50 clients send their headers a byte at a time, then each is closed within the header timeout, and a normal request meanwhile is answered at once', async () => {
    const slow = Array.from({ length: 50 }, () => dribble(port));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = Date.now();
    const answer = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);

    const closed = await Promise.all(slow.map((client) => client.closedAfter));
    // The bound plus the server's connection check (half the timeout) and some slack.
    for (const seconds of closed) expect(seconds).toBeLessThan(HEADERS_TIMEOUT + 2);
    expect(Math.min(...closed)).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 0.5);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  }, 30_000);

  test('when REQUEST_TIMEOUT is shorter than HEADERS_TIMEOUT, then the server refuses to start and names the setting', async () => {
    await expect(startServerProcess({ PORT: '0', DATA_DIR: path.join(dir, 'other'), HEADERS_TIMEOUT: '10', REQUEST_TIMEOUT: '5' })).rejects.toThrow(
      /REQUEST_TIMEOUT: must be at least HEADERS_TIMEOUT/,
    );
  });
});
