// The account area's notion of "signed in", for the passkey endpoints under
// /account/passkeys: Gatehouse's browser session (the one oidc-provider keeps), the
// account pages' CSRF token (account/csrf.ts, bound to the session), and the recent
// sign-in that credential changes need (account/router.ts).
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountCsrf } from '../account/csrf.js';
import { RECENT_SIGN_IN_SECONDS } from '../account/router.js';
import type { UserRecord } from '../stores/users.js';
import type { AccountGate } from './router.js';

interface SignedIn {
  user: UserRecord;
  sessionUid: string;
  loginTs: number;
}

export function accountSessionGate(deps: {
  provider: Provider;
  findUser(id: string): Promise<UserRecord | undefined>;
  csrf: AccountCsrf;
}): AccountGate {
  /** Looked up once per request. */
  async function signedIn(ctx: Context): Promise<SignedIn | undefined> {
    if (ctx.state.passkeyAccount !== undefined) return ctx.state.passkeyAccount as SignedIn | undefined;
    let current: SignedIn | undefined;
    const sessionId = ctx.cookies.get(deps.provider.cookieName('session'), { signed: true });
    const session = sessionId ? await deps.provider.Session.find(sessionId) : undefined;
    if (session?.accountId) {
      const user = await deps.findUser(session.accountId);
      if (user && !user.disabled) current = { user, sessionUid: session.uid, loginTs: session.loginTs ?? 0 };
    }
    ctx.state.passkeyAccount = current;
    return current;
  }

  return {
    async currentUser(ctx) {
      const current = await signedIn(ctx);
      return current && { user: current.user, sessionUid: current.sessionUid, recentSignIn: Math.floor(Date.now() / 1000) - current.loginTs <= RECENT_SIGN_IN_SECONDS };
    },
    async verifyCsrf(ctx, token) {
      const current = await signedIn(ctx);
      return Boolean(current) && deps.csrf.verify(current!.sessionUid, token);
    },
  };
}
