// Checklist C5: the fetch oidc-provider uses for client-chosen URLs (jwks_uri,
// sector_identifier_uri, backchannel_logout_uri). The address classifier is checked on a
// table; the fetch itself against local servers: plain TCP listeners that count every
// connection (to prove a refusal happens before connecting), and https servers with a
// certificate made here with the openssl CLI (trusted through the factory's test-only
// `ca` option; verification stays on).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DEFAULT_TIMEOUT_MS, FETCH_BODY_LIMITS, classifyAddress, createOutboundFetch, isPublicAddress, OutboundFetchError,
  type AddressClass, type OutboundFetchErrorCode,
} from '../../src/oidc/outbound-fetch.js';
import { listen, tcpTarpit, type Listener } from '../helpers/listeners.js';

// ---------------------------------------------------------------------------------------
describe('classifyAddress', () => {
  const table: Array<[string, AddressClass]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'cloud-metadata'],
    ['168.63.129.16', 'cloud-metadata'],
    ['100.100.100.200', 'cloud-metadata'],
    ['169.254.1.1', 'link-local'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.255', 'carrier-grade-nat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'cloud-metadata'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'cloud-metadata'],
    ['::ffff:0:0', 'unspecified'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'cloud-metadata'],
    ['64:ff9b:1::1', 'ipv4-translation'],
    ['2002:7f00:1::1', 'ipv4-translation'],
    ['2001::1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['not an address', 'invalid'],
    ['', 'invalid'],
    ['127.1', 'invalid'],
    ['0x7f.0.0.1', 'invalid'],
    ['localhost', 'invalid'],
  ];
  test.each(table)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
    expect(isPublicAddress(address)).toBe(false);
  });

  test.each([
    '93.184.216.34', '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '11.0.0.1', '223.255.255.255',
    '2606:4700::1', '2a00:1450:4001:80b::200e', '2001:4860:4860::8888', '::ffff:93.184.216.34', '64:ff9b::5db8:d822',
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBe('public');
    expect(isPublicAddress(address)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// Local servers

let certDir: string;
let cert: Buffer;
let key: Buffer;

beforeAll(() => {
  certDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-outbound-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,DNS:jwks.gatehouse.test,IP:127.0.0.1',
    '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(path.join(certDir, 'cert.pem'));
  key = readFileSync(path.join(certDir, 'key.pem'));
});

afterAll(() => {
  rmSync(certDir, { recursive: true, force: true });
});

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A listener closed after the test. */
function track(listener: Listener): Listener {
  servers.push(listener);
  return listener;
}

/** Accepts TCP connections and never says a word: a tarpit, and a connection counter. */
async function tcpServer(host = '::'): Promise<Listener> {
  return track(await tcpTarpit(host));
}

async function httpsServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listener> {
  return track(await listen(createHttpsServer({ cert, key }, handler), '127.0.0.1'));
}

async function expectFailure(promise: Promise<unknown>, code: OutboundFetchErrorCode): Promise<OutboundFetchError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(OutboundFetchError);
  expect((error as OutboundFetchError).code).toBe(code);
  return error as OutboundFetchError;
}

async function timed<T>(run: () => Promise<T>): Promise<{ result: T | undefined; error: unknown; ms: number }> {
  const start = performance.now();
  try {
    const result = await run();
    return { result, error: undefined, ms: performance.now() - start };
  } catch (error) {
    return { result: undefined, error, ms: performance.now() - start };
  }
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

// ---------------------------------------------------------------------------------------
describe('createOutboundFetch: what is refused before any connection', () => {
  const strict = createOutboundFetch();

  test('the defaults: a 5 s deadline and finite body caps for every purpose oidc-provider knows', () => {
    expect(DEFAULT_TIMEOUT_MS).toBeLessThanOrEqual(5000);
    expect(Object.keys(FETCH_BODY_LIMITS).sort()).toEqual(['client_id metadata document', 'jwks_uri', 'sector_identifier_uri']);
    for (const limit of Object.values(FETCH_BODY_LIMITS)) expect(Number.isSafeInteger(limit)).toBe(true);
    expect(FETCH_BODY_LIMITS.jwks_uri).toBeLessThanOrEqual(64 * 1024);
  });

  test('when the URL is http:, then it is refused, even with private networks allowed, and nothing connects', async () => {
    const server = await tcpServer('127.0.0.1');
    await expectFailure(strict(`http://127.0.0.1:${server.port}/jwks`), 'ERR_OUTBOUND_URL');
    await expectFailure(createOutboundFetch({ allowPrivateNetworks: true })(`http://127.0.0.1:${server.port}/jwks`), 'ERR_OUTBOUND_URL');
    await expectFailure(strict('ftp://example.com/jwks'), 'ERR_OUTBOUND_URL');
    await expectFailure(strict('https://user:pw@example.com/jwks'), 'ERR_OUTBOUND_URL');
    expect(server.connections).toBe(0);
  });

  test('when the host name resolves to loopback (https://localhost:<port>/), then it is refused and the listener sees no connection', async () => {
    const server = await tcpServer();
    const error = await expectFailure(strict(`https://localhost:${server.port}/jwks`), 'ERR_OUTBOUND_ADDRESS');
    expect(error.message).toMatch(/loopback/);
    expect(server.connections).toBe(0);
  });

  test('when the URL holds a literal internal IP in any spelling, then it is refused and nothing connects', async () => {
    const server = await tcpServer();
    const urls = [
      `https://127.0.0.1:${server.port}/`,
      `https://[::1]:${server.port}/`,
      `https://[::ffff:127.0.0.1]:${server.port}/`,
      `https://[::ffff:7f00:1]:${server.port}/`,
      `https://2130706433:${server.port}/`, // 127.0.0.1 as one number
      `https://0x7f.1:${server.port}/`,
      `https://0.0.0.0:${server.port}/`,
      `https://[::]:${server.port}/`,
    ];
    for (const url of urls) await expectFailure(strict(url), 'ERR_OUTBOUND_ADDRESS');
    expect(server.connections).toBe(0);
  });

  test('when the URL is the cloud metadata address, then it is refused at once, without touching the network', async () => {
    for (const url of ['https://169.254.169.254/latest/meta-data/', 'https://[fd00:ec2::254]/', 'https://10.0.0.1/jwks', 'https://[fe80::1]/', 'https://100.64.0.1/']) {
      const { error, ms } = await timed(() => strict(url));
      expect(error).toBeInstanceOf(OutboundFetchError);
      expect((error as OutboundFetchError).code).toBe('ERR_OUTBOUND_ADDRESS');
      expect(ms).toBeLessThan(200);
    }
  });

  test('when a name resolves to an internal address, or to a mix of public and internal ones, then it is refused', async () => {
    const answers: Record<string, Array<{ address: string; family: number }>> = {
      'metadata.example.test': [{ address: '169.254.169.254', family: 4 }],
      'mixed.example.test': [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.1', family: 4 }],
      'v6.example.test': [{ address: '::ffff:192.168.0.1', family: 6 }],
    };
    const lookups: string[] = [];
    const fetcher = createOutboundFetch({
      resolve: async (hostname) => {
        lookups.push(hostname);
        return answers[hostname] ?? [];
      },
    });
    for (const host of Object.keys(answers)) {
      const error = await expectFailure(fetcher(`https://${host}/jwks`), 'ERR_OUTBOUND_ADDRESS');
      expect(error.message).toContain(host);
    }
    expect(lookups.sort()).toEqual(Object.keys(answers).sort());
  });

  test('when the signal is already aborted, then nothing connects', async () => {
    const server = await tcpServer('127.0.0.1');
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true });
    const controller = new AbortController();
    controller.abort();
    await expect(fetcher(`https://127.0.0.1:${server.port}/`, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.connections).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------
describe('createOutboundFetch: talking to a server (private networks allowed for the test)', () => {
  test('when a name is resolved, then the socket goes to the address that was checked, with TLS verified for the name', async () => {
    const seen: Array<{ host?: string; ua?: string; accept?: string }> = [];
    const server = await httpsServer((req, res) => {
      seen.push({ host: req.headers.host, ua: req.headers['user-agent'], accept: req.headers['accept-encoding'] });
      json(res, 200, { keys: [] }, { 'cache-control': 'max-age=300' });
    });
    let lookups = 0;
    const fetcher = createOutboundFetch({
      allowPrivateNetworks: true,
      ca: cert,
      resolve: async () => {
        lookups += 1;
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const url = `https://jwks.gatehouse.test:${server.port}/jwks?x=1`;
    // oidc-provider sends a Headers instance with an empty user-agent.
    const response = await fetcher(url, { method: 'GET', headers: new Headers({ accept: 'application/json', 'user-agent': '' }) });
    expect(response.status).toBe(200);
    expect(response.ok).toBe(true);
    expect(response.url).toBe(url);
    expect(response.headers.get('cache-control')).toBe('max-age=300');
    expect(await response.json()).toEqual({ keys: [] });
    expect(lookups).toBe(1);
    expect(seen).toEqual([{ host: `jwks.gatehouse.test:${server.port}`, ua: '', accept: 'identity' }]);
  });

  test('when the server certificate is not trusted, then the request fails (verification is on)', async () => {
    const server = await httpsServer((_req, res) => json(res, 200, { keys: [] }));
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true });
    await expect(fetcher(`https://127.0.0.1:${server.port}/`)).rejects.toThrow(/self[- ]signed|certificate/i);
  });

  test('when the certificate does not name the host, then the request fails', async () => {
    const server = await httpsServer((_req, res) => json(res, 200, { keys: [] }));
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert, resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    await expect(fetcher(`https://other.gatehouse.test:${server.port}/`)).rejects.toThrow(/altnames|hostname|certificate/i);
  });

  test('when a back-channel logout is POSTed and answered 204, then the form body arrives and a bodiless Response comes back', async () => {
    let received = '';
    let contentType: string | undefined;
    const server = await httpsServer((req, res) => {
      contentType = req.headers['content-type'];
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => { received += chunk; });
      req.on('end', () => { res.writeHead(204); res.end(); });
    });
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert });
    const response = await fetcher(`https://127.0.0.1:${server.port}/bcl`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: 'a.b.c' }),
    });
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
    expect(received).toBe('logout_token=a.b.c');
    expect(contentType).toBe('application/x-www-form-urlencoded');
  });

  test('when the server answers 302 to an internal host, then the redirect is not followed', async () => {
    const internal = await tcpServer('127.0.0.1');
    const server = await httpsServer((_req, res) => {
      res.writeHead(302, { location: `https://127.0.0.1:${internal.port}/secret` });
      res.end();
    });
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert });
    const url = `https://127.0.0.1:${server.port}/jwks`;
    // The default mode ('follow', what oidc-provider uses for jwks_uri) and 'error' fail…
    await expectFailure(fetcher(url), 'ERR_OUTBOUND_REDIRECT');
    await expectFailure(fetcher(url, { redirect: 'error' }), 'ERR_OUTBOUND_REDIRECT');
    // …and 'manual' (back-channel logout) gets the 3xx itself, which oidc-provider treats as a failure.
    const response = await fetcher(url, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`https://127.0.0.1:${internal.port}/secret`);
    expect(internal.connections).toBe(0);
  });

  test('when the server accepts and never answers (a tarpit), then the request ends at the deadline', async () => {
    const tarpit = await tcpServer('127.0.0.1');
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert, timeoutMs: 400 });
    const { error, ms } = await timed(() => fetcher(`https://127.0.0.1:${tarpit.port}/jwks`));
    expect(error).toBeInstanceOf(OutboundFetchError);
    expect((error as OutboundFetchError).code).toBe('ERR_OUTBOUND_TIMEOUT');
    expect(tarpit.connections).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(350);
    expect(ms).toBeLessThan(400 + 500);
  });

  test('when the server sends headers and then drips the body, then the deadline still ends the request', async () => {
    const server = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
      const drip = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(drip));
    });
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert, timeoutMs: 500 });
    const { error, ms } = await timed(() => fetcher(`https://127.0.0.1:${server.port}/jwks`));
    expect((error as OutboundFetchError).code).toBe('ERR_OUTBOUND_TIMEOUT');
    expect(ms).toBeLessThan(500 + 500);
  });

  test('with the default deadline, a tarpit is given up on within 5 s', async () => {
    const tarpit = await tcpServer('127.0.0.1');
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert });
    const { error, ms } = await timed(() => fetcher(`https://127.0.0.1:${tarpit.port}/jwks`));
    expect((error as OutboundFetchError).code).toBe('ERR_OUTBOUND_TIMEOUT');
    expect(ms).toBeLessThan(5000 + 500);
  }, 10_000);

  test('when the caller aborts (oidc-provider passes its own 2.5 s signal), then the request ends at once', async () => {
    const tarpit = await tcpServer('127.0.0.1');
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert });
    const { error, ms } = await timed(() => fetcher(`https://127.0.0.1:${tarpit.port}/jwks`, { signal: AbortSignal.timeout(200) }));
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(ms).toBeLessThan(200 + 500);
  });

  test('when the body is larger than the cap, with or without Content-Length, then it is cut off with an error', async () => {
    const big = Buffer.alloc(100 * 1024, 0x20);
    const withLength = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) });
      res.end(big);
    });
    const chunked = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // Endless: only the cap can stop it before the deadline.
      const pump = () => {
        while (res.write(big.subarray(0, 16 * 1024))) { /* fill the buffer */ }
      };
      res.on('drain', pump);
      res.on('close', () => res.off('drain', pump));
      pump();
    });
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert, maxResponseBytes: 64 * 1024 });
    await expectFailure(fetcher(`https://127.0.0.1:${withLength.port}/`), 'ERR_OUTBOUND_TOO_LARGE');
    const { error, ms } = await timed(() => fetcher(`https://127.0.0.1:${chunked.port}/`));
    expect((error as OutboundFetchError).code).toBe('ERR_OUTBOUND_TOO_LARGE');
    expect(ms).toBeLessThan(DEFAULT_TIMEOUT_MS);
    // Under the cap is fine.
    const small = await httpsServer((_req, res) => json(res, 200, { keys: [] }));
    expect((await fetcher(`https://127.0.0.1:${small.port}/`)).status).toBe(200);
  });

  test('when the body is compressed despite Accept-Encoding: identity, then it is refused (no decompression bombs)', async () => {
    const server = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(Buffer.from([0x1f, 0x8b]));
    });
    const fetcher = createOutboundFetch({ allowPrivateNetworks: true, ca: cert });
    await expectFailure(fetcher(`https://127.0.0.1:${server.port}/`), 'ERR_OUTBOUND_RESPONSE');
  });
});
