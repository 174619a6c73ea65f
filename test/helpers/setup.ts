// oidc-provider prints a NOTICE or WARNING when a setting that should be decided is left
// at its default. Tests treat each one as a failure, except the one about the Node.js
// version (Gatehouse supports Node 20, which oidc-provider 9 runs on with a warning).
import { afterAll, expect } from '@jest/globals';

const complaints: string[] = [];
for (const level of ['warn', 'info'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    const text = args.map(String).join(' ');
    if (/oidc-provider (WARNING|NOTICE)/.test(text)) {
      if (!/Unsupported runtime/.test(text)) complaints.push(text);
      return;
    }
    original(...args);
  };
}

afterAll(() => {
  expect(complaints).toEqual([]);
});
