// The real server process (dist/main.js, built by `npm test`'s pretest) for tests that need
// what only a process has: its own listener (TLS), signals, its exit code.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
}

/** Starts dist/main.js with `env` (and PATH) and resolves once it is serving. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.resolve('dist/main.js')], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_FORMAT: 'json', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: the caller never gets its handle to stop it.
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${output}`));
    }, 45_000);
    // It says so at log level info; at a quieter level, its liveness endpoint answering tells.
    const alive = async () => Boolean(env.PORT) && (await fetch(`http://127.0.0.1:${env.PORT}/healthz`).then((r) => r.ok, () => false));
    const poll = setInterval(() => {
      void (async () => {
        if (!output.includes('Gatehouse is serving') && !(await alive())) return;
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      })();
    }, 50);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${output}`));
    });
  });
  return { child, output: () => output };
}

/** Stops the process if it still runs. */
export async function stopServerProcess(server: ServerProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const child = server?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  await new Promise((resolve) => child.once('exit', resolve));
}

/** A request that has reached the server but is not finished yet. */
export interface HalfSent {
  /** Sends the rest of the body. */
  finish(): void;
  answer: Promise<{ status: number; body: string }>;
}

/**
 * A form POST whose body arrives in two parts: the server has read the headers and half
 * the body and waits for the rest, as with a slow client on a slow link. The request is
 * in flight until `finish()`.
 */
export function halfSentPost(port: number, path: string, form: Record<string, string>, headers: Record<string, string> = {}): HalfSent {
  const body = Buffer.from(new URLSearchParams(form).toString());
  const half = Math.floor(body.length / 2);
  let request!: http.ClientRequest;
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request = http.request({
      host: '127.0.0.1', port, path, method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    request.write(body.subarray(0, half));
  });
  return { answer, finish: () => request.end(body.subarray(half)) };
}
