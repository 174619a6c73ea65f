// Anti-CSRF tokens for the account forms (ASVS 3.5.1): an HMAC of the browser session's
// uid under a server key, so a token works only in the session it was issued to and a
// cross-site form cannot know it. Domain-separated from the interaction tokens.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function createAccountCsrf(key: string) {
  const tokenFor = (sessionUid: string) => createHmac('sha256', key).update(`account-session:${sessionUid}`).digest('base64url');
  return {
    tokenFor,
    verify(sessionUid: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const expected = Buffer.from(tokenFor(sessionUid));
      const actual = Buffer.from(token);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}

export type AccountCsrf = ReturnType<typeof createAccountCsrf>;
