// Who is calling the admin API. The only credential is an access token Gatehouse itself
// issued for the admin API's audience: client credentials for automation, or a user's
// token obtained through a login for people (checklist G1). No API keys, no cookies, so
// no CSRF. Tokens are opaque and looked up on every call, so revoking one, deleting its
// client or taking a role away takes effect at once.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../errors.js';
import type { AccountService } from '../services/accounts.js';
import { adminScopesFor } from '../services/roles.js';
import type { AuditActor } from '../stores/audit.js';

export type AdminScope = 'admin' | 'admin:read';

export interface AdminPrincipal {
  actor: AuditActor;
  /** The admin scopes the token carries and its holder still has the roles for. */
  scopes: ReadonlySet<string>;
}

const REALM = 'gatehouse-admin';
const TOKEN_SHAPE = /^[A-Za-z0-9\-._~+/]+=*$/;

function challenge(error?: { code: string; description: string; scope?: string }): string {
  if (!error) return `Bearer realm="${REALM}"`;
  return `Bearer realm="${REALM}", error="${error.code}", error_description="${error.description}"${error.scope ? `, scope="${error.scope}"` : ''}`;
}

function unauthorized(description: string | undefined): AppError {
  // No credentials at all: a bare challenge (RFC 6750 §3.1); a bad one: invalid_token.
  return new AppError('unauthorized', description ?? 'Send an admin API access token: Authorization: Bearer <token>.', [], {
    'WWW-Authenticate': challenge(description ? { code: 'invalid_token', description } : undefined),
  });
}

export function insufficientScope(required: AdminScope): AppError {
  return new AppError('forbidden', `This operation needs the ${required} scope.`, [], {
    'WWW-Authenticate': challenge({ code: 'insufficient_scope', description: `the ${required} scope is required`, scope: required }),
  });
}

export function hasScope(principal: AdminPrincipal, required: AdminScope): boolean {
  // admin includes everything admin:read allows.
  return principal.scopes.has(required) || (required === 'admin:read' && principal.scopes.has('admin'));
}

export function createAdminAuthenticator(deps: { provider: Provider; accounts: AccountService; audience: string }) {
  const { provider, accounts, audience } = deps;

  return async function authenticate(ctx: Context): Promise<AdminPrincipal> {
    const header = ctx.get('authorization');
    if (!header) throw unauthorized(undefined);
    const [scheme, value, ...rest] = header.trim().split(/\s+/);
    if (scheme?.toLowerCase() !== 'bearer' || !value || rest.length || value.length > 4096 || !TOKEN_SHAPE.test(value)) {
      throw unauthorized('the Authorization header must be "Bearer <token>"');
    }

    const token = (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
    if (!token || token.isExpired) throw unauthorized('the access token is invalid, expired or revoked');
    const aud = (token as { aud?: unknown }).aud;
    if (aud !== audience && !(Array.isArray(aud) && aud.includes(audience))) {
      throw unauthorized(`the access token is not for the admin API (audience ${audience})`);
    }
    // Sender-constrained tokens need their proof, which this API does not take.
    if ((token as { jkt?: unknown }).jkt || (token as { 'x5t#S256'?: unknown })['x5t#S256']) {
      throw unauthorized('sender-constrained tokens are not accepted by the admin API');
    }
    const client = await provider.Client.find(String(token.clientId));
    if (!client) throw unauthorized('the client this token was issued to no longer exists or is disabled');

    const granted = new Set(String(token.scope ?? '').split(' ').filter(Boolean));
    const forwarded = {
      ip: ctx.ip,
      userAgent: ctx.get('user-agent') || undefined,
      requestId: typeof ctx.state.requestId === 'string' ? ctx.state.requestId : undefined,
    };

    if (token.kind === 'ClientCredentials') {
      const roles = (client['gatehouse_roles'] as string[] | undefined) ?? [];
      return {
        actor: { type: 'client', id: client.clientId, ...forwarded },
        scopes: new Set(adminScopesFor(roles).filter((scope) => granted.has(scope))),
      };
    }

    const accountId = (token as { accountId?: string }).accountId;
    const user = accountId ? await accounts.findById(accountId) : undefined;
    if (!user || user.disabled) throw unauthorized('the user this token was issued to no longer exists or is disabled');
    return {
      actor: { type: 'user', id: user.id, clientId: client.clientId, ...forwarded },
      scopes: new Set(adminScopesFor(user.roles).filter((scope) => granted.has(scope))),
    };
  };
}

export type AdminAuthenticator = ReturnType<typeof createAdminAuthenticator>;
