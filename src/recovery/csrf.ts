// Anti-CSRF tokens for the password and email pages, which (unlike the sign-in pages) have
// no interaction to bind a token to. Each browser gets a random value in a signed,
// HttpOnly, SameSite=Lax cookie; its forms carry an HMAC of that value under a server
// key. A cross-site page can neither read the cookie nor compute the HMAC, and a value
// planted through a sibling subdomain fails the cookie signature.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

const VALUE = /^[A-Za-z0-9_-]{43}$/;

export function createFormCsrf(options: { key: string; secure: boolean }) {
  // __Host- (Secure, Path=/, no Domain) where https allows it.
  const cookie = options.secure ? '__Host-gatehouse.form' : 'gatehouse.form';
  const mac = (value: string) => createHmac('sha256', options.key).update(`recovery-form:${value}`).digest('base64url');
  const current = (ctx: Context) => {
    const value = ctx.cookies.get(cookie, { signed: true });
    return value && VALUE.test(value) ? value : undefined;
  };

  return {
    /** The token for this browser's forms; gives the browser its cookie if it has none. */
    tokenFor(ctx: Context): string {
      let value = current(ctx);
      if (!value) {
        value = randomBytes(32).toString('base64url');
        ctx.cookies.set(cookie, value, { signed: true, httpOnly: true, sameSite: 'lax', secure: options.secure, path: '/', overwrite: true });
      }
      return mac(value);
    },

    verify(ctx: Context, token: unknown): boolean {
      const value = current(ctx);
      if (!value || typeof token !== 'string') return false;
      const expected = Buffer.from(mac(value));
      const actual = Buffer.from(token);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}

export type FormCsrf = ReturnType<typeof createFormCsrf>;
