// A TCP proxy that holds every chunk, in both directions, for a configurable time before
// passing it on: a slow network between Gatehouse and PostgreSQL (checklist R2), standing
// in for toxiproxy's latency toxic. The latency can change while connections are open;
// chunks keep their order in each direction whatever it is changed to.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface LatencyProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** `url` (a postgresql:// URL of the target) with its host and port replaced by the proxy's. */
  through(url: string): string;
  /** Every chunk from now on waits `ms`, plus up to `jitterMs` more at random. */
  setLatency(ms: number, jitterMs?: number): void;
  /** Connections accepted so far (each one opened to the target). */
  connectionsOpened(): number;
  close(): Promise<void>;
}

export async function startLatencyProxy(target: { host: string; port: number }): Promise<LatencyProxy> {
  let latency = 0;
  let jitter = 0;
  let opened = 0;
  const sockets = new Set<Socket>();
  // Chunks on their way, so close() can drop them instead of keeping the process alive.
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, task: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      task();
    }, ms);
    timers.add(timer);
  };

  /** Forwards from → to, each chunk `latency` after it arrived, never overtaking an earlier one. */
  function pipeDelayed(from: Socket, to: Socket): void {
    let lastDue = 0;
    from.on('data', (chunk: Buffer) => {
      const due = Math.max(lastDue, Date.now() + latency + Math.random() * jitter);
      lastDue = due;
      const wait = due - Date.now();
      const forward = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (wait <= 0) forward();
      else later(wait, forward);
    });
    // A close travels behind the data already on its way, as on a real link.
    from.on('end', () => later(Math.max(0, lastDue - Date.now()), () => to.end()));
  }

  const server: Server = createServer((client) => {
    opened += 1;
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // Either side failing ends both, as a reset would.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    through(url) {
      const proxied = new URL(url);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(port);
      return proxied.toString();
    },
    setLatency(ms, jitterMs = 0) {
      latency = ms;
      jitter = jitterMs;
    },
    connectionsOpened: () => opened,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
