// Security-relevant protocol events, logged from oidc-provider's own event stream rather
// than by wrapping endpoints. Only identifiers are logged: never a token, code or secret.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.js';

/** Events that mean something was refused or revoked. */
const WARN_EVENTS = [
  'grant.error',
  'introspection.error',
  'revocation.error',
  'userinfo.error',
  'end_session.error',
  'backchannel.error',
] as const;

export function logProviderEvents(provider: Provider, logger: Logger): void {
  const context = (ctx: KoaContextWithOIDC | undefined) => ({
    requestId: ctx?.state?.requestId as string | undefined,
    clientId: ctx?.oidc?.client?.clientId,
    ip: ctx?.ip,
  });

  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) => {
    logger.error({ ...context(ctx), err: error }, 'oidc-provider server error');
  });
  for (const event of WARN_EVENTS) {
    // The typings list these events per overload; a loop needs the generic emitter form.
    (provider as unknown as NodeJS.EventEmitter).on(event, (ctx: KoaContextWithOIDC, error: { error?: string; error_description?: string }) => {
      logger.warn({ ...context(ctx), event, error: error?.error, reason: error?.error_description }, event);
    });
  }
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    logger.info({ ...context(ctx), event: 'grant.revoked', grantId }, 'grant revoked');
  });
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    logger.info({ ...context(ctx), event: 'end_session.success' }, 'signed out');
  });
}
