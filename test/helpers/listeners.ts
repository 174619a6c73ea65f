// Local listeners for the outbound-fetch checks: servers that count every TCP connection
// they accept (to prove a refusal happens before connecting) and, on close, destroy the
// sockets still open so a tarpit never holds a test up.
import type { Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';

export interface Listener {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** Starts `server` on a free port of `host`, counting its connections. */
export async function listen(server: TcpServer | HttpsServer, host: string): Promise<Listener> {
  const sockets = new Set<Socket>();
  const listener: Listener = {
    port: 0,
    connections: 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', (socket: Socket) => {
    listener.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  listener.port = (server.address() as AddressInfo).port;
  return listener;
}

/**
 * Accepts TCP connections and never says a word: a tarpit, and a connection counter. On
 * '::' (the default) it also takes IPv4 connections, so whatever "localhost" resolves to
 * lands here.
 */
export function tcpTarpit(host = '::'): Promise<Listener> {
  return listen(createTcpServer(() => undefined), host);
}
