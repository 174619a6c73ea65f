// Security-relevant protocol events, logged from oidc-provider's own event stream rather
// than by wrapping endpoints. Only identifiers are logged: never a token, code or secret.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isDatabaseUnavailable } from '../db/errors.js';
import type { Logger } from '../logger.js';

/** Events that mean something was refused or revoked. */
const WARN_EVENTS = [
  'grant.error',
  'introspection.error',
  'revocation.error',
  'userinfo.error',
  'end_session.error',
  'backchannel.error',
  'registration_create.error',
  'registration_read.error',
  'registration_update.error',
  'registration_delete.error',
] as const;

interface EventError {
  error?: string;
  error_description?: string;
  /** oidc-provider's server-side detail, e.g. why a client assertion failed. */
  error_detail?: string;
  message?: string;
  cause?: { message?: string };
}

export function logProviderEvents(provider: Provider, logger: Logger): void {
  const context = (ctx: KoaContextWithOIDC | undefined) => ({
    requestId: ctx?.state?.requestId as string | undefined,
    clientId: ctx?.oidc?.client?.clientId,
    ip: ctx?.ip,
  });

  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) => {
    // An unreachable database is an outage the request is answered 503 for (app.ts), not a
    // fault in the code: one line, without a stack, for each such request.
    if (isDatabaseUnavailable(error)) {
      logger.warn({ ...context(ctx), reason: error.message }, 'database unavailable');
      return;
    }
    logger.error({ ...context(ctx), err: error }, 'oidc-provider server error');
  });
  for (const event of WARN_EVENTS) {
    // The typings list these events per overload; a loop needs the generic emitter form.
    (provider as unknown as NodeJS.EventEmitter).on(event, (ctx: KoaContextWithOIDC, error: EventError) => {
      // A plain Error (a failed back-channel call, a refused outbound fetch) has only its message.
      const detail = error?.error_detail ?? (error?.error ? undefined : error?.message);
      logger.warn({ ...context(ctx), event, error: error?.error, reason: error?.error_description, detail, cause: error?.cause?.message }, event);
    });
  }
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    logger.info({ ...context(ctx), event: 'grant.revoked', grantId }, 'grant revoked');
  });
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const userAgent = ctx.get('user-agent') || undefined;
    logger.info({ ...context(ctx), event: 'end_session.success', userId: ctx.oidc.session?.accountId, userAgent }, 'signed out');
  });
}
