// The HTTP(S) listener. With TLS_CERT_FILE/TLS_KEY_FILE Gatehouse terminates TLS itself,
// TLS 1.2 at least (checklist H1); otherwise plain HTTP for a TLS-terminating proxy.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { ConfigError } from '../config.js';

export function createListener(handler: RequestListener, tls: { certFile: string; keyFile: string } | undefined): Server {
  const server = tls
    ? createHttpsServer({ cert: readPem(tls.certFile, 'TLS_CERT_FILE'), key: readPem(tls.keyFile, 'TLS_KEY_FILE'), minVersion: 'TLSv1.2' }, handler)
    : createHttpServer(handler);
  // Bounded header and request times keep slow clients from holding sockets (ASVS 15.2.2).
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
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
