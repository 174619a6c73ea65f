// Rotating the key-encryption key (SECRET_KEY, checklist J2/J3) and the cookie keys on a
// live store, as an operator would: restart with the new key and the old one as previous,
// reseal, drop the old key; nothing stored before (client secrets, signing keys, TOTP
// seeds, sessions) stops working, and a dropped key really is dropped.
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { openDatabase } from '../../src/db/database.js';
import { SEALED_LOCATIONS } from '../../src/stores/sealed-values.js';
import { totpCode } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, REDIRECT_URI, TEST_ACTOR, authRequest, createUser, exchange, registerClient, relyingParty, signIn, type RegisteredClient } from '../helpers/oidc.js';

const BIN = path.resolve('bin/gatehouse.js');
const SESSION_COOKIE = '_session';

const secretKey = () => randomBytes(32).toString('base64');
const cookieKey = () => randomBytes(32).toString('base64url');

/** What Koa's cookies (keygrip) put in `<name>.sig`: HMAC-SHA1 of `name=value`, base64url. */
function cookieSignature(key: string, name: string, value: string): string {
  return createHmac('sha1', key).update(`${name}=${value}`).digest('base64url');
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('rotating SECRET_KEY and COOKIE_KEYS', () => {
  const K1 = secretKey();
  const K2 = secretKey();
  const K3 = secretKey();
  const C1 = cookieKey();
  const C2 = cookieKey();

  let app: TestApp;
  let web: RegisteredClient;
  let service: RegisteredClient;
  /** A client whose secret was rotated with a grace period: both secrets are sealed. */
  let rotated: { clientId: string; secret: string; previousSecret: string };
  let user: { id: string; email: string };
  let totpUser: { id: string; secret: string };
  let browser: Browser;
  /** A second session, left alone until after the reseal (a running one is rewritten by every request). */
  let idleBrowser: Browser;
  /** The kids that signed ID tokens under K1: the same keys must keep signing. */
  const signingKids = new Set<string>();
  /** The session cookie as first set, signed with C1. */
  let firstSessionCookie: { value: string; sig: string };

  beforeAll(async () => {
    app = await startApp({ env: { SECRET_KEY: K1, COOKIE_KEYS: C1 } });
  });
  afterAll(async () => {
    await app.destroy();
  });

  async function sessionCookie(jar: Browser): Promise<{ value: string; sig: string }> {
    const cookies = await jar.jar.getCookies(app.issuer);
    const value = cookies.find((cookie) => cookie.key === SESSION_COOKIE)?.value;
    const sig = cookies.find((cookie) => cookie.key === `${SESSION_COOKIE}.sig`)?.value;
    if (!value || !sig) throw new Error('no signed session cookie in the jar');
    return { value, sig };
  }

  async function tokenStatus(clientId: string, secret: string): Promise<number> {
    const response = await fetch(`${app.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    await response.arrayBuffer();
    return response.status;
  }

  /** An authorization request with prompt=none: the redirect back to the client. */
  async function silentSignIn(agent: Browser) {
    const config = await relyingParty(app, web);
    const request = await authRequest(config, { prompt: 'none' });
    const hop = await agent.follow(request.url.toString(), app.issuer);
    expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);
    return { config, request, callback: new URL(hop.location!) };
  }

  /** Signs in silently with `browser`'s session and checks the ID token against the published keys. */
  async function expectSilentSignInWithOldKeys(agent = browser): Promise<void> {
    const { config, request, callback } = await silentSignIn(agent);
    expect(callback.searchParams.get('error')).toBeNull();
    const tokens = await exchange(config, callback, request);
    const idToken = tokens.id_token!;
    expect(signingKids).toContain(decodeProtectedHeader(idToken).kid);
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${app.issuer}/jwks`)), { issuer: app.issuer, audience: web.clientId });
    expect(payload.sub).toBe(user.id);
  }

  async function expectTotpVerifies(): Promise<void> {
    // Each check uses the current step, which a code may prove only once: forget the last
    // accepted step so that this check is not refused as a replay of the previous one.
    await app.db.prisma.$executeRaw`UPDATE users SET totp_last_step = NULL WHERE id = ${totpUser.id}::uuid`;
    expect(await app.app.services.mfa.verifyTotp(totpUser.id, totpCode(totpUser.secret))).toBe(true);
  }

  async function expectClientSecretsWork(): Promise<void> {
    expect(await tokenStatus(service.clientId, service.clientSecret!)).toBe(200);
    expect(await tokenStatus(rotated.clientId, rotated.secret)).toBe(200);
    expect(await tokenStatus(rotated.clientId, rotated.previousSecret)).toBe(200);
    expect(await tokenStatus(service.clientId, rotated.secret)).toBe(401);
  }

  /** Every sealed value in the store, by location. */
  async function sealedValues(db = app.db): Promise<Record<string, string[]>> {
    const all: Record<string, string[]> = {};
    for (const location of SEALED_LOCATIONS) all[location.name] = (await location.list(db.prisma)).map((value) => value.sealed);
    return all;
  }

  async function sealedValuesWhileStopped(): Promise<Record<string, string[]>> {
    const db = await openDatabase({ databaseUrl: app.config.databaseUrl, dataDir: app.config.dataDir });
    try {
      return await sealedValues({ prisma: db.prisma } as TestApp['db']);
    } finally {
      await db.close();
    }
  }

  test('when Gatehouse runs under the first key, then secrets, keys, seeds and sessions are sealed under it', async () => {
    web = await registerClient(app, { first_party: true });
    service = await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const before = await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const after = await app.app.services.clients.rotateSecret(before.clientId, { grace_period_seconds: 3600 }, TEST_ACTOR);
    rotated = { clientId: before.clientId, secret: after.client_secret!, previousSecret: before.clientSecret! };

    const created = await createUser(app);
    user = { id: created.id, email: created.email };
    browser = new Browser();
    const config = await relyingParty(app, web);
    const request = await authRequest(config);
    const tokens = await exchange(config, await signIn(browser, app, request, user.email), request);
    signingKids.add(decodeProtectedHeader(tokens.id_token!).kid!);
    idleBrowser = new Browser();
    const idleRequest = await authRequest(config);
    await signIn(idleBrowser, app, idleRequest, user.email);

    const mfaUser = await createUser(app);
    const enrolment = await app.app.services.mfa.beginEnrolment(mfaUser.id, TEST_ACTOR);
    expect(await app.app.services.mfa.confirmEnrolment(mfaUser.id, totpCode(enrolment.secret), TEST_ACTOR)).toBeDefined();
    totpUser = { id: mfaUser.id, secret: enrolment.secret };

    firstSessionCookie = await sessionCookie(browser);
    expect(firstSessionCookie.sig).toBe(cookieSignature(C1, SESSION_COOKIE, firstSessionCookie.value));

    const k1 = SecretBox.fromEncoded(K1);
    const sealed = await sealedValues();
    expect(sealed['signing_keys.private_jwk_ciphertext']!.length).toBeGreaterThanOrEqual(4);
    expect(sealed['clients.secret_ciphertext']!.length).toBeGreaterThanOrEqual(3);
    expect(sealed['clients.previous_secret_ciphertext']).toHaveLength(1);
    expect(sealed['users.totp_secret']).toHaveLength(1);
    expect(sealed['oidc_payloads.payload.sealedJti']!.length).toBeGreaterThanOrEqual(1);
    for (const value of Object.values(sealed).flat()) expect(k1.isCurrent(value)).toBe(true);
  });

  test('when restarted with a new SECRET_KEY and the old one as SECRET_KEY_PREVIOUS, then everything sealed before still works and new values use the new key', async () => {
    app = await app.restart({ SECRET_KEY: K2, SECRET_KEY_PREVIOUS: K1, COOKIE_KEYS: `${C2},${C1}` });

    await expectClientSecretsWork();
    await expectTotpVerifies();
    // The session from before the restart signs in without a login page, its cookie still
    // signed with C1, which now only verifies.
    await expectSilentSignInWithOldKeys();

    const fresh = await registerClient(app, { grant_types: ['client_credentials'], redirect_uris: [], post_logout_redirect_uris: [] });
    const stored = await app.db.prisma.client.findUniqueOrThrow({ where: { id: fresh.clientId } });
    expect(SecretBox.fromEncoded(K2).isCurrent(stored.secretCiphertext!)).toBe(true);
    expect(await tokenStatus(fresh.clientId, fresh.clientSecret!)).toBe(200);
  });

  test('when a session cookie signed with an older cookie key is used, then it is re-signed with the newest key', async () => {
    const now = await sessionCookie(browser);
    expect(now.value).toBe(firstSessionCookie.value);
    expect(now.sig).toBe(cookieSignature(C2, SESSION_COOKIE, now.value));
    expect(now.sig).not.toBe(firstSessionCookie.sig);
  });

  test('when the sealed values are resealed, then every one is under the new key, and a second run writes nothing', async () => {
    const k2 = SecretBox.fromEncoded(K2);
    const report = await app.app.services.reseal.reseal(TEST_ACTOR);
    expect(report.key_id).toBe(k2.keyId);
    expect(report.locations['signing_keys.private_jwk_ciphertext']!.resealed).toBeGreaterThanOrEqual(4);
    expect(report.locations['clients.previous_secret_ciphertext']).toEqual({ resealed: 1, already_current: 0 });
    expect(report.locations['users.totp_secret']).toEqual({ resealed: 1, already_current: 0 });
    expect(report.locations['oidc_payloads.payload.sealedJti']!.resealed).toBeGreaterThanOrEqual(1);
    // The client registered after the restart was sealed under K2 already.
    expect(report.locations['clients.secret_ciphertext']!.already_current).toBeGreaterThanOrEqual(1);
    for (const value of Object.values(await sealedValues()).flat()) expect(k2.isCurrent(value)).toBe(true);

    const again = await app.app.services.reseal.reseal(TEST_ACTOR);
    expect(again.resealed).toBe(0);
    expect(again.already_current).toBe(report.resealed + report.already_current);
    await expectSilentSignInWithOldKeys(idleBrowser);
    const audit = await app.app.services.audit.list({ action: 'secrets.reseal' });
    expect(audit.items).toHaveLength(1);
  });

  test('when restarted with only the new SECRET_KEY and cookie key, then everything still works and the cookie signed with the dropped key is refused', async () => {
    app = await app.restart({ SECRET_KEY: K2, SECRET_KEY_PREVIOUS: '', COOKIE_KEYS: C2 });

    await expectClientSecretsWork();
    await expectTotpVerifies();
    await expectSilentSignInWithOldKeys();

    // The same session id with the signature made by C1, which is no longer configured.
    const stale = new Browser();
    await stale.jar.setCookie(`${SESSION_COOKIE}=${firstSessionCookie.value}; Path=/`, app.issuer);
    await stale.jar.setCookie(`${SESSION_COOKIE}.sig=${firstSessionCookie.sig}; Path=/`, app.issuer);
    const { callback } = await silentSignIn(stale);
    expect(callback.searchParams.get('error')).toBe('login_required');
    expect(callback.searchParams.get('code')).toBeNull();
  });

  test('when restarted with only the old SECRET_KEY after the reseal, then start-up fails saying which key is missing', async () => {
    // Start-up opens the private signing keys, which are now sealed under K2 only.
    await expect(app.restart({ SECRET_KEY: K1, SECRET_KEY_PREVIOUS: '', COOKIE_KEYS: C2 })).rejects.toThrow(
      `sealed under key ${SecretBox.fromEncoded(K2).keyId}, which is neither SECRET_KEY nor listed in SECRET_KEY_PREVIOUS`,
    );
  });

  test('when `gatehouse secrets reseal` cannot open some values, then it names how many and where and changes nothing; with the previous key it reseals, once', async () => {
    // The app is stopped (the failed start above): the CLI gets the store.
    const env = { ...app.storage.env, COOKIE_KEYS: C2 };
    const before = await sealedValuesWhileStopped();
    const total = Object.values(before).flat().length;

    const refused = await cli(['secrets', 'reseal'], { ...env, SECRET_KEY: K3 });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`${total} sealed values cannot be opened with SECRET_KEY or any key in SECRET_KEY_PREVIOUS; nothing was changed.`);
    expect(refused.stderr).toContain(`signing_keys.private_jwk_ciphertext: ${before['signing_keys.private_jwk_ciphertext']!.length} (`);
    expect(refused.stderr).toContain(`users.totp_secret: 1 (${totpUser.id})`);
    expect(refused.stderr).toContain('Add the key they were sealed under to SECRET_KEY_PREVIOUS');
    expect(await sealedValuesWhileStopped()).toEqual(before);

    const resealed = await cli(['secrets', 'reseal'], { ...env, SECRET_KEY: K3, SECRET_KEY_PREVIOUS: `${K1},${K2}` });
    expect(resealed.stderr).not.toContain('gatehouse:');
    expect(resealed.code).toBe(0);
    const report = JSON.parse(resealed.stdout);
    expect(report).toMatchObject({ key_id: SecretBox.fromEncoded(K3).keyId, resealed: total, already_current: 0 });
    expect(report.locations['users.totp_secret']).toEqual({ resealed: 1, already_current: 0 });
    const k3 = SecretBox.fromEncoded(K3);
    for (const value of Object.values(await sealedValuesWhileStopped()).flat()) expect(k3.isCurrent(value)).toBe(true);

    const again = await cli(['secrets', 'reseal'], { ...env, SECRET_KEY: K3, SECRET_KEY_PREVIOUS: K2 });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ resealed: 0, already_current: total });

    const check = await cli(['config', 'check'], { ...env, SECRET_KEY: K3, SECRET_KEY_PREVIOUS: `${K1},${K2}` });
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout).settings).toMatchObject({ SECRET_KEY: '(set)', SECRET_KEY_PREVIOUS: '(set)' });
    for (const key of [K1, K2, K3]) expect(check.stdout).not.toContain(key);

    app = await app.restart({ SECRET_KEY: K3, SECRET_KEY_PREVIOUS: '', COOKIE_KEYS: C2 });
    await expectClientSecretsWork();
    await expectTotpVerifies();
    await expectSilentSignInWithOldKeys();
  });
});
