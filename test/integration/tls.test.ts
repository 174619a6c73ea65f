// Checklist H1/H2 with Gatehouse terminating TLS itself: the real server process
// (dist/main.js) started with TLS_CERT_FILE/TLS_KEY_FILE, spoken to over HTTPS.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { freePort, startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

const run = promisify(execFile);


interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  protocol: string | null;
  body: string;
}

function get(url: string, ca: Buffer): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: 'localhost' }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol();
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, protocol, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('H1/H2 HTTPS served by Gatehouse itself', () => {
  let dir: string;
  let server: ServerProcess;
  let origin: string;
  let certificate: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-tls-'));
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', keyFile, '-out', certFile]);
    certificate = await readFile(certFile);
    const port = await freePort();
    origin = `https://localhost:${port}`;
    server = await startServerProcess({
      PORT: String(port),
      ISSUER: origin,
      DATA_DIR: path.join(dir, 'data'),
      TLS_CERT_FILE: certFile,
      TLS_KEY_FILE: keyFile,
    });
  }, 60_000);

  afterAll(async () => {
    await stopServerProcess(server, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  test('when discovery is fetched over HTTPS, then it answers over TLS 1.2 or newer with HSTS, and the issuer is the https origin', async () => {
    const reply = await get(`${origin}/.well-known/openid-configuration`, certificate);
    expect(reply.status).toBe(200);
    expect(['TLSv1.2', 'TLSv1.3']).toContain(reply.protocol);
    expect(reply.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(JSON.parse(reply.body).issuer).toBe(origin);
  });

  test('when a client offers only TLS 1.1, then the handshake is refused', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(origin).port), servername: 'localhost', ca: certificate, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    expect(outcome).not.toBe('connected');
  });

  test('when a page is served over HTTPS, then its cookies are Secure', async () => {
    // The logout confirmation page starts a session to hold its anti-forgery token.
    const reply = await get(`${origin}/session/end`, certificate);
    expect(reply.status).toBe(200);
    expect(reply.headers['strict-transport-security']).toContain('max-age=31536000');
    const cookies = (reply.headers['set-cookie'] as string[] | undefined) ?? [];
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(cookie).toMatch(/;\s*secure/i);
    expect(cookies.some((cookie) => cookie.startsWith('__Host-session='))).toBe(true);
  });
});
