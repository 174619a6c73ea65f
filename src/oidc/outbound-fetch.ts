// Outbound HTTP for requests whose target a client chooses (checklist C5): jwks_uri,
// sector_identifier_uri, backchannel_logout_uri and, should it ever be enabled, a client_id
// metadata document. Registered metadata is attacker-controlled input, so without care
// these become server-side request forgery: the identity provider reaching a cloud
// metadata service (169.254.169.254), an admin port on loopback or a host on the internal
// network, or being held open by a tarpit.
//
// oidc-provider 9 already (lib/helpers/fetch_request.js) passes an AbortSignal of 2.5 s and
// an undici dispatcher that destroys a socket whose remote address is special-use. That
// check runs after the TCP (and TLS) connection to the internal host has been made, it
// relies on undici internals reached through global symbols, redirects are followed for
// jwks_uri and sector_identifier_uri, there is no https requirement at fetch time, and the
// jwks_uri and sector_identifier_uri bodies have no size limit by default.
//
// createOutboundFetch() returns a `fetch` for oidc-provider's configuration that does not
// use undici at all (the dispatcher it is handed is ignored) and instead:
// - accepts https: only, without credentials in the URL;
// - resolves the name itself and refuses the request when any resolved address (or a
//   literal IP in the URL) is not a public unicast address; the socket connects to the
//   addresses that were checked, through the `lookup` hook, so there is no second
//   resolution an attacker's DNS could answer differently (DNS rebinding);
// - never follows a redirect: with `redirect: 'manual'` a 3xx is returned as it is,
//   otherwise it is an error (WHATWG fetch with redirect 'error' behaves the same way);
// - reads the whole body before answering, within one hard deadline (default 5 s) that
//   covers name resolution, connect, TLS, headers and body, and a byte cap, so neither a
//   tarpit nor an endless body can hold a request;
// - keeps certificate verification on (Node's default); no proxy environment variables
//   are read.
//
// Every error thrown here is caught by oidc-provider and wrapped in an OAuth error: a
// jwks_uri failure during client authentication becomes 401 invalid_client, a
// sector_identifier_uri failure 400 invalid_client_metadata, a back-channel logout failure
// a `backchannel.error` event (logout itself still completes).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent, request as httpsRequest } from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isIP, isIPv4, type LookupFunction } from 'node:net';

export const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * Per-purpose body caps for oidc-provider's `fetchResponseBodyLimits` (its defaults leave
 * jwks_uri and sector_identifier_uri unlimited). A JWKS of a handful of RSA keys with
 * certificate chains fits comfortably in 64 KiB; a sector document is a list of URIs.
 */
export const FETCH_BODY_LIMITS = Object.freeze({
  'client_id metadata document': 5 * 1024,
  jwks_uri: 64 * 1024,
  sector_identifier_uri: 64 * 1024,
});

/** Overall cap for any response, whatever the purpose (back-channel logout has none upstream). */
export const DEFAULT_MAX_RESPONSE_BYTES = Math.max(...Object.values(FETCH_BODY_LIMITS));

export interface OutboundFetchOptions {
  /** Deadline for the whole exchange, milliseconds (default 5000). */
  timeoutMs?: number;
  /** Responses with a longer body are refused (default 64 KiB). */
  maxResponseBytes?: number;
  /**
   * Tests and local development only: skip the address check (https is still required and
   * redirects are still not followed). Never set in production.
   */
  allowPrivateNetworks?: boolean;
  /**
   * Tests only: the CA certificates to trust *instead of* the system roots, for a local
   * https server with a certificate made at test time. Verification itself stays on.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Tests only: replaces the system resolver (dns.lookup with all: true). */
  resolve?: (hostname: string, family: 0 | 4 | 6) => Promise<LookupAddress[]>;
}

export type OutboundFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export type OutboundFetchErrorCode =
  | 'ERR_OUTBOUND_URL' // not https, credentials in the URL, unsupported input
  | 'ERR_OUTBOUND_ADDRESS' // the host is (or resolves to) a non-public address
  | 'ERR_OUTBOUND_REDIRECT' // a 3xx when redirects were not asked to be returned
  | 'ERR_OUTBOUND_TIMEOUT'
  | 'ERR_OUTBOUND_TOO_LARGE'
  | 'ERR_OUTBOUND_RESPONSE'; // malformed or unusable response

export class OutboundFetchError extends Error {
  readonly code: OutboundFetchErrorCode;

  constructor(code: OutboundFetchErrorCode, message: string) {
    super(message);
    this.name = 'OutboundFetchError';
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------
// Address classification

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'carrier-grade-nat'
  | 'link-local'
  | 'cloud-metadata'
  | 'unique-local'
  | 'site-local'
  | 'multicast'
  | 'documentation'
  | 'benchmarking'
  | 'ipv4-translation'
  | 'reserved'
  | 'invalid';

type Rule<T> = readonly [prefix: T, bits: number, kind: Exclude<AddressClass, 'public' | 'invalid'>];

// IANA IPv4 Special-Purpose Address Registry entries that are not globally reachable, plus
// multicast and the addresses cloud providers serve instance metadata or host agents on.
// More specific entries come first: the first match names the class.
const IPV4_RULES: ReadonlyArray<Rule<number>> = ([
  ['169.254.169.254', 32, 'cloud-metadata'], // AWS, GCP, Azure, OpenStack, Oracle…
  ['168.63.129.16', 32, 'cloud-metadata'], // Azure WireServer (a public-range address)
  ['100.100.100.200', 32, 'cloud-metadata'], // Alibaba Cloud
  ['0.0.0.0', 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade-nat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'], // IETF protocol assignments
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // includes 255.255.255.255
] as const).map(([prefix, bits, kind]) => [ipv4ToNumber(prefix), bits, kind] as const);

// IPv6 is an allow-list: only global unicast (2000::/3) can be public, minus the blocks
// below. IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) addresses are judged by the
// IPv4 address they carry, since that is where a packet to them ends up.
const IPV6_RULES: ReadonlyArray<Rule<bigint>> = ([
  ['fd00:ec2::254', 128, 'cloud-metadata'], // AWS instance metadata over IPv6
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'reserved'], // IPv4-compatible (deprecated)
  ['64:ff9b:1::', 48, 'ipv4-translation'], // local-use NAT64 (RFC 8215)
  ['100::', 64, 'reserved'], // discard-only
  ['2001::', 23, 'reserved'], // IETF protocol assignments, Teredo included
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, 'ipv4-translation'], // 6to4 embeds an arbitrary IPv4 address
  ['3fff::', 20, 'documentation'],
  ['5f00::', 16, 'reserved'], // SRv6 SIDs
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
] as const).map(([prefix, bits, kind]) => [ipv6ToBigInt(prefix), bits, kind] as const);

const IPV4_MAPPED = ipv6ToBigInt('::ffff:0:0');
const NAT64 = ipv6ToBigInt('64:ff9b::');
const GLOBAL_UNICAST = ipv6ToBigInt('2000::');

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

/** Parses a valid IPv6 address (checked with net.isIP first) into its 128-bit value. */
function ipv6ToBigInt(address: string): bigint {
  let text = address;
  let embedded = 0n;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A trailing dotted quad stands for the last two groups.
    embedded = BigInt(ipv4ToNumber(text.slice(lastColon + 1)));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = text.split('::');
  const head = left ? left.split(':') : [];
  const tail = right === undefined ? [] : right ? right.split(':') : [];
  const groups = right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n) | embedded;
}

function inPrefix(value: bigint, prefix: bigint, bits: number): boolean {
  const shift = BigInt(128 - bits);
  return value >> shift === prefix >> shift;
}

function classifyIPv4(value: number): AddressClass {
  for (const [prefix, bits, kind] of IPV4_RULES) {
    // Unsigned arithmetic: JavaScript bit operators are signed 32-bit.
    const size = 2 ** (32 - bits);
    if (Math.floor(value / size) === Math.floor(prefix / size)) return kind;
  }
  return 'public';
}

/**
 * Classifies an IP address (IPv4 dotted quad or any IPv6 text form, with or without a
 * zone id or brackets). Anything but 'public' must not be contacted; text that is not an
 * IP address is 'invalid'.
 */
export function classifyAddress(address: string): AddressClass {
  let text = address.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  // A zone id (fe80::1%eth0) only scopes a link-local or multicast address.
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return classifyIPv4(ipv4ToNumber(text));
  if (family !== 6) return 'invalid';

  const value = ipv6ToBigInt(text);
  if (inPrefix(value, IPV4_MAPPED, 96) || inPrefix(value, NAT64, 96)) {
    return classifyIPv4(Number(value & 0xffffffffn));
  }
  for (const [prefix, bits, kind] of IPV6_RULES) {
    if (inPrefix(value, prefix, bits)) return kind;
  }
  return inPrefix(value, GLOBAL_UNICAST, 3) ? 'public' : 'reserved';
}

export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'public';
}

// ---------------------------------------------------------------------------------------
// The fetch

const NULL_BODY_STATUSES = new Set([204, 205, 304]);
// Set by this module or meaningless for a single buffered request.
const DROPPED_REQUEST_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'accept-encoding', 'keep-alive', 'upgrade']);

function systemResolve(hostname: string, family: 0 | 4 | 6): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, family }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });
}

function familyOf(options: LookupOptions): 0 | 4 | 6 {
  const { family } = options;
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function refused(host: string, address: string, kind: AddressClass): OutboundFetchError {
  const shown = host === address ? address : `${host} (${address})`;
  return new OutboundFetchError('ERR_OUTBOUND_ADDRESS', `refusing to connect to ${shown}: ${kind} address`);
}

function encodeBody(body: RequestInit['body'], headers: Headers): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    return Buffer.from(body.toString());
  }
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // Streams, Blobs and FormData are never sent by oidc-provider.
  throw new OutboundFetchError('ERR_OUTBOUND_URL', 'unsupported request body type');
}

function buildResponse(res: IncomingMessage, method: string, body: Buffer, url: URL): Response {
  const status = res.statusCode ?? 0;
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const init = { status, headers };
  const payload = method === 'HEAD' || NULL_BODY_STATUSES.has(status) ? null : new Uint8Array(body);
  let response: Response;
  try {
    response = new Response(payload, { ...init, statusText: res.statusMessage ?? '' });
  } catch {
    // A reason phrase the Fetch API rejects is not worth failing for.
    response = new Response(payload, init);
  }
  Object.defineProperty(response, 'url', { value: url.href });
  return response;
}

export function createOutboundFetch(options: OutboundFetchOptions = {}): OutboundFetch {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxResponseBytes must be a non-negative integer');
  const allowPrivate = options.allowPrivateNetworks === true;
  const resolveName = options.resolve ?? systemResolve;

  // A private agent: no keep-alive (these requests are rare, and a pooled socket must not
  // outlive the check that allowed it), and not shared with other code whose sockets the
  // global agent could hand to us.
  const agent = new Agent({ keepAlive: false, ...(options.ca ? { ca: options.ca } : {}) });

  // Called by net.connect for host names (never for IP literals, checked beforehand). The
  // socket connects to exactly the addresses returned here.
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolveName(hostname, familyOf(lookupOptions)).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
          return;
        }
        // One bad address refuses the whole name: a mix of public and private answers is
        // exactly what a rebinding or split-horizon trick looks like.
        const bad = allowPrivate ? undefined : addresses.find(({ address }) => !isPublicAddress(address));
        if (bad) {
          callback(refused(hostname, bad.address, classifyAddress(bad.address)), []);
        } else if (lookupOptions.all) {
          callback(null, addresses);
        } else {
          callback(null, addresses[0]!.address, addresses[0]!.family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, []),
    );
  };

  return async function outboundFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    if (typeof Request !== 'undefined' && input instanceof Request) {
      throw new OutboundFetchError('ERR_OUTBOUND_URL', 'pass the URL as a string, not a Request');
    }
    let url: URL;
    try {
      url = new URL(String(input));
    } catch {
      throw new OutboundFetchError('ERR_OUTBOUND_URL', 'not an absolute URL');
    }
    if (url.protocol !== 'https:') throw new OutboundFetchError('ERR_OUTBOUND_URL', `refusing ${url.protocol} URL: only https is allowed`);
    if (url.username || url.password) throw new OutboundFetchError('ERR_OUTBOUND_URL', 'refusing a URL with credentials');

    // WHATWG URL has already normalised IPv4 shorthands (https://2130706433/, 0x7f.1) to a
    // dotted quad and IPv6 to its bracketed canonical form.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(host) && !allowPrivate) {
      const kind = classifyAddress(host);
      if (kind !== 'public') throw refused(host, host, kind);
    }

    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    const body = encodeBody(init.body, headers);
    const outgoing: OutgoingHttpHeaders = {};
    headers.forEach((value, name) => {
      if (!DROPPED_REQUEST_HEADERS.has(name)) outgoing[name] = value;
    });
    // Compressed bodies are not decoded here (a decompression bomb would slip past the
    // byte cap), so ask for none and refuse any that comes anyway.
    outgoing['accept-encoding'] = 'identity';
    if (body) outgoing['content-length'] = body.length;
    const returnRedirects = init.redirect === 'manual';
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();

    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        cleanup();
        req.destroy();
        reject(error);
      };
      const onAbort = () => fail(signal?.reason ?? new DOMException('This operation was aborted', 'AbortError'));
      // One deadline for everything: lookup, connect, TLS, headers and the whole body.
      const timer = setTimeout(() => fail(new OutboundFetchError('ERR_OUTBOUND_TIMEOUT', `no complete response from ${url.host} within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });

      let req: ClientRequest;
      try {
        req = httpsRequest({
          protocol: 'https:',
          hostname: host,
          port: url.port || 443,
          path: `${url.pathname}${url.search}`,
          method,
          headers: outgoing,
          agent,
          lookup,
        });
      } catch (error) {
        // e.g. a header value Node refuses to send.
        settled = true;
        cleanup();
        reject(error);
        return;
      }
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && !returnRedirects) {
          fail(new OutboundFetchError('ERR_OUTBOUND_REDIRECT', `${url.host} answered ${status}; redirects are not followed`));
          return;
        }
        if (status < 200 || status > 599) {
          fail(new OutboundFetchError('ERR_OUTBOUND_RESPONSE', `unexpected status ${status}`));
          return;
        }
        const encoding = res.headers['content-encoding'];
        if (encoding && encoding.trim().toLowerCase() !== 'identity') {
          fail(new OutboundFetchError('ERR_OUTBOUND_RESPONSE', `unsupported content-encoding ${encoding}`));
          return;
        }
        const tooLarge = () => new OutboundFetchError('ERR_OUTBOUND_TOO_LARGE', `response from ${url.host} is larger than ${maxBytes} bytes`);
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          fail(tooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxBytes) fail(tooLarge());
          else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(new OutboundFetchError('ERR_OUTBOUND_RESPONSE', `connection to ${url.host} closed before the response was complete`));
        });
        res.on('end', () => {
          if (settled) return;
          try {
            const response = buildResponse(res, method, Buffer.concat(chunks), url);
            settled = true;
            cleanup();
            resolve(response);
          } catch {
            fail(new OutboundFetchError('ERR_OUTBOUND_RESPONSE', `malformed response from ${url.host}`));
          }
        });
      });
      req.end(body);
    });
  };
}
