// Steady traffic for the fault and soak tests: what they send, what they record of each
// request, and the figures they judge those records by.
import { basicHeader } from './http.js';
import { sleep } from './security.js';

export interface Sample<Kind extends string> {
  kind: Kind;
  started: number;
  ms: number;
  status: number;
  retryAfter: string | null;
  error?: string;
  token?: string;
  contentType?: string;
}

/** The p-th percentile (nearest rank) of some durations. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** The requests the traffic is made of. */
export type TrafficKind = 'token' | 'introspection' | 'authorize' | 'discovery' | 'jwks' | 'healthz';

export interface TrafficTarget {
  origin: string;
  /** A confidential client allowed client credentials and introspection. */
  client: { clientId: string; clientSecret: string };
  /** An authorization request URL, for `authorize`. */
  authorizeUrl?: string;
  /** A request still unanswered after this long is cut and recorded as status 0. */
  timeoutMs?: number;
}

const PATHS: Record<Exclude<TrafficKind, 'authorize'>, string> = {
  token: '/token',
  introspection: '/token/introspection',
  discovery: '/.well-known/openid-configuration',
  jwks: '/jwks',
  healthz: '/healthz',
};

/**
 * Sends one request of the given kind, timed: client-credentials tokens and introspection
 * (of `token`) as the target's client, the rest as plain GETs. A transport failure, or a
 * hang cut at the timeout, is status 0.
 */
export async function sendTraffic<Kind extends TrafficKind>(target: TrafficTarget, kind: Kind, token?: string): Promise<Sample<Kind>> {
  const started = Date.now();
  const sample = (status: number, retryAfter: string | null, extra: Partial<Sample<Kind>> = {}): Sample<Kind> => ({
    kind, started, ms: Date.now() - started, status, retryAfter, ...extra,
  });
  const url = kind === 'authorize' ? target.authorizeUrl : `${target.origin}${PATHS[kind as keyof typeof PATHS]}`;
  if (!url) throw new Error('no authorization request URL for this traffic');
  try {
    const init: RequestInit = { redirect: 'manual', signal: AbortSignal.timeout(target.timeoutMs ?? 15_000) };
    // The authorization endpoint is opened by a browser, which asks for a page.
    if (kind === 'authorize') init.headers = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
    if (kind === 'token' || kind === 'introspection') {
      Object.assign(init, {
        method: 'POST',
        headers: { authorization: basicHeader(target.client.clientId, target.client.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(kind === 'token' ? { grant_type: 'client_credentials' } : { token: token ?? 'none' }),
      });
    }
    const response = await fetch(url, init);
    const text = await response.text();
    const body = (response.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as { access_token?: string; error?: string }) : {};
    return sample(response.status, response.headers.get('retry-after'), {
      contentType: response.headers.get('content-type') ?? '',
      ...(body.error ? { error: body.error } : {}),
      ...(body.access_token ? { token: body.access_token } : {}),
    });
  } catch {
    return sample(0, null);
  }
}

/**
 * Traffic that runs until stopped: each of `clients` sends one request after another,
 * round `kinds` (client n starts at kind n), pausing `pauseMs` between requests. Every
 * request is recorded in `samples`; introspection asks about the latest token issued.
 */
export function steadyTraffic<Kind extends TrafficKind>(
  target: TrafficTarget,
  options: { clients: number; kinds: readonly Kind[]; pauseMs: number },
  samples: Array<Sample<Kind>>,
  issued: string[] = [],
): { stop(): Promise<void> } {
  let running = true;
  const clients = Array.from({ length: options.clients }, async (_, client) => {
    for (let i = client; running; i += 1) {
      const result = await sendTraffic(target, options.kinds[i % options.kinds.length]!, issued[issued.length - 1]);
      samples.push(result);
      if (result.token) issued.push(result.token);
      await sleep(options.pauseMs);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
    },
  };
}
