// Checklist F3 and the password rules of NIST SP 800-63B: length, no composition rules,
// no common or breached password, no password built on the service's or the account's
// own name; and rehashing when the argon2 cost is raised. Through the admin API, as an
// operator (or a user resetting a password) meets them.
import argon2 from 'argon2';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { adminRequest, adminToken, problemFields } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { authRequest, Browser, createUser, PASSWORD, registerClient, relyingParty, signIn } from '../helpers/oidc.js';

let app: TestApp;
let token: string;

beforeAll(async () => {
  app = await startApp();
  token = await adminToken(app);
});
afterAll(() => app.destroy());

const create = (email: string, password: string, extra: Record<string, unknown> = {}) =>
  adminRequest(app, token, 'POST', '/users', { email, password, ...extra });

describe('F3 common, breached and context passwords are refused', () => {
  test.each([
    ['password1234', 'a listed password with digits after it'],
    ['qwertyuiop12', 'a keyboard walk with digits'],
    ['iloveyou', 'a listed password'],
    ['Password!', 'a listed password with a capital and a symbol'],
    ['12345678', 'digits only, listed'],
    ['Gatehouse2026', 'the name of this service'],
  ])('when a user is created with %s (%s), then 400 names the password field and no user is created', async (password) => {
    const email = `policy.${Date.now()}.${Math.random().toString(36).slice(2)}@example.com`;
    const reply = await create(email, password);
    expect(reply.status).toBe(400);
    expect(problemFields(reply)).toEqual(['password']);
    expect(JSON.stringify(reply.body)).not.toContain(password);
    expect((await adminRequest(app, token, 'GET', `/users?email=${encodeURIComponent(email)}`)).body.items).toEqual([]);
  });

  test('when the password contains the user\'s own email name or username, then it is refused', async () => {
    const stamp = Date.now();
    const byEmail = await create(`marguerite${stamp}@example.com`, `my name is marguerite${stamp} ok`);
    expect(byEmail.status).toBe(400);
    expect(problemFields(byEmail)).toEqual(['password']);
    const byUsername = await create(`someone${stamp}@example.com`, 'hello zanzibar999 world', { username: 'zanzibar999' });
    expect(byUsername.status).toBe(400);
    const user = await createUser(app, { username: `petronella${stamp}` });
    const reset = await adminRequest(app, token, 'PUT', `/users/${user.id}/password`, { password: `petronella${stamp} forever` });
    expect(reset.status).toBe(400);
    expect(problemFields(reset)).toEqual(['password']);
  });

  test('when the password is long, unusual or uses any script, then there is no composition rule: all lower-case words, spaces and emoji are fine', async () => {
    for (const password of ['correct horse battery staple', 'zwölf boxkämpfer jagen viktor', 'пароль который длинный', 'tea 🍵 at five o\'clock', 'xkq8 vb2m zt9w']) {
      const reply = await create(`ok.${Date.now()}.${Math.random().toString(36).slice(2)}@example.com`, password);
      expect(reply.status).toBe(201);
    }
  });

  test('when a password is 7 characters, then it is too short; 8 is enough', async () => {
    expect(problemFields(await create(`short.${Date.now()}@example.com`, 'kz8#vq2'))).toEqual(['password']);
    expect((await create(`eight.${Date.now()}@example.com`, 'kz8#vq2w')).status).toBe(201);
  });
});

describe('rehash on sign-in when the argon2 cost was raised', () => {
  test('when a user\'s stored hash has weaker parameters, then a successful sign-in replaces it with one at the current parameters', async () => {
    const user = await createUser(app);
    const weak = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await app.db.prisma.user.update({ where: { id: user.id }, data: { passwordHash: weak } });
    const client = await registerClient(app, { first_party: true });
    const callback = await signIn(new Browser(), app, await authRequest(await relyingParty(app, client)), user.email);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const stored = (await app.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).passwordHash!;
    expect(stored).not.toBe(weak);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await argon2.verify(stored, PASSWORD)).toBe(true);
  });
});
