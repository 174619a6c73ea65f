// The `gatehouse` command as a user runs it: a separate process on the same store.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.js';
import { startApp, usingPostgres, type TestApp } from '../helpers/app.js';

const run = promisify(execFile);
const BIN = path.resolve('bin/gatehouse.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('gatehouse CLI', () => {
  const env: Record<string, string> = {};
  let dataDir: string | undefined;
  let schema: string | undefined;

  function cli(args: string[], extraEnv: Record<string, string> = {}, stdin = ''): Promise<Result> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, ...args],
        { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env, ...extraEnv }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end(stdin);
    });
  }

  beforeAll(async () => {
    env.SECRET_KEY = randomBytes(32).toString('base64');
    env.COOKIE_KEYS = randomBytes(32).toString('base64url');
    if (usingPostgres) {
      schema = `cli_${randomBytes(5).toString('hex')}`;
      const url = new URL(process.env.TEST_DATABASE_URL!);
      url.searchParams.set('schema', schema);
      env.DATABASE_URL = url.toString();
    } else {
      dataDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cli-'));
      env.DATA_DIR = dataDir;
    }
  });
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (schema) {
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });

  test('when a user is created, then it is printed as JSON without any password hash', async () => {
    const result = await cli([
      'user', 'create', '--email', 'Grace@Example.com', '--password', 'a long enough passphrase',
      '--name', 'Grace Hopper', '--role', 'admin', '--claims', '{"given_name":"Grace","phone_number":"+1 555 0100"}',
    ]);
    expect(result.code).toBe(0);
    const user = JSON.parse(result.stdout);
    expect(user).toMatchObject({
      email: 'grace@example.com',
      name: 'Grace Hopper',
      roles: ['admin'],
      claims: { given_name: 'Grace', phone_number: '+1 555 0100' },
    });
    expect(result.stdout).not.toMatch(/argon2|password/i);
  });

  test('when user input is invalid, then the command names each problem, exits non-zero and writes nothing', async () => {
    const bad = await cli(['user', 'create', '--email', 'not-an-email', '--password', 'short']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/email: /);
    expect(bad.stderr).toMatch(/password: must be at least 8 characters/);
    const claims = await cli(['user', 'create', '--email', 'x@example.com', '--password', 'long enough pw', '--claims', '{"is_admin":true}']);
    expect(claims.code).toBe(2);
    expect(claims.stderr).toMatch(/claims/);
    const duplicate = await cli(['user', 'create', '--email', 'grace@example.com', '--password', 'another passphrase']);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toMatch(/already exists/);
    const missing = await cli(['user', 'create', '--password', 'long enough pw']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--email/);

    const db = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR ?? '' });
    try {
      expect((await db.prisma.user.findMany({ select: { email: true } })).map((user) => user.email)).toEqual(['grace@example.com']);
    } finally {
      await db.close();
    }
  });

  test('when a password is set or a user disabled from the CLI, then the stored user changes accordingly', async () => {
    const changed = await cli(['user', 'set-password', '--user', 'grace@example.com', '--password-stdin'], {}, 'a new long passphrase\n');
    expect(changed.code).toBe(0);
    expect(JSON.parse(changed.stdout)).toMatchObject({ email: 'grace@example.com' });
    const tooShort = await cli(['user', 'set-password', '--user', 'grace@example.com', '--password', 'short']);
    expect(tooShort.code).toBe(2);
    expect(tooShort.stderr).toMatch(/password: must be at least 8 characters/);
    const disabled = await cli(['user', 'disable', '--user', 'grace@example.com']);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ disabled: true });
    const enabled = await cli(['user', 'enable', '--user', 'grace@example.com']);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ disabled: false });
    const unknown = await cli(['user', 'disable', '--user', 'nobody@example.com']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/No such user/);
  });

  test('when a client is created, then its secret is shown once and invalid metadata is refused', async () => {
    const result = await cli([
      'client', 'create', '--name', 'Billing', '--redirect-uri', 'https://billing.example.com/callback',
      '--post-logout-redirect-uri', 'https://billing.example.com/', '--scope', 'openid profile', '--no-require-pkce',
    ]);
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout);
    expect(created.client).toMatchObject({
      client_name: 'Billing',
      redirect_uris: ['https://billing.example.com/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      require_pkce: false,
      scope: 'openid profile',
    });
    expect(created.client_secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(JSON.stringify(created.client)).not.toContain(created.client_secret);

    const bad = await cli(['client', 'create', '--name', 'Evil', '--redirect-uri', 'https://evil.example.com/cb#frag', '--redirect-uri', 'javascript:alert(1)']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/redirect_uris\[0\]: must not contain a fragment/);
    expect(bad.stderr).toMatch(/redirect_uris\[1\]/);

    const publicClient = await cli(['client', 'create', '--name', 'SPA', '--public', '--redirect-uri', 'http://localhost:5173/cb']);
    expect(publicClient.code).toBe(0);
    expect(JSON.parse(publicClient.stdout).client).toMatchObject({ token_endpoint_auth_method: 'none', require_pkce: true });
    expect(JSON.parse(publicClient.stdout).client_secret).toBeUndefined();
  });

  test('when keys are rotated, then new current keys appear and the old ones stay published as retired', async () => {
    type Keys = { items: Array<{ kid: string; status: string; alg: string; public_jwk: Record<string, unknown> }> };
    const before = (JSON.parse((await cli(['keys', 'list'])).stdout) as Keys).items;
    expect(before.map((key) => `${key.alg}:${key.status}`).sort()).toEqual(['ES256:current', 'ES256:next', 'RS256:current', 'RS256:next']);
    for (const key of before) expect(Object.keys(key.public_jwk)).not.toContain('d');
    const after = (JSON.parse((await cli(['keys', 'rotate'])).stdout) as Keys).items;
    expect(after).toHaveLength(6);
    const kids = (list: Keys['items'], status: string) => list.filter((key) => key.status === status).map((key) => key.kid).sort();
    // The published next keys now sign; the signing ones retire; new next keys appear.
    expect(kids(after, 'current')).toEqual(kids(before, 'next'));
    expect(kids(after, 'retired')).toEqual(kids(before, 'current'));
    expect(kids(after, 'next').some((kid) => before.some((key) => key.kid === kid))).toBe(false);
  });

  test('when roles are created and assigned from the CLI, then users and clients hold them and unknown roles are refused', async () => {
    const created = await cli(['role', 'create', '--name', 'billing:write', '--description', 'Writes invoices']);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'billing:write', description: 'Writes invoices', built_in: false });
    const assigned = await cli(['role', 'assign', '--name', 'billing:write', '--user', 'grace@example.com']);
    expect(JSON.parse(assigned.stdout).roles).toContain('billing:write');
    const unknown = await cli(['user', 'create', '--email', 'ops@example.com', '--password', 'long enough pw', '--role', 'no-such-role']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/roles: unknown role: no-such-role/);
    const builtIn = await cli(['role', 'delete', '--name', 'admin']);
    expect(builtIn.code).toBe(2);
    expect(builtIn.stderr).toMatch(/built-in/);
    const audit = JSON.parse((await cli(['audit', '--action', 'role.create'])).stdout);
    expect(audit.items.map((event: { target: { id: string } }) => event.target.id)).toContain('billing:write');
    expect(audit.items[0].actor.type).toBe('cli');
  });

  test('when an admin client is created with --admin, then a server on the same store gives it admin API tokens', async () => {
    const result = await cli(['client', 'create', '--name', 'ops', '--admin']);
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout);
    expect(created.client).toMatchObject({ grant_types: ['client_credentials'], roles: ['admin'] });
    const server = await startApp({ env: { ...env } });
    try {
      const token = await fetch(`${server.origin}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${created.client.client_id}:${created.client_secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin' }),
      });
      const tokens = (await token.json()) as { access_token: string; scope: string };
      expect(tokens.scope).toBe('admin');
      const listed = await fetch(`${server.origin}/admin/clients?q=${created.client.client_id}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { items: Array<{ client_id: string }> }).items.map((client) => client.client_id)).toEqual([created.client.client_id]);
    } finally {
      // Drops only the helper's own unused store; the CLI's (from env) stays for later tests.
      await server.destroy();
    }
  });

  test('when the configuration is checked, then valid settings are summarised with secrets masked, and each wrong one is named', async () => {
    const ok = await cli(['config', 'check'], { PORT: '4000' });
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.valid).toBe(true);
    expect(report.settings).toMatchObject({ PORT: '4000', SECRET_KEY: '(set)', COOKIE_KEYS: '(set)', ISSUER: '(default)' });
    expect(ok.stdout).not.toContain(env.SECRET_KEY);
    const configFile = path.join(await mkdtemp(path.join(tmpdir(), 'gatehouse-config-')), 'gatehouse.env');
    await writeFile(configFile, 'PORT=4200\nJWKS_MAX_AGE=60\n');
    const fromFile = await cli(['config', 'check'], { CONFIG_FILE: configFile });
    expect(JSON.parse(fromFile.stdout).settings).toMatchObject({ PORT: '4200', JWKS_MAX_AGE: '60', CONFIG_FILE: configFile });
    const bad = await cli(['config', 'check'], { PORT: 'eighty', NODE_ENV: 'staging' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/NODE_ENV: /);
    expect(bad.stderr).toMatch(/PORT: /);
  });

  test('when the command is unknown or an option is missing its value, then usage is printed and it exits non-zero', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown command/);
  });

  (usingPostgres ? test.skip : test)('when a server holds the embedded store, then the CLI refuses with a clear message', async () => {
    const server: TestApp = await startApp();
    try {
      const result = await cli(['keys', 'list'], { DATA_DIR: server.config.dataDir });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/in use by another Gatehouse process \(pid \d+\)/);
    } finally {
      await server.destroy();
    }
  });
});

describe('production settings', () => {
  test('when NODE_ENV=production lacks secrets and an https issuer, then the server refuses to start and names each setting', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-prod-'));
    try {
      await run(process.execPath, [path.resolve('dist/main.js')], {
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', DATA_DIR: dataDir, ISSUER: 'http://id.example.com' },
        timeout: 30_000,
      });
      throw new Error('the server started');
    } catch (error) {
      const failed = error as { code: number; stderr: string };
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/SECRET_KEY: required in production/);
      expect(failed.stderr).toMatch(/COOKIE_KEYS: required in production/);
      expect(failed.stderr).toMatch(/ISSUER: must be an https:\/\/ URL in production/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
