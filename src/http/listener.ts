// The HTTP(S) listener. With TLS_CERT_FILE/TLS_KEY_FILE Gatehouse terminates TLS itself,
// TLS 1.2 at least (checklist H1); otherwise plain HTTP for a TLS-terminating proxy.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { ConfigError } from '../config.js';

export function createListener(
  handler: RequestListener,
  tls: { certFile: string; keyFile: string } | undefined,
  timeouts: { headers: number; request: number },
): Server {
  // Bounded header and request times keep slow clients from holding sockets (ASVS 15.2.2).
  // Node enforces them when it checks its connections, every 30 s by default: checking
  // at least once a second (and twice per header timeout) keeps the bound close to the
  // setting.
  const options = {
    headersTimeout: timeouts.headers * 1000,
    requestTimeout: timeouts.request * 1000,
    connectionsCheckingInterval: Math.min(1000, (timeouts.headers * 1000) / 2),
  };
  const server = tls
    ? createHttpsServer({ ...options, cert: readPem(tls.certFile, 'TLS_CERT_FILE'), key: readPem(tls.keyFile, 'TLS_KEY_FILE'), minVersion: 'TLSv1.2' }, handler)
    : createHttpServer(options, handler);
  server.keepAliveTimeout = 5_000;
  return server;
}

function readPem(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError([`${setting}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}
