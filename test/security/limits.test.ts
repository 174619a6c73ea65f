// Checklist I2, I3, I4 and I7 (with R9/R10 of section 4), for what other suites do not
// already cover. Covered elsewhere, not repeated here: a 100 KB body at the token,
// introspection and revocation endpoints (protocol/token-endpoint.test.ts), 64 KiB+ admin
// bodies and admin JSON/__proto__ bodies (admin/security.test.ts), oversized and malformed
// login form posts and a 2 MB password (protocol/passwords-and-login.test.ts), oversized
// and malformed authorization requests (protocol/authorization-endpoint.test.ts).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Adapter } from 'oidc-provider';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { adminToken, createAdminClient, type AdminCredentials } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue } from '../helpers/browser.js';
import { basicHeader } from '../helpers/http.js';
import { UNUSED_REGISTRATION, authRequest, createUser, registerClient, relyingParty } from '../helpers/oidc.js';

const LIMITS = {
  REGISTRATION_RATE_LIMIT: '100000',
  PASSWORD_RESET_RATE_LIMIT: '100000',
  ADMIN_RATE_LIMIT: '100000',
  ADMIN_IP_RATE_LIMIT: '100000',
};

let app: TestApp;
let service: AdminCredentials;
let admin: string;

beforeAll(async () => {
  app = await startApp({ env: { ...LIMITS, PURGE_INTERVAL: '1' } });
  service = await createAdminClient(app, 'none');
  admin = await adminToken(app);
});
afterAll(async () => {
  await app?.destroy();
});

interface Answer {
  status: number;
  ms: number;
  text: string;
}

async function send(path: string, init: { method?: string; body?: string | Buffer; contentType?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.contentType) headers['content-type'] = init.contentType;
  const started = performance.now();
  const response = await fetch(`${app.origin}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body), redirect: 'manual' });
  const text = await response.text();
  return { status: response.status, ms: performance.now() - started, text };
}

const show = (label: string, answer: Answer) => `${label}: ${answer.status} ${answer.text.slice(0, 120)}`;

/** Endpoints that take a body, each with the credentials that let a request reach its parser. */
function endpoints(): Array<{ name: string; path: string; headers: Record<string, string> }> {
  const basic = { authorization: basicHeader(service.clientId, service.clientSecret) };
  return [
    { name: 'token', path: '/token', headers: basic },
    { name: 'introspection', path: '/token/introspection', headers: basic },
    { name: 'registration', path: '/reg', headers: {} },
    { name: 'admin users', path: '/admin/users', headers: { authorization: `Bearer ${admin}` } },
    { name: 'login form', path: '/interaction/x/login', headers: {} },
    { name: 'forgot password', path: '/password/forgot', headers: {} },
  ];
}

describe('I2 size limits: URL, headers and bodies', () => {
  test.each(['/.well-known/openid-configuration', '/jwks', '/token', '/admin/users', '/healthz', '/interaction/x'])(
    'when the URL of %s is 100 KB, then 414 or 431 (never a 2xx or 5xx)',
    async (path) => {
      const answer = await send(`${path}?q=${'a'.repeat(100 * 1024)}`);
      expect([414, 431]).toContain(answer.status);
    },
  );

  test('when a request carries 20 KB of headers, then 431, and the next request is served normally', async () => {
    const answer = await send('/.well-known/openid-configuration', { headers: { 'x-filler': 'a'.repeat(20 * 1024) } });
    expect(answer.status).toBe(431);
    expect((await send('/.well-known/openid-configuration')).status).toBe(200);
  });

  test('when an 8 KB cookie reaches the pages and endpoints, then never a 5xx; a 10 KB URL gets 414', async () => {
    const cookie = `_session=${'a'.repeat(8 * 1024)}`;
    for (const path of ['/interaction/x', '/session/end', '/password/forgot', '/.well-known/openid-configuration']) {
      const withCookie = await send(path, { headers: { cookie } });
      expect(show(path, withCookie)).toMatch(/^\/[^:]*: [234]\d\d /);
      const longUrl = await send(`${path}?q=${'a'.repeat(10 * 1024)}`);
      expect(show(path, longUrl)).toMatch(/^\/[^:]*: 414 /);
    }
    // Just under the limit is served as usual.
    const justUnder = await send(`/.well-known/openid-configuration?q=${'a'.repeat(8 * 1024 - 64)}`);
    expect(justUnder.status).toBe(200);
  });

  test.each([
    ['registration (JSON)', '/reg', 'application/json', () => JSON.stringify({ redirect_uris: ['https://rp.example/cb'], client_name: 'x'.repeat(200 * 1024) })],
    ['forgot password (form)', '/password/forgot', 'application/x-www-form-urlencoded', () => `email=${'a'.repeat(200 * 1024)}%40example.com`],
    ['token (JSON)', '/token', 'application/json', () => JSON.stringify({ grant_type: 'client_credentials', padding: 'x'.repeat(200 * 1024) })],
  ])('when the %s body is 200 KB, then 413 (or 400), never a 5xx', async (_name, path, contentType, body) => {
    const answer = await send(path, { body: body(), contentType });
    expect(show(path, answer)).toMatch(/^\/[^:]*: 4(13|00|15) /);
  });

  test('when the admin API gets a 10 MB body, then 413 in under a second', async () => {
    const answer = await send('/admin/users', { body: JSON.stringify({ email: 'big@example.com', claims: { x: 'x'.repeat(10 * 1024 * 1024) } }), contentType: 'application/json', headers: { authorization: `Bearer ${admin}` } });
    expect(answer.status).toBe(413);
    expect(answer.ms).toBeLessThan(1_000);
  });
});

describe('I3/R9 malformed input: a fuzz corpus on every body endpoint', () => {
  const deepJson = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
  const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
  const invalidUtf8 = (prefix: string, suffix: string) => Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from(suffix)]);
  const forms: Array<[string, string | Buffer]> = [
    ['an invalid percent escape', 'grant_type=%zz&token=%zz&email=%zz&login=%zz'],
    ['a lone percent', 'grant_type=client_credentials%&token=%'],
    ['NUL bytes', 'grant_type=client%00_credentials&token=a%00b&email=a%00@example.com&client_id=%00'],
    ['invalid UTF-8', invalidUtf8('grant_type=client_credentials&token=', '&email=a@example.com')],
    ['deep bracket nesting', 'a[b][c][d]=1&grant_type[a][b]=x&token[x][y][z]=1&email[a][b][c]=x'],
    ['arrays for scalars', 'grant_type[]=client_credentials&grant_type[]=x&token[]=a&token[]=b&email[]=a@example.com'],
    ['duplicated parameters', 'grant_type=client_credentials&grant_type=client_credentials&token=a&token=b&email=a@example.com&email=b@example.com'],
    ['__proto__ keys', '__proto__[admin]=1&constructor[prototype][admin]=1&grant_type=client_credentials'],
    ['only separators', '&&==&=&'],
  ];
  const jsons: Array<[string, string | Buffer]> = [
    ['truncated JSON', '{"email":'],
    ['10k-deep arrays', deepJson],
    ['10k-deep objects', deepObject],
    ['__proto__ members', '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},"email":"p@example.com","redirect_uris":["https://rp.example/cb"]}'],
    ['invalid UTF-8', invalidUtf8('{"email":"', '@example.com"}')],
    ['a NUL in a string', '{"email":"a\\u0000@example.com","client_name":"a\\u0000b","redirect_uris":["https://rp.example/\\u0000"]}'],
    ['arrays and objects for scalars', '{"email":["a@example.com"],"client_name":{"x":1},"redirect_uris":"https://rp.example/cb","grant_types":{"0":"x"}}'],
    ['numbers for strings', '{"email":1e308,"client_name":-0,"redirect_uris":[1]}'],
    ['a bare string', '"hello"'],
    ['null', 'null'],
  ];

  /**
   * Form bodies are decoded leniently by oidc-provider: a broken escape or invalid UTF-8
   * in a value becomes an unknown token (introspection answers RFC 7662's inactive
   * result) or sits in a parameter the grant ignores (the token is issued). Those are the
   * only non-4xx answers allowed here.
   */
  const lenient = (endpoint: string, answer: Answer) =>
    answer.status === 200 && ((endpoint === 'introspection' && answer.text === '{"active":false}') || (endpoint === 'token' && answer.text.includes('"access_token"')));

  test('when the corpus is sent to each endpoint as form and JSON, then none is a 5xx, each is a 4xx or a lenient decoding, and the server still answers', async () => {
    const failures: string[] = [];
    for (const endpoint of endpoints()) {
      for (const [kind, corpus] of [['form', forms], ['json', jsons]] as const) {
        for (const [name, body] of corpus) {
          const answer = await send(endpoint.path, { body, headers: endpoint.headers, contentType: kind === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' });
          if (answer.status >= 500 || (answer.status < 400 && !lenient(endpoint.name, answer))) failures.push(show(`${endpoint.name} ${kind} ${name}`, answer));
        }
      }
    }
    expect(failures).toEqual([]);
    // Nothing leaked into the shared prototype, and the server is still up.
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect((await send('/.well-known/openid-configuration')).status).toBe(200);
    expect((await send('/healthz')).status).toBe(200);
  }, 60_000);

  test('when a 50 KB pathological value is put in each validated field, then each answer is a 4xx (inactive at introspection) within 1 s', async () => {
    const [basic] = endpoints();
    const dots = 'a.'.repeat(25 * 1024);
    const ats = '@'.repeat(50 * 1024);
    const cases: Array<[string, string, string, string, Record<string, string>]> = [
      ['token scope', '/token', 'application/x-www-form-urlencoded', new URLSearchParams({ grant_type: 'client_credentials', scope: 'a '.repeat(25 * 1024) }).toString(), basic!.headers],
      ['token resource', '/token', 'application/x-www-form-urlencoded', new URLSearchParams({ grant_type: 'client_credentials', resource: `https://${dots}` }).toString(), basic!.headers],
      ['token client_id', '/token', 'application/x-www-form-urlencoded', new URLSearchParams({ grant_type: 'client_credentials', client_id: dots, client_secret: 'x' }).toString(), {}],
      ['introspection token', '/token/introspection', 'application/x-www-form-urlencoded', new URLSearchParams({ token: dots }).toString(), basic!.headers],
      ['registration redirect_uri', '/reg', 'application/json', JSON.stringify({ redirect_uris: [`https://${dots}/cb`] }), {}],
      ['registration contacts', '/reg', 'application/json', JSON.stringify({ redirect_uris: ['https://rp.example/cb'], contacts: [`a${ats}`] }), {}],
      ['admin email', '/admin/users', 'application/json', JSON.stringify({ email: `${dots}@${dots}` }), { authorization: `Bearer ${admin}` }],
      ['admin username', '/admin/users', 'application/json', JSON.stringify({ email: 'long@example.com', username: `${'a'.repeat(50 * 1024)}!` }), { authorization: `Bearer ${admin}` }],
      ['forgot email', '/password/forgot', 'application/x-www-form-urlencoded', new URLSearchParams({ email: `${dots}${ats}` }).toString(), {}],
    ];
    const failures: string[] = [];
    for (const [name, path, contentType, body, headers] of cases) {
      const answer = await send(path, { body, contentType, headers });
      const inactive = path === '/token/introspection' && answer.status === 200 && answer.text === '{"active":false}';
      if ((!inactive && answer.status < 400) || answer.status >= 500 || answer.ms >= 1_000) failures.push(`${show(name, answer)} in ${Math.round(answer.ms)} ms`);
    }
    expect(failures).toEqual([]);
  });
});

describe('I4 password hashing is bounded under a sign-in flood', () => {
  test('when 300 sign-ins are posted at once, then each gets a refusal (400, or 503/429 past the hashing queue), never a fault, /jwks answers within 1 s meanwhile, and sign-in works afterwards', async () => {
    const client = await registerClient(app, { client_name: 'Flood', first_party: true });
    const browser = new Browser();
    const page = await browser.follow((await authRequest(await relyingParty(app, client))).url.toString(), app.issuer);
    expect(page.status).toBe(200);
    const action = new URL(formAction(page.body, '/login'), app.issuer).toString();
    const csrf = inputValue(page.body, 'csrf');
    const cookie = await browser.jar.getCookieString(action);
    const rss = process.memoryUsage().rss;

    const attempts = Array.from({ length: 300 }, async (_, i) => {
      try {
        const response = await fetch(action, {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ csrf, login: `nobody-${i}-${randomBytes(4).toString('hex')}@example.com`, password: `wrong password ${i}` }),
          redirect: 'manual',
        });
        await response.arrayBuffer();
        return response.status;
      } catch {
        return 0;
      }
    });
    // JWKS while the flood is being hashed.
    const jwksTimes: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      expect((await send('/jwks')).status).toBe(200);
      jwksTimes.push(performance.now() - started);
    }
    const statuses = await Promise.all(attempts);
    const counts = statuses.reduce<Record<number, number>>((all, status) => ({ ...all, [status]: (all[status] ?? 0) + 1 }), {});
    expect(Object.keys(counts).map(Number).filter((status) => ![400, 429, 503].includes(status))).toEqual([]);
    expect(Math.max(...jwksTimes)).toBeLessThan(1_000);
    // Memory stays bounded: 300 argon2 hashes at once would need ~5.7 GiB.
    expect(process.memoryUsage().rss - rss).toBeLessThan(1024 * 1024 * 1024);
    // And the service is still there for a real user.
    const user = await createUser(app);
    const answer = await fetch(action, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, login: user.email, password: 'correct horse battery staple' }), redirect: 'manual' });
    expect(answer.status).toBe(303);
  }, 60_000);
});

describe('I7 the periodic purge (PURGE_INTERVAL=1)', () => {
  test('when artifacts, counters and mailed tokens expire, then the purge deletes them and keeps the live ones', async () => {
    const { services } = app.app;
    const Gatehouse: new (name: string) => Adapter = createAdapterClass({ payloads: services.stores.payloads, secretBox: services.secretBox, findClient: async () => undefined, registeredClients: UNUSED_REGISTRATION });
    const grants = new Gatehouse('Grant');
    const tag = randomBytes(4).toString('hex');
    const user = await createUser(app);
    const count = async () => {
      const [payloads] = await app.db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM oidc_payloads WHERE id LIKE 'purge-${tag}-%'`);
      const [counters] = await app.db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM rate_counters WHERE key LIKE 'purge-${tag}-%'`);
      const [tokens] = await app.db.prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM user_tokens WHERE email LIKE 'purge-${tag}-%'`);
      return { payloads: Number(payloads!.n), counters: Number(counters!.n), tokens: Number(tokens!.n) };
    };
    await grants.upsert(`purge-${tag}-old`, { jti: `purge-${tag}-old`, kind: 'Grant' } as never, 1);
    await grants.upsert(`purge-${tag}-live`, { jti: `purge-${tag}-live`, kind: 'Grant' } as never, 600);
    await services.counters.hit([{ key: `purge-${tag}-old`, windowSeconds: 1 }, { key: `purge-${tag}-live`, windowSeconds: 600 }]);
    await services.stores.userTokens.replace({ userId: user.id, purpose: 'password_reset', tokenHash: `h-${tag}-old`, email: `purge-${tag}-old@example.com`, lifetimeSeconds: 1 });
    await services.stores.userTokens.replace({ userId: user.id, purpose: 'email_verification', tokenHash: `h-${tag}-live`, email: `purge-${tag}-live@example.com`, lifetimeSeconds: 600 });
    expect(await count()).toEqual({ payloads: 2, counters: 2, tokens: 2 });

    let now = await count();
    for (let i = 0; i < 40 && (now.payloads + now.counters + now.tokens) > 3; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      now = await count();
    }
    expect(now).toEqual({ payloads: 1, counters: 1, tokens: 1 });
  });
});
