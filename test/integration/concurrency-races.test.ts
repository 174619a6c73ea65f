// Checklist R15: one-time steps sent several times at once. A consent form submitted
// five times in parallel issues one authorization code and one grant; five parallel
// password changes from the same current password let exactly one through, and the
// password that works afterwards is that one's; on PostgreSQL, no deadlock is counted in
// the test database meanwhile. (Parallel code redemption and parallel refresh with one
// refresh token are B2, in test/protocol/token-endpoint.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { openAccount, postForm } from '../helpers/account.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue } from '../helpers/browser.js';
import {
  authRequest, createUser, exchange, PASSWORD, REDIRECT_URI, registerClient, relyingParty, submitLogin, type oidc,
} from '../helpers/oidc.js';
import { sleep } from '../helpers/security.js';

const PARALLEL = 5;

describe('R15 concurrency races', () => {
  let app: TestApp;
  let config: oidc.Configuration;
  let deadlocksBefore: number;

  /** Deadlocks PostgreSQL has counted in the test database, over every test app using it. */
  async function deadlocks(): Promise<number> {
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
      return Number(rows[0]?.deadlocks ?? 0);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    app = await startApp();
    config = await relyingParty(app, await registerClient(app));
    if (usingPostgres) deadlocksBefore = await deadlocks();
  });
  afterAll(async () => {
    await app?.destroy();
  });

  test(`when one consent form is submitted ${PARALLEL} times at once, then exactly one authorization code is issued and one grant stored`, async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const request = await authRequest(config);
    const login = await browser.follow(request.url.toString(), app.issuer);
    const consent = await submitLogin(browser, app, login, user.email);
    expect(consent.body).toContain('/confirm"');

    // The forms are sent at once, and then the browser follows each one's redirect back to
    // the authorization endpoint at once, which is where a code would be issued.
    const action = new URL(formAction(consent.body, '/confirm'), app.issuer).toString();
    const form = { csrf: inputValue(consent.body, 'csrf') };
    const submitted = await Promise.all(Array.from({ length: PARALLEL }, () => browser.request(action, { form })));
    expect(submitted.map((hop) => hop.status)).toEqual(Array.from({ length: PARALLEL }, () => 303));
    const answers = await Promise.all(submitted.map((hop) => browser.follow(hop.location!, app.issuer)));
    const callbacks = answers.filter((hop) => hop.location?.startsWith(REDIRECT_URI)).map((hop) => new URL(hop.location!));
    const codes = callbacks.filter((callback) => callback.searchParams.has('code'));
    expect(codes).toHaveLength(1);
    // The others end on the error page that says the sign-in expired, none on a 500.
    const others = answers.filter((hop) => !hop.location?.startsWith(REDIRECT_URI));
    expect(others).toHaveLength(PARALLEL - 1);
    for (const hop of others) {
      expect(hop.status).toBe(400);
      expect(hop.body).toContain('<html');
    }

    const tokens = await exchange(config, codes[0]!, request);
    expect(tokens.access_token).toBeTruthy();
    const grants = await app.db.prisma.oidcPayload.findMany({ where: { model: 'Grant', accountId: user.id } });
    expect(grants).toHaveLength(1);
    expect(tokens.claims()?.sub).toBe(user.id);
  });

  test(`when ${PARALLEL} password changes from the same current password run at once, then exactly one succeeds and its password is the one that works`, async () => {
    const user = await createUser(app);
    const browser = new Browser();
    const account = await openAccount(browser, app, user.email);

    const candidates = Array.from({ length: PARALLEL }, (_, i) => `${PASSWORD} number ${i}`);
    const answers = await Promise.all(
      candidates.map((password) => postForm(browser, app, account, '/account/password', { current_password: PASSWORD, new_password: password })),
    );
    const succeeded = answers.map((hop, i) => ({ hop, password: candidates[i]! })).filter(({ hop }) => hop.status === 303);
    expect(succeeded).toHaveLength(1);
    // The others checked the current password before or after the winner's change was
    // committed: "changed meanwhile" (409) or, once it was, "incorrect" (400).
    for (const hop of answers.filter((answer) => answer.status !== 303)) {
      expect([409, 400]).toContain(hop.status);
      expect(hop.body).toContain(hop.status === 409 ? 'The password was changed meanwhile' : 'The current password is incorrect');
    }

    // Only the winner's password signs in; the old one and the losers' are refused.
    const winner = succeeded[0]!.password;
    for (const password of [PASSWORD, ...candidates]) {
      const verified = await app.app.services.accounts.authenticate(user.email, password);
      expect({ password, verified: verified?.id }).toEqual({ password, verified: password === winner ? user.id : undefined });
    }
  });

  // The embedded store has one connection, so nothing there can deadlock.
  (usingPostgres ? test : test.skip)('and PostgreSQL counted no deadlock meanwhile', async () => {
    // A backend reports its counters when it ends: close the app's connections first.
    await app.stop();
    await sleep(500);
    expect(await deadlocks()).toBe(deadlocksBefore);
  });
});
