import type { Command } from 'commander';
import { printJson, withGatehouse } from './context.js';
import { collect } from './options.js';

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('manage OAuth/OIDC clients');

  client
    .command('create')
    .description('register a client and print it as JSON, with its secret (shown only this once)')
    .requiredOption('--name <name>', 'display name shown on the consent page')
    .option('--redirect-uri <uri>', 'redirect URI (repeatable; exact match)', collect, [])
    .option('--post-logout-redirect-uri <uri>', 'where RP-initiated logout may return (repeatable)', collect, [])
    .option('--grant-type <type>', 'authorization_code, refresh_token or client_credentials (repeatable)', collect, [])
    .option('--scope <scope>', 'scope the client may request (repeatable, or space-separated)', collect, [])
    .option('--public', 'public client (no secret; PKCE always required), e.g. a SPA or mobile app')
    .option('--auth-method <method>', 'token endpoint auth method for confidential clients', 'client_secret_basic')
    .option('--native', 'native application (custom-scheme and loopback redirect URIs)')
    .option('--first-party', 'trusted first-party application: never shows the consent page')
    .option('--no-require-pkce', 'let a confidential legacy client skip PKCE (public clients always use it)')
    .option('--role <role>', 'role the client holds for client-credentials tokens (repeatable)', collect, [])
    .option('--logo-uri <uri>', 'https URL of a logo for the consent page')
    .action(async (options: {
      name: string;
      redirectUri: string[];
      postLogoutRedirectUri: string[];
      grantType: string[];
      scope: string[];
      public?: boolean;
      authMethod: string;
      native?: boolean;
      firstParty?: boolean;
      requirePkce: boolean;
      role: string[];
      logoUri?: string;
    }) => {
      const scope = options.scope.flatMap((value) => value.split(/\s+/)).filter(Boolean).join(' ');
      const created = await withGatehouse(({ services }) =>
        services.clients.createClient({
          client_name: options.name,
          application_type: options.native ? 'native' : 'web',
          redirect_uris: options.redirectUri,
          post_logout_redirect_uris: options.postLogoutRedirectUri,
          ...(options.grantType.length ? { grant_types: options.grantType } : {}),
          ...(scope ? { scope } : {}),
          token_endpoint_auth_method: options.public ? 'none' : options.authMethod,
          first_party: options.firstParty === true,
          require_pkce: options.requirePkce,
          roles: options.role,
          ...(options.logoUri ? { logo_uri: options.logoUri } : {}),
        }),
      );
      printJson({ ...created.client, ...(created.client_secret ? { client_secret: created.client_secret } : {}) });
    });
}
