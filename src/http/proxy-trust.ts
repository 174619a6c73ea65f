// Who may speak for the client (checklist H1). With TRUST_PROXY, Koa believes
// X-Forwarded-For/Proto/Host; these headers are honoured only when the TCP peer is one of
// the configured proxies, so a client reaching Gatehouse directly cannot choose its own
// rate-limit address or make a plain-HTTP request look like HTTPS.
import { BlockList, isIPv4 } from 'node:net';
import type { Context, Next } from 'koa';

const FORWARDING_HEADERS = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

export function proxyMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const family = isIPv4(address!) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address!, family);
    else list.addSubnet(address!, Number(prefix), family);
  }
  return (address) => {
    if (!address) return false;
    // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  };
}

export function forwardedHeadersOnlyFrom(entries: readonly string[]) {
  const trusted = proxyMatcher(entries);
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!trusted(ctx.req.socket.remoteAddress)) {
      for (const header of FORWARDING_HEADERS) delete ctx.req.headers[header];
    } else {
      // Behind a chain of proxies (a CDN, then a load balancer), each appends the address it
      // saw. The client is the right-most entry that is not one of ours: everything to its
      // left was written by the client and proves nothing.
      const chain = String(ctx.req.headers['x-forwarded-for'] ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
      let client: string | undefined;
      while (chain.length) {
        client = chain.pop();
        if (!trusted(client)) break;
      }
      if (client) ctx.req.headers['x-forwarded-for'] = client;
    }
    await next();
  };
}

/** HSTS on every response served over TLS, directly or through a trusted proxy (checklist H2). */
export function strictTransportSecurity() {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
