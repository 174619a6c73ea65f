// A relying party's own https server on loopback, for the outbound calls Gatehouse makes
// to client-chosen URLs: it records every request (back-channel logout tokens) and serves
// fixed documents (sector_identifier_uri). Its certificate is made per run with the
// openssl CLI; the app trusts it through OUTBOUND_TEST_CA_FILE (a test-only setting).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listen, type Listener } from './listeners.js';

export interface TestCertificate {
  /** Path of the PEM certificate, for OUTBOUND_TEST_CA_FILE. */
  caFile: string;
  cert: Buffer;
  key: Buffer;
  remove(): void;
}

/** A self-signed certificate for 127.0.0.1 and localhost, valid for a day. */
export function makeCertificate(): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-rp-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  return {
    caFile: path.join(dir, 'cert.pem'),
    cert: readFileSync(path.join(dir, 'cert.pem')),
    key: readFileSync(path.join(dir, 'key.pem')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
}

export interface HttpsRelyingParty extends Listener {
  origin: string;
  requests: RecordedRequest[];
  /** Serves `body` as JSON at `path` from now on. */
  serve(path: string, body: unknown): void;
  /** Resolves with the first recorded request to `path` (waits up to `ms`). */
  waitFor(path: string, ms?: number): Promise<RecordedRequest>;
}

export async function startHttpsRelyingParty(certificate: TestCertificate): Promise<HttpsRelyingParty> {
  const documents = new Map<string, string>();
  const requests: RecordedRequest[] = [];
  const server = createHttpsServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const pathname = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
      requests.push({ method: req.method ?? '', path: pathname, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
      const document = documents.get(pathname);
      if (document !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(document);
      } else {
        res.writeHead(req.method === 'POST' ? 200 : 404).end();
      }
    });
  });
  const listener = await listen(server, '127.0.0.1');
  return Object.assign(listener, {
    origin: `https://127.0.0.1:${listener.port}`,
    requests,
    serve(pathname: string, body: unknown) {
      documents.set(pathname, JSON.stringify(body));
    },
    async waitFor(pathname: string, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = requests.find((request) => request.path === pathname);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no request to ${pathname} within ${ms} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  });
}
