// Runs once after the whole suite: every log line every app wrote during the run is
// checked for secrets (checklist K4). A leak fails the run, naming the file and line.
// (Plain JavaScript: Jest loads global hooks outside its module system.)
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

// What must never be in a log line: anything shaped like a credential, and
// credential-named fields with a value that was not redacted.
export const SECRET_SHAPES = [
  ['a JWT (ID token, JWT access token, client assertion, logout token)', /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}/],
  ['an argon2 password hash', /\$argon2id?\$v=/],
  ['a PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['a private JWK member', /"(d|p|q|dp|dq|qi)":"[\w-]{20,}"/],
  ['a bearer or basic credential', /\b(Bearer|Basic)\s+[\w.~+/=-]{16,}/],
  ['a credential in a URL', /[?&](code|token|access_token|refresh_token|id_token|client_secret|password)=[^&\s"]{8,}/i],
  ['a session or interaction cookie value', /(_session|__Host-session|_interaction|_interaction_resume)(\.sig)?=[\w-]{10,}/],
  [
    'a credential field that was not redacted',
    /"(password|new_password|current_password|client_secret|client_assertion|access_token|refresh_token|id_token|code_verifier|otp|recovery_code|registration_access_token|cookie|authorization)":"(?!\[redacted\])[^"]+"/i,
  ],
];

/** The passwords the test suite signs in with: none may appear in any log. */
export const TEST_PASSWORDS = ['correct horse battery staple', 'a different horse battery staple', 'not the password at all', 'a brand new passphrase'];


export default async function globalTeardown() {
  const dir = process.env.GATEHOUSE_TEST_LOG_DIR;
  if (!dir) return;
  const files = (await readdir(dir)).filter((name) => name.endsWith('.log'));
  const leaks = [];
  let lines = 0;
  for (const name of files) {
    const text = await readFile(path.join(dir, name), 'utf8');
    text.split('\n').forEach((line, index) => {
      if (!line) return;
      lines += 1;
      for (const [what, shape] of SECRET_SHAPES) if (shape.test(line)) leaks.push(`  ${name}:${index + 1}: ${what}`);
      for (const value of TEST_PASSWORDS) if (line.includes(value)) leaks.push(`  ${name}:${index + 1}: a test password`);
    });
  }
  if (leaks.length) {
    throw new Error(`Secrets found in the logs of this test run (${leaks.length}; logs kept in ${dir}):\n${leaks.slice(0, 20).join('\n')}`);
  }
  process.stdout.write(`\nLog check: ${lines} log lines from ${files.length} app instances, no secret found.\n`);
  await rm(dir, { recursive: true, force: true });
}
