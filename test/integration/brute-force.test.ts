// Checklist F5 (account brute force), F6 (credential stuffing per IP), I8 (counters shared
// by instances) and K1 (sign-in events in the audit trail), driven through the real
// login form over HTTP.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { formAction, inputValue, type Hop } from '../helpers/browser.js';
import { authRequest, Browser, createUser, registerClient, relyingParty, PASSWORD, REDIRECT_URI, type RegisteredClient } from '../helpers/oidc.js';

const WRONG = 'not the password at all';
const UA = 'brute-force-test/1.0';

interface Attempt {
  status: number;
  retryAfter: string | null;
  body: string;
  location: string | undefined;
}

/** A login page for a fresh authorization request, in a fresh browser. */
async function loginPage(app: TestApp, client: RegisteredClient, headers: Record<string, string> = {}): Promise<{ browser: Browser; page: Hop }> {
  const browser = new Browser();
  const request = await authRequest(await relyingParty(app, client));
  let hop = await browser.request(request.url.toString(), { headers });
  while (hop.location?.startsWith(app.issuer)) hop = await browser.request(hop.location, { headers });
  expect(hop.status).toBe(200);
  return { browser, page: hop };
}

async function attempt(app: TestApp, browser: Browser, page: Hop, login: string, password: string, headers: Record<string, string> = {}): Promise<Attempt> {
  const hop = await browser.request(new URL(formAction(page.body, '/login'), app.issuer).toString(), {
    form: { csrf: inputValue(page.body, 'csrf'), login, password },
    headers: { 'user-agent': UA, ...headers },
  });
  return { status: hop.status, retryAfter: hop.headers.get('retry-after'), body: hop.body, location: hop.location };
}

/** Signs in with the right password from a fresh browser; true when the flow went on past the login form. */
async function signsIn(app: TestApp, client: RegisteredClient, login: string, headers: Record<string, string> = {}): Promise<Attempt> {
  const { browser, page } = await loginPage(app, client, headers);
  return attempt(app, browser, page, login, PASSWORD, headers);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The page without what legitimately differs: the nonce, the csrf token, the interaction id and the echoed name. */
function normalise(body: string, page: Hop, login: string): string {
  const nonce = /nonce="([^"]+)"/.exec(body)?.[1];
  let text = body.split(inputValue(page.body, 'csrf')).join('{csrf}');
  const uid = /\/interaction\/([^/]+)\/login/.exec(page.body)?.[1];
  if (uid) text = text.split(uid).join('{uid}');
  if (nonce) text = text.split(nonce).join('{nonce}');
  return text.split(login).join('{login}');
}

describe('F5 repeated failures lock an account name for a growing, bounded time', () => {
  let app: TestApp;
  let client: RegisteredClient;

  beforeAll(async () => {
    app = await startApp({ env: { LOGIN_LOCKOUT_THRESHOLD: '5', LOGIN_LOCKOUT_SECONDS: '2', LOGIN_LOCKOUT_MAX_SECONDS: '4' } });
    client = await registerClient(app);
  });
  afterAll(() => app.destroy());

  test('when a name fails 5 times, then the right password is refused with 429 and Retry-After until the lock passes, then works', async () => {
    const user = await createUser(app);
    const { browser, page } = await loginPage(app, client);
    for (let i = 0; i < 5; i += 1) {
      const failed = await attempt(app, browser, page, user.email, WRONG);
      expect(failed.status).toBe(400);
      expect(failed.body).toContain('The email, username or password is incorrect.');
    }
    const locked = await attempt(app, browser, page, user.email, PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(2);
    expect(locked.body).toContain('Too many failed sign-in attempts');
    expect(locked.location).toBeUndefined();
    // Case and surrounding space make no new name.
    expect((await attempt(app, browser, page, `  ${user.email.toUpperCase()} `, PASSWORD)).status).toBe(429);

    await sleep(2200);
    const after = await attempt(app, browser, page, user.email, PASSWORD);
    expect(after.status).toBe(303);
  });

  test('when failures go on after a lock has passed, then each new lock is longer, up to the maximum', async () => {
    const user = await createUser(app);
    const { browser, page } = await loginPage(app, client);
    for (let i = 0; i < 5; i += 1) await attempt(app, browser, page, user.email, WRONG);
    expect(Number((await attempt(app, browser, page, user.email, PASSWORD)).retryAfter)).toBeLessThanOrEqual(2);
    await sleep(2200);
    expect((await attempt(app, browser, page, user.email, WRONG)).status).toBe(400);
    const second = await attempt(app, browser, page, user.email, PASSWORD);
    expect(second.status).toBe(429);
    expect(Number(second.retryAfter)).toBeGreaterThan(2);
    expect(Number(second.retryAfter)).toBeLessThanOrEqual(4);
  });

  test('when a successful sign-in follows some failures, then the count starts over', async () => {
    const user = await createUser(app);
    const { browser, page } = await loginPage(app, client);
    for (let i = 0; i < 4; i += 1) await attempt(app, browser, page, user.email, WRONG);
    expect((await signsIn(app, client, user.email)).status).toBe(303);
    const again = await loginPage(app, client);
    for (let i = 0; i < 4; i += 1) expect((await attempt(app, again.browser, again.page, user.email, WRONG)).status).toBe(400);
    expect((await attempt(app, again.browser, again.page, user.email, PASSWORD)).status).toBe(303);
  });

  test('when 30 wrong passwords for one account arrive at once, then at most 6 are checked and the rest are refused with 429 before any hashing', async () => {
    const user = await createUser(app);
    const sessions = await Promise.all(Array.from({ length: 3 }, () => loginPage(app, client)));
    const attempts = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(app, sessions[i % 3]!.browser, sessions[i % 3]!.page, user.email, WRONG)));
    const checked = attempts.filter((answer) => answer.status === 400).length;
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(checked).toBeLessThanOrEqual(6);
    expect(attempts.filter((answer) => answer.status === 429)).toHaveLength(30 - checked);
  });

  test('when failures alternate between a user\'s email and username, then they add up to one lock for both', async () => {
    const user = await createUser(app, { username: `alternating${Date.now()}` });
    const { browser, page } = await loginPage(app, client);
    for (let i = 0; i < 5; i += 1) expect((await attempt(app, browser, page, i % 2 ? user.username! : user.email, WRONG)).status).toBe(400);
    expect((await attempt(app, browser, page, user.username!, PASSWORD)).status).toBe(429);
    expect((await attempt(app, browser, page, user.email, PASSWORD)).status).toBe(429);
  });

  test('when an existing and an unknown name are locked, then the answers are identical: nothing tells which exists', async () => {
    const user = await createUser(app);
    const unknown = `nobody.${Date.now()}@example.com`;
    const answers = [];
    for (const login of [user.email, unknown]) {
      const { browser, page } = await loginPage(app, client);
      for (let i = 0; i < 5; i += 1) await attempt(app, browser, page, login, WRONG);
      const locked = await attempt(app, browser, page, login, PASSWORD);
      answers.push({ status: locked.status, retryAfter: locked.retryAfter, body: normalise(locked.body, page, login) });
    }
    expect(answers[0]!.status).toBe(429);
    expect(answers[1]).toEqual(answers[0]);
  });

  test('when an admin unlocks a locked user, then the right password works at once, and the audit trail shows failures, lock and unlock with IP and user agent', async () => {
    const user = await createUser(app);
    const { browser, page } = await loginPage(app, client);
    for (let i = 0; i < 5; i += 1) await attempt(app, browser, page, user.email, WRONG);
    expect((await attempt(app, browser, page, user.email, PASSWORD)).status).toBe(429);

    const token = await adminToken(app);
    const status = await adminRequest(app, token, 'GET', `/users/${user.id}/lockout`);
    expect(status.status).toBe(200);
    expect(status.body.locked).toBe(true);
    expect(status.body.retry_after).toBeGreaterThan(0);
    const unlocked = await adminRequest(app, token, 'POST', `/users/${user.id}/unlock`);
    expect(unlocked.status).toBe(200);
    expect(unlocked.body).toEqual({ locked: false, retry_after: null });
    expect((await attempt(app, browser, page, user.email, PASSWORD)).status).toBe(303);

    const events = await adminRequest(app, token, 'GET', `/audit-events?target_id=${user.id}&limit=50`);
    const actions = (events.body.items as Array<{ action: string; actor: { type: string; ip: string | null; user_agent: string | null } }>);
    const byAction = (action: string) => actions.filter((event) => event.action === action);
    expect(byAction('login.failure')).toHaveLength(5);
    expect(byAction('login.locked')).toHaveLength(1);
    expect(byAction('login.refused')).toHaveLength(1);
    expect(byAction('user.unlock')).toHaveLength(1);
    expect(byAction('login.success')).toHaveLength(1);
    for (const event of [...byAction('login.failure'), ...byAction('login.locked'), ...byAction('login.success')]) {
      expect(event.actor.ip).toMatch(/127\.0\.0\.1/);
      expect(event.actor.user_agent).toBe(UA);
    }
    expect(byAction('login.failure')[0]!.actor.type).toBe('anonymous');
    expect(byAction('login.success')[0]!.actor.type).toBe('user');
    // Nothing typed into the form is recorded.
    expect(JSON.stringify(events.body)).not.toContain(WRONG);
  });
});

describe('F6 many names from one address: the address is refused, other addresses are not', () => {
  let app: TestApp;
  let client: RegisteredClient;

  beforeAll(async () => {
    // Requests come "through" a proxy on 127.0.0.1, so each test picks its client address.
    app = await startApp({ env: { LOGIN_IP_FAILURE_LIMIT: '10', TRUST_PROXY: 'true', TRUSTED_PROXIES: '127.0.0.1,::1' } });
    client = await registerClient(app);
  });
  afterAll(() => app.destroy());

  test('when the names are tried from ever new addresses of one IPv6 /64, then they count as one network', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i += 1) {
      const from = { 'x-forwarded-for': `2001:db8:5:7::${(i + 1).toString(16)}` };
      const { browser, page } = await loginPage(app, client, from);
      statuses.push((await attempt(app, browser, page, `v6victim${i}@example.com`, WRONG, from)).status);
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(statuses[10]).toBe(429);
  });

  test('when one address tries 12 different names, then it gets 429 before the 12th, and a user at another address still signs in', async () => {
    const stuffer = { 'x-forwarded-for': '203.0.113.7' };
    const { browser, page } = await loginPage(app, client, stuffer);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i += 1) statuses.push((await attempt(app, browser, page, `victim${i}@example.com`, WRONG, stuffer)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(statuses.slice(10)).toEqual([429, 429]);

    const user = await createUser(app);
    // Even the right password of a real account is refused from that address…
    expect((await attempt(app, browser, page, user.email, PASSWORD, stuffer)).status).toBe(429);
    // …but not from another one.
    expect((await signsIn(app, client, user.email, { 'x-forwarded-for': '198.51.100.20' })).status).toBe(303);
  });
});

(usingPostgres ? describe : describe.skip)('I8 lockout counters are shared by instances (PostgreSQL)', () => {
  let a: TestApp;
  let b: TestApp;
  let client: RegisteredClient;

  beforeAll(async () => {
    const env = { LOGIN_LOCKOUT_THRESHOLD: '6', LOGIN_LOCKOUT_SECONDS: '60' };
    a = await startApp({ env });
    b = await startApp({ env, shareStoreWith: a });
    client = await registerClient(a);
  });
  afterAll(async () => {
    await b.stop();
    await a.destroy();
  });

  test('when failures alternate between two instances, then the name locks at the threshold on both', async () => {
    const user = await createUser(a);
    const onA = await loginPage(a, client);
    const onB = await loginPage(b, client);
    for (let i = 0; i < 6; i += 1) {
      const [app, session] = i % 2 === 0 ? [a, onA] : [b, onB];
      expect((await attempt(app, session.browser, session.page, user.email, WRONG)).status).toBe(400);
    }
    expect((await attempt(a, onA.browser, onA.page, user.email, PASSWORD)).status).toBe(429);
    expect((await attempt(b, onB.browser, onB.page, user.email, PASSWORD)).status).toBe(429);
    expect(REDIRECT_URI).toBeTruthy();
  });
});
