// Two-step sign-in with an authenticator app (TOTP, RFC 6238) and recovery codes, over
// real HTTP: enrolment on the account page, the code step of the login, what the ID token
// says about it (amr, acr), replay and drift limits, the attempt limit (checklist F7), the
// verified password kept server-side (F8), clients that demand the second factor, the
// administrator's reset, and the seed sealed at rest.
import { decodeJwt } from 'jose';
import { ACR_MFA, ACR_PASSWORD } from '../../src/services/mfa.js';
import { requiresMfa } from '../../src/interactions/second-factor.js';
import { silentAuth } from '../helpers/security.js';
import { adminRequest, adminToken } from '../helpers/admin.js';
import { enrolTotp, openAccount, totpCode, wrongCode, type Enrolled } from '../helpers/account.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { Browser, formAction, inputValue, type Hop } from '../helpers/browser.js';
import { REDIRECT_URI, authRequest, createUser, exchange, oidc, registerClient, relyingParty, submitLogin, type AuthRequest } from '../helpers/oidc.js';

let app: TestApp;
let config: oidc.Configuration;

beforeAll(async () => {
  app = await startApp();
  const client = await registerClient(app, { client_name: 'MFA Tests', first_party: true });
  config = await relyingParty(app, client);
});

afterAll(async () => {
  await app.destroy();
});

interface EnrolledUser extends Enrolled {
  id: string;
  email: string;
}

async function enrolledUser(): Promise<EnrolledUser> {
  const user = await createUser(app);
  const browser = new Browser();
  await openAccount(browser, app, user.email);
  return { id: user.id, email: user.email, ...(await enrolTotp(browser, app)) };
}

interface CodeStep {
  browser: Browser;
  request: AuthRequest;
  /** The page after the password was accepted. */
  page: Hop;
  uid: string;
}

/** A fresh browser: authorization request, then the password; returns the page that follows. */
async function passwordStep(email: string, params: Record<string, string> = {}, client = config, browser = new Browser()): Promise<CodeStep> {
  const request = await authRequest(client, params);
  const login = await browser.follow(request.url.toString(), app.issuer);
  expect(login.status).toBe(200);
  const uid = /\/interaction\/([^/]+)\/login"/.exec(login.body)![1]!;
  const page = await submitLogin(browser, app, login, email);
  return { browser, request, page, uid };
}

/** Posts a code on the code page and follows the issuer's redirects. */
function submitCode(step: CodeStep, code: string, method: 'totp' | 'recovery' = 'totp', page: Hop = step.page): Promise<Hop> {
  return step.browser.follow(new URL(formAction(page.body, '/mfa'), app.issuer).toString(), app.issuer, {
    form: { csrf: inputValue(page.body, 'csrf'), method, code },
  });
}

function expectCodePage(page: Hop) {
  expect(page.status).toBe(200);
  expect(page.body).toContain('<h1>Two-step verification</h1>');
  expect(page.body).toMatch(/<input[^>]*name="code"[^>]*autocomplete="one-time-code"/);
  expect(page.body).toContain('Use a recovery code');
  expect(page.location).toBeUndefined();
}

function callbackOf(hop: Hop): URL {
  expect(hop.location?.startsWith(REDIRECT_URI)).toBe(true);
  return new URL(hop.location!);
}

async function idTokenAfter(step: CodeStep, hop: Hop, client = config) {
  const callback = callbackOf(hop);
  expect(callback.searchParams.get('code')).toBeTruthy();
  const tokens = await exchange(client, callback, step.request);
  return decodeJwt(tokens.id_token!);
}

/** What a refused code looks like: the code page again, 400, no redirect anywhere. */
function expectRefused(hop: Hop) {
  expect(hop.status).toBe(400);
  expect(hop.location).toBeUndefined();
  expect(hop.body).toContain('not valid');
}

describe('sign-in with an authenticator app', () => {
  let user: EnrolledUser;

  beforeAll(async () => {
    user = await enrolledUser();
  });

  test('when an enrolled user enters the right password, then no code is issued yet and the code page asks for a one-time code', async () => {
    const step = await passwordStep(user.email);
    expectCodePage(step.page);
    expect(step.page.body).toContain(`action="/interaction/${step.uid}/mfa"`);
    expect(inputValue(step.page.body, 'csrf')).toBeTruthy();
  });

  test('when the right code follows, then the client gets a code and the ID token says amr [pwd, otp] and acr mfa', async () => {
    const step = await passwordStep(user.email);
    // The enrolment used the current step's code; the app shows the next one 30 s later.
    const claims = await idTokenAfter(step, await submitCode(step, totpCode(user.secret, 30)));
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect(claims.acr).toBe(ACR_MFA);
  });

  test('when a code was accepted once, then the same code is refused in the next sign-in (no replay)', async () => {
    const fresh = await enrolledUser();
    const code = totpCode(fresh.secret, 30);
    const first = await passwordStep(fresh.email);
    await idTokenAfter(first, await submitCode(first, code));
    const second = await passwordStep(fresh.email);
    expectRefused(await submitCode(second, code));
  });

  test('when a code from 90 s ago is entered, then it is refused; one from 30 s ago (one step of drift) is accepted', async () => {
    const fresh = await enrolledUser();
    // Forget which step was used last, so that only the time window decides here.
    await app.db.prisma.$executeRaw`UPDATE users SET totp_last_step = NULL WHERE id = ${fresh.id}::uuid`;
    const step = await passwordStep(fresh.email);
    expectRefused(await submitCode(step, totpCode(fresh.secret, -90)));
    expectRefused(await submitCode(step, totpCode(fresh.secret, 90)));
    const retry = await step.browser.follow(`${app.issuer}/interaction/${step.uid}`, app.issuer);
    expectCodePage(retry);
    await idTokenAfter(step, await submitCode(step, totpCode(fresh.secret, -30), 'totp', retry));
  });

  test('when five wrong codes are entered, then the interaction is over: the client gets access_denied and even the right code gives no code (F7)', async () => {
    const step = await passwordStep(user.email);
    const wrong = wrongCode(user.secret);
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      const hop = await submitCode(step, wrong);
      expectRefused(hop);
      expect(hop.body).toContain(`${5 - attempt} attempt`);
    }
    const fifth = await submitCode(step, wrong);
    const callback = callbackOf(fifth);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
    // The sixth, with a valid code, finds no interaction left.
    const sixth = await submitCode(step, totpCode(user.secret, 30));
    expect(sixth.status).toBeGreaterThanOrEqual(400);
    expect(sixth.location).toBeUndefined();
  });

  test('when a recovery code is used, then it signs in once (amr otp, acr mfa), is audited, and its second use is refused', async () => {
    const fresh = await enrolledUser();
    const code = fresh.recoveryCodes[3]!;
    const first = await passwordStep(fresh.email);
    // Typed in lower case and without dashes: still the same code.
    const claims = await idTokenAfter(first, await submitCode(first, code.toLowerCase().replace(/-/g, ''), 'recovery'));
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    const second = await passwordStep(fresh.email);
    expectRefused(await submitCode(second, code, 'recovery'));
    const events = await app.app.services.audit.list({ target_id: fresh.id, action: 'user.mfa_recovery_code_used' });
    expect(events.items).toHaveLength(1);
    expect(events.items[0]!.after).toEqual({ recovery_codes_left: 9 });
    expect(JSON.stringify(events.items)).not.toContain(code);
  });
});

describe('the per-account cap on wrong codes over all interactions', () => {
  test('when 32 wrong codes arrive at once over 8 interactions of one user, then exactly 20 are checked and the rest refused, and even the right code is refused until the window has passed', async () => {
    const user = await enrolledUser();
    const wrong = wrongCode(user.secret);
    const steps: CodeStep[] = [];
    for (let i = 0; i < 8; i += 1) steps.push(await passwordStep(user.email));
    for (const step of steps) expectCodePage(step.page);
    // Every check takes half a second, as under load, so that all the guesses are in flight
    // together: a cap that is read first and added to after a failure lets them all through.
    const mfa = app.app.services.mfa;
    const verify = mfa.verifyTotp;
    mfa.verifyTotp = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return verify(...args);
    };
    let hops: Hop[];
    try {
      // Four per interaction: below its own limit of five, so only the account's cap can refuse.
      hops = await Promise.all(steps.flatMap((step) => Array.from({ length: 4 }, () => submitCode(step, wrong))));
    } finally {
      mfa.verifyTotp = verify;
    }
    const checked = hops.filter((hop) => hop.status === 400 && hop.body.includes('That code is not valid.'));
    expect(checked).toHaveLength(20);
    for (const hop of hops) expect(hop.location ? new URL(hop.location).searchParams.get('code') : null).toBeNull();
    const failures = await app.app.services.audit.list({ target_id: user.id, action: 'login.mfa_failure', limit: 100 });
    expect(failures.items).toHaveLength(20);
    expect((await app.app.services.audit.list({ target_id: user.id, action: 'login.mfa_locked', limit: 100 })).items.length).toBeGreaterThan(0);

    // The right code, in a fresh interaction: refused while the window lasts.
    const locked = await passwordStep(user.email);
    const refused = callbackOf(await submitCode(locked, totpCode(user.secret, 30)));
    expect(refused.searchParams.get('error')).toBe('access_denied');
    expect(refused.searchParams.get('code')).toBeNull();

    // Once the window has passed, the right code signs in.
    await app.db.prisma.$executeRaw`UPDATE rate_counters SET expires_at = now() - interval '1 second' WHERE key = ${`mfa:user:${user.id}`}`;
    const later = await passwordStep(user.email);
    expect((await idTokenAfter(later, await submitCode(later, totpCode(user.secret, 30)))).acr).toBe(ACR_MFA);
  });
});

describe('F8 the verified password stays on the server, bound to the interaction', () => {
  let user: EnrolledUser;

  beforeAll(async () => {
    user = await enrolledUser();
  });

  test('when the code step is skipped and the resume URL is called directly, then no code is issued and the sign-in starts over', async () => {
    const step = await passwordStep(user.email);
    expectCodePage(step.page);
    const hop = await step.browser.follow(`${app.issuer}/auth/${step.uid}`, app.issuer);
    expect(hop.location?.startsWith(REDIRECT_URI) ?? false).toBe(false);
    expect(hop.status).toBe(200);
    expect(hop.body).toContain('name="password"');
    // The old code page is gone with its interaction.
    const stale = await submitCode(step, totpCode(user.secret, 30));
    expect(stale.status).toBe(400);
    expect(stale.location).toBeUndefined();
  });

  test('when the code page is posted from another browser, then it is refused, and the right browser can still finish', async () => {
    const step = await passwordStep(user.email);
    const intruder = new Browser();
    const posted = await intruder.follow(`${app.issuer}/interaction/${step.uid}/mfa`, app.issuer, {
      form: { csrf: inputValue(step.page.body, 'csrf'), method: 'totp', code: totpCode(user.secret, 30) },
    });
    expect(posted.status).toBe(400);
    expect(posted.location).toBeUndefined();
    const claims = await idTokenAfter(step, await submitCode(step, totpCode(user.secret, 30)));
    expect(claims.acr).toBe(ACR_MFA);
  });

  test('when a code is posted before any password, then it is refused', async () => {
    const browser = new Browser();
    const request = await authRequest(config);
    const login = await browser.follow(request.url.toString(), app.issuer);
    const uid = /\/interaction\/([^/]+)\/login"/.exec(login.body)![1]!;
    const hop = await browser.request(`${app.issuer}/interaction/${uid}/mfa`, {
      form: { csrf: inputValue(login.body, 'csrf'), method: 'totp', code: totpCode(user.secret, 30) },
    });
    expect(hop.status).toBe(400);
    expect(hop.location).toBeUndefined();
    expect(hop.body).toContain('Sign in with your password first');
  });
});

describe('clients that demand the second factor (acr_values)', () => {
  test('when a password-only user signs in, then amr is [pwd] and acr the password value; discovery lists both acr values', async () => {
    const user = await createUser(app);
    const step = await passwordStep(user.email);
    const claims = await idTokenAfter(step, step.page);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe(ACR_PASSWORD);
    const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as { acr_values_supported?: string[] };
    expect(discovery.acr_values_supported).toEqual(expect.arrayContaining([ACR_PASSWORD, ACR_MFA]));
  });

  test('when acr_values asks for mfa and the user has no second factor, then a page explains it with a link to the account page, and the client gets unmet_authentication_requirements and no code', async () => {
    const user = await createUser(app);
    const step = await passwordStep(user.email, { acr_values: ACR_MFA });
    expect(step.page.status).toBe(403);
    expect(step.page.location).toBeUndefined();
    expect(step.page.body).toContain('Two-step verification required');
    expect(step.page.body).toContain('href="/account"');
    const back = await step.browser.follow(new URL(formAction(step.page.body, '/mfa-unavailable'), app.issuer).toString(), app.issuer, {
      form: { csrf: inputValue(step.page.body, 'csrf') },
    });
    const callback = callbackOf(back);
    expect(callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(callback.searchParams.get('code')).toBeNull();
  });

  test('when a browser already signed in with the password alone meets acr_values=mfa, then it is asked to sign in again rather than given a code', async () => {
    const user = await createUser(app);
    const step = await passwordStep(user.email);
    await idTokenAfter(step, step.page);
    const request = await authRequest(config, { acr_values: ACR_MFA });
    const hop = await step.browser.follow(request.url.toString(), app.issuer);
    expect(hop.location?.startsWith(REDIRECT_URI) ?? false).toBe(false);
    expect(hop.body).toContain('name="password"');
  });

  test('when acr_values asks for mfa and the user has an authenticator app, then the ID token carries acr mfa', async () => {
    const user = await enrolledUser();
    const step = await passwordStep(user.email, { acr_values: ACR_MFA });
    expectCodePage(step.page);
    const claims = await idTokenAfter(step, await submitCode(step, totpCode(user.secret, 30)));
    expect(claims.acr).toBe(ACR_MFA);
  });
});

describe('clients that demand the second factor with an essential acr claim (claims parameter)', () => {
  const essential = (acr: Record<string, unknown>) => JSON.stringify({ id_token: { acr: { essential: true, ...acr } } });
  const details = (claims: unknown) => ({ params: { claims } }) as unknown as Parameters<typeof requiresMfa>[0];

  test('when a claims request makes acr mfa essential (value, or values without the password level), then the second factor is required', () => {
    expect(requiresMfa(details(essential({ value: ACR_MFA })), undefined)).toBe(true);
    expect(requiresMfa(details(essential({ values: [ACR_MFA] })), undefined)).toBe(true);
    // Already parsed (a request object) counts the same.
    expect(requiresMfa(details({ id_token: { acr: { essential: true, value: ACR_MFA } } }), undefined)).toBe(true);
  });

  test('when the claims parameter is malformed, lets the password level do, or does not make acr essential, then it demands nothing', () => {
    for (const claims of [
      '{not json', '"text"', '[1]', 'null', undefined,
      JSON.stringify({ id_token: { acr: { value: ACR_MFA } } }),
      JSON.stringify({ id_token: { acr: null } }),
      JSON.stringify({ id_token: { acr: { essential: true, values: 'x' } } }),
      essential({ values: [ACR_PASSWORD, ACR_MFA] }),
      essential({ value: ACR_PASSWORD }),
    ]) {
      expect(requiresMfa(details(claims), undefined)).toBe(false);
    }
  });

  test('when a password-only user signs in with claims asking for an essential acr of mfa, then the browser never loops back to the password form', async () => {
    const user = await createUser(app);
    const step = await passwordStep(user.email, { claims: essential({ value: ACR_MFA }) });
    // Gatehouse does not support the claims parameter (discovery says so), and oidc-provider
    // drops it: the request is not an acr demand at all, and the sign-in simply finishes.
    const discovery = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as { claims_parameter_supported?: boolean };
    expect(discovery.claims_parameter_supported).toBe(false);
    expect(step.page.body).not.toContain('name="password"');
    expect(callbackOf(step.page).searchParams.get('code')).toBeTruthy();
  });
});

describe('a client registered with require_mfa (an administrator\'s policy)', () => {
  let strict: oidc.Configuration;

  beforeAll(async () => {
    const created = await adminRequest(app, await adminToken(app), 'POST', '/clients', {
      client_name: 'Payroll', redirect_uris: [REDIRECT_URI], first_party: true, require_mfa: true,
    });
    expect(created.status).toBe(201);
    expect(created.body.client.require_mfa).toBe(true);
    strict = await relyingParty(app, { clientId: created.body.client.client_id, clientSecret: created.body.client_secret });
  });

  test('when a user without a second factor signs in, without any acr_values, then the explanation page comes and no code', async () => {
    const user = await createUser(app);
    const step = await passwordStep(user.email, {}, strict);
    expect(step.page.status).toBe(403);
    expect(step.page.body).toContain('Two-step verification required');
    expect(step.page.location).toBeUndefined();
  });

  test('when an enrolled user signs in, asking for the password level only, then the code step still comes and the ID token says mfa', async () => {
    const user = await enrolledUser();
    const step = await passwordStep(user.email, { acr_values: ACR_PASSWORD }, strict);
    expectCodePage(step.page);
    const claims = await idTokenAfter(step, await submitCode(step, totpCode(user.secret, 30)), strict);
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(['pwd', 'otp']);
  });

  test('when a browser signed in with the password alone at another client comes to it, then it must sign in again', async () => {
    const user = await createUser(app);
    const step = await passwordStep(user.email);
    await idTokenAfter(step, step.page);
    const request = await authRequest(strict);
    const hop = await step.browser.follow(request.url.toString(), app.issuer);
    expect(hop.location?.startsWith(REDIRECT_URI) ?? false).toBe(false);
    expect(hop.body).toContain('name="password"');
  });
});

describe('administration and storage', () => {
  test('when an administrator resets a user\'s second factor, then it is audited and the user signs in with the password alone', async () => {
    const user = await enrolledUser();
    const token = await adminToken(app);
    expect((await adminRequest(app, undefined, 'DELETE', `/users/${user.id}/mfa`)).status).toBe(401);
    expect((await adminRequest(app, token, 'DELETE', '/users/00000000-0000-4000-8000-000000000000/mfa')).status).toBe(404);
    expect((await adminRequest(app, token, 'DELETE', `/users/${user.id}/mfa`)).status).toBe(204);
    const step = await passwordStep(user.email);
    const claims = await idTokenAfter(step, step.page);
    expect(claims.acr).toBe(ACR_PASSWORD);
    expect(await app.db.prisma.recoveryCode.count({ where: { userId: user.id } })).toBe(0);
    const events = await app.app.services.audit.list({ target_id: user.id, action: 'user.mfa_reset' });
    expect(events.items).toHaveLength(1);
    expect(events.items[0]!.actor.type).toBe('client');
    const openapi = (await (await fetch(`${app.issuer}/admin/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(openapi.paths['/users/{id}/mfa']?.['delete']).toBeDefined();
  });

  test('when an administrator resets a user\'s second factor, then every browser session of the user ends (login_required)', async () => {
    const user = await enrolledUser();
    const step = await passwordStep(user.email);
    await idTokenAfter(step, await submitCode(step, totpCode(user.secret, 30)));
    expect(await silentAuth(step.browser, app, config)).toMatchObject({ error: null });
    expect((await adminRequest(app, await adminToken(app), 'DELETE', `/users/${user.id}/mfa`)).status).toBe(204);
    expect(await silentAuth(step.browser, app, config)).toEqual({ code: null, error: 'login_required' });
    expect(await app.app.services.accounts.listSessions(user.id)).toHaveLength(0);
  });

  test('when the database is dumped, then neither the seed nor any recovery code is there in plain text, and enrolment is audited without them', async () => {
    const user = await enrolledUser();
    const dump = JSON.stringify(
      [
        await app.db.prisma.$queryRaw`SELECT * FROM users`,
        await app.db.prisma.$queryRaw`SELECT * FROM recovery_codes`,
        await app.db.prisma.$queryRaw`SELECT * FROM audit_events`,
        await app.db.prisma.$queryRaw`SELECT * FROM oidc_payloads`,
      ],
      (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
    );
    const row = await app.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row.totpSecret).toMatch(/^v2\./);
    expect(row.totpConfirmedAt).not.toBeNull();
    for (const form of [user.secret, user.secret.toLowerCase(), Buffer.from(user.secret).toString('base64')]) expect(dump).not.toContain(form);
    for (const code of user.recoveryCodes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replace(/-/g, ''));
    }
    const actions = (await app.app.services.audit.list({ target_id: user.id })).items.map((event) => event.action);
    expect(actions).toEqual(expect.arrayContaining(['user.mfa_enrol', 'user.mfa_confirm']));
  });
});
