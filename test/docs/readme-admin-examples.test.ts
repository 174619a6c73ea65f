// The README's admin API examples are run as written (bash and curl) against a real
// server, so the documentation cannot drift from what the API accepts.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createAdminClient, type AdminCredentials } from '../helpers/admin.js';
import { startApp, type TestApp } from '../helpers/app.js';

const run = promisify(execFile);

/** The shell block that follows "Then, as written:" in the README. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('Then, as written:');
  expect(start).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  expect(block).not.toBeNull();
  return block![1]!;
}

describe('README admin API examples', () => {
  let app: TestApp;
  let credentials: AdminCredentials;

  beforeAll(async () => {
    app = await startApp();
    credentials = await createAdminClient(app, 'admin');
  });
  afterAll(async () => {
    await app.destroy();
  });

  test('when the README commands run as written, then every call succeeds and leaves its record', async () => {
    const script = `set -euo pipefail\n${await readmeExample()}`;
    const { stdout } = await run('bash', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', GATEHOUSE: app.origin, CLIENT_ID: credentials.clientId, CLIENT_SECRET: credentials.clientSecret },
      timeout: 60_000,
    });
    // Each curl prints one JSON document, back to back; none of them is a problem document.
    const documents = stdout.trim().split(/(?<=\})\s*(?=\{)/).map((chunk) => JSON.parse(chunk) as Record<string, unknown>);
    expect(documents.length).toBeGreaterThanOrEqual(6);
    for (const document of documents) expect(document.type ?? '').not.toMatch(/problem/);

    const [client, role, user, search, audit, registration] = documents as [
      { client: { client_name: string }; client_secret: string },
      { name: string },
      { email: string; roles: string[] },
      { items: Array<{ email: string }> },
      { items: Array<{ action: string }> },
      { token: string; expires_at: string },
    ];
    expect(client.client.client_name).toBe('Billing');
    expect(client.client_secret).toMatch(/^[\w-]{43}$/);
    expect(role.name).toBe('billing:write');
    expect(user).toMatchObject({ email: 'ada@example.com', roles: ['billing:write'] });
    expect(search.items.map((found) => found.email)).toEqual(['ada@example.com']);
    expect(audit.items.map((event) => event.action)).toEqual(['user.create']);
    expect(registration.token).toBeTruthy();
  });
});
