// Checklist R11: Unicode in usernames and passwords. Usernames are compared after width
// mapping, case mapping and composition (NFKC, lower case), may hold letters, digits and
// . _ + - only (so no zero-width, control or bidi-override characters) and may not mix
// scripts that look alike; passwords are compared in NFC. The sign-in form is driven over
// HTTP as a browser sends it; accounts are made through the admin API.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue } from '../helpers/browser.js';
import { authRequest, PASSWORD, REDIRECT_URI, registerClient, relyingParty, type oidc } from '../helpers/oidc.js';

const LOCKOUT_THRESHOLD = 3;

describe('R11 Unicode normalization of usernames', () => {
  let app: TestApp;
  let config: oidc.Configuration;
  let token: string;
  let counter = 0;
  /** A fresh Latin stem for each test, so tests do not collide on names. */
  const stem = () => `alice${'abcdefghij'[counter++ % 10]}${'klmnopqrst'[Math.floor(counter / 10) % 10]}`;

  beforeAll(async () => {
    app = await startApp({ env: { LOGIN_LOCKOUT_THRESHOLD: String(LOCKOUT_THRESHOLD), LOGIN_LOCKOUT_SECONDS: '60' } });
    config = await relyingParty(app, await registerClient(app, { client_name: 'Unicode RP', first_party: true }));
    token = await adminToken(app);
  });
  afterAll(async () => {
    await app?.destroy();
  });

  const createUser = (username: string, password = PASSWORD) =>
    adminRequest<{ id: string; username: string }>(app, token, 'POST', '/users', { email: `${encodeURIComponent(username).replace(/%/g, '')}.${counter}@example.com`, username, password });

  /** One sign-in attempt from a fresh browser: where the form sent it. */
  async function signIn(login: string, password: string): Promise<{ status: number; signedIn: boolean; body: string }> {
    const browser = new Browser();
    const request = await authRequest(config);
    const page = await browser.follow(request.url.toString(), app.issuer);
    const answer = await browser.follow(new URL(formAction(page.body, '/login'), app.issuer).toString(), app.issuer, {
      form: { csrf: inputValue(page.body, 'csrf'), login, password },
    });
    return { status: answer.status, signedIn: Boolean(answer.location?.startsWith(REDIRECT_URI)), body: answer.body };
  }

  test('(a) when ALICE or a fullwidth Ａlice is registered while alice exists, then the name is already taken', async () => {
    const name = stem();
    expect((await createUser(name)).status).toBe(201);
    for (const variant of [name.toUpperCase(), `Ａ${name.slice(1)}`, `${name.slice(0, -1)}${String.fromCodePoint(name.codePointAt(name.length - 1)! + 0xfee0)}`]) {
      const answer = await createUser(variant);
      expect({ variant, status: answer.status }).toEqual({ variant, status: 409 });
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  test('(b, c) when a user registered as café (NFC) with an NFC password types both in NFD, then they sign in', async () => {
    const name = `café${counter++}`;
    const password = `${PASSWORD} é`;
    const created = await createUser(name.normalize('NFC'), password.normalize('NFC'));
    expect(created.status).toBe(201);
    expect(created.body.username).toBe(name.normalize('NFC'));
    expect((await signIn(name.normalize('NFD'), password.normalize('NFD'))).signedIn).toBe(true);
    // The fullwidth and upper-case forms are the same name.
    expect((await signIn(name.toUpperCase().normalize('NFD'), password)).signedIn).toBe(true);
  });

  test('(d) when a username holds a zero-width, control, bidi-override or other invisible character, then it is refused with a problem naming the field', async () => {
    // U+034F (a combining mark) and U+3164 (the Hangul filler, a letter) show nothing either.
    for (const character of ['\u200b', '\u200d', '\u0007', '\u202e', '\u2066', '\u034f', '\u3164']) {
      const answer = await createUser(`ali${character}ce${counter++}`);
      expect({ character: character.codePointAt(0), status: answer.status }).toEqual({ character: character.codePointAt(0), status: 400 });
      expect(JSON.stringify(answer.body)).toContain('username');
    }
  });

  test('(e) when a username mixes Latin and Cyrillic or Greek look-alikes, then it is refused; one script, or Japanese with Latin, is fine', async () => {
    // ℓ is a symbol that NFKC turns into a Latin l: judged as it would be stored.
    for (const mixed of [`\u0430lice${counter++}`, `ali\u0441e${counter++}`, `\u03bfscar${counter++}`, `\u2113\u0438\u0441\u0430${counter++}`]) {
      const answer = await createUser(mixed);
      expect({ mixed, status: answer.status }).toEqual({ mixed, status: 400 });
      expect(JSON.stringify(answer.body)).toContain('scripts');
    }
    for (const fine of [`иван${'абвгд'[counter++ % 5]}`, `ελένη${counter++}`, `yamada山田${counter++}`]) {
      expect({ fine, status: (await createUser(fine)).status }).toEqual({ fine, status: 201 });
    }
  });

  test('(f) when the sign-in form carries invalid UTF-8, then 400 and no sign-in', async () => {
    const browser = new Browser();
    const request = await authRequest(config);
    const page = await browser.follow(request.url.toString(), app.issuer);
    const action = new URL(formAction(page.body, '/login'), app.issuer).toString();
    const response = await fetch(action, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: await browser.jar.getCookieString(action), 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(inputValue(page.body, 'csrf'))}&login=ali%C3%28ce&password=x`,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });

  test('and failures under case and width variants of a name count against that one name: the lock holds for every spelling', async () => {
    const name = stem();
    expect((await createUser(name)).status).toBe(201);
    const variants = [name.toUpperCase(), `Ａ${name.slice(1)}`, ` ${name} `];
    for (const variant of variants.slice(0, LOCKOUT_THRESHOLD)) {
      expect((await signIn(variant, 'not the password at all')).signedIn).toBe(false);
    }
    for (const spelling of [name, ...variants]) {
      const locked = await signIn(spelling, PASSWORD);
      expect({ spelling, status: locked.status, signedIn: locked.signedIn }).toEqual({ spelling, status: 429, signedIn: false });
    }
    // Another account is not affected.
    const other = stem();
    expect((await createUser(other)).status).toBe(201);
    expect((await signIn(other, PASSWORD)).signedIn).toBe(true);
  });
});
