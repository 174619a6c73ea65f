// Anti-CSRF tokens for the interaction forms (ASVS 3.5.1). The interaction itself is
// already bound to the browser by oidc-provider's interaction cookie; the token adds a
// value a cross-site form cannot know: an HMAC of the interaction uid under a server key.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function createCsrf(key: string) {
  const tokenFor = (uid: string) => createHmac('sha256', key).update(`interaction:${uid}`).digest('base64url');
  return {
    tokenFor,
    verify(uid: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const expected = Buffer.from(tokenFor(uid));
      const actual = Buffer.from(token);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}

export type Csrf = ReturnType<typeof createCsrf>;
