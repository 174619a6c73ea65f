// Discovery and the JWKS are the most requested documents of an issuer (every verifier
// and relying party fetches them) and they change only when the signing keys do. The
// first answer oidc-provider gives is kept and replayed byte for byte until the keys
// change (or a minute passes, as a safety net), so these requests skip the page routers,
// the rate limits and oidc-provider itself. Only the plain form of the request is served
// from memory: a cross-origin request (the CORS answer depends on its Origin), a HEAD or a
// request with a query string goes the full way, as does any answer that sets a cookie.
import type { Context, Next } from 'koa';

interface Snapshot {
  body: Buffer;
  headers: [string, string][];
  expiresAt: number;
}

/** Headers that belong to one exchange, not to the document. */
const PER_REQUEST_HEADERS = new Set(['x-request-id', 'date', 'connection', 'keep-alive', 'content-length', 'strict-transport-security', 'transfer-encoding']);
const SNAPSHOT_TTL_MS = 60_000;

export interface PublishedDocuments {
  middleware(ctx: Context, next: Next): Promise<void>;
  /** Forgets every snapshot; the next request of each document rebuilds it. */
  invalidate(): void;
}

export function publishedDocuments(paths: readonly string[]): PublishedDocuments {
  const served = new Set(paths);
  const snapshots = new Map<string, Snapshot>();
  // Bumped by invalidate(): a snapshot taken from a response begun before a key change
  // is not kept, so a stale document can never outlive the change that replaced it.
  let generation = 0;

  const replayable = (ctx: Context) =>
    ctx.method === 'GET' && served.has(ctx.path) && ctx.querystring === '' && ctx.get('Origin') === '';

  return {
    async middleware(ctx, next) {
      if (!replayable(ctx)) return next();
      const snapshot = snapshots.get(ctx.path);
      if (snapshot && snapshot.expiresAt > Date.now()) {
        for (const [name, value] of snapshot.headers) ctx.set(name, value);
        ctx.status = 200;
        if (ctx.fresh) {
          ctx.status = 304;
          return;
        }
        ctx.body = snapshot.body;
        return;
      }
      const started = generation;
      await next();
      if (ctx.status !== 200 || started !== generation || ctx.response.get('Set-Cookie')) return;
      const body = ctx.body;
      const bytes = Buffer.isBuffer(body) ? body : typeof body === 'string' ? Buffer.from(body) : body && typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe !== 'function' ? Buffer.from(JSON.stringify(body)) : undefined;
      if (!bytes) return;
      const headers = Object.entries(ctx.response.headers)
        .filter(([name]) => !PER_REQUEST_HEADERS.has(name.toLowerCase()))
        .map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)] as [string, string]);
      snapshots.set(ctx.path, { body: bytes, headers, expiresAt: Date.now() + SNAPSHOT_TTL_MS });
    },
    invalidate() {
      generation += 1;
      snapshots.clear();
    },
  };
}
