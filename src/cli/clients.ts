import type { Command } from 'commander';
import { cliActor, printJson, withGatehouse } from './context.js';
import { collect } from './options.js';

// Output is the admin API's JSON for the same operation.
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
    .option('--role <role>', 'existing role the client holds for client-credentials tokens (repeatable)', collect, [])
    .option('--admin', 'an admin API client: holds the admin role (scopes admin and admin:read); client credentials unless redirect URIs are given')
    .option('--logo-uri <uri>', 'https URL of a logo for the consent page')
    .option('--api <uri>', 'registered API the client may get tokens for, with all its scopes (repeatable)', collect, [])
    .option('--default-resource <uri>', 'API whose tokens the client gets when a request names no resource (implies --api)')
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
      admin?: boolean;
      logoUri?: string;
      api: string[];
      defaultResource?: string;
    }) => {
      const scopes = options.scope.flatMap((value) => value.split(/\s+/)).filter(Boolean);
      const roles = [...options.role];
      const grantTypes = [...options.grantType];
      if (options.admin) {
        roles.push('admin');
        if (!options.redirectUri.length && !grantTypes.length) grantTypes.push('client_credentials');
        if (options.redirectUri.length && !grantTypes.includes('authorization_code')) grantTypes.push('authorization_code', 'refresh_token');
      }
      const scope = [...new Set(scopes)].join(' ');
      const apis = [...new Set([...options.api, ...(options.defaultResource ? [options.defaultResource] : [])])];
      const created = await withGatehouse(async ({ services }) =>
        services.clients.createClient({
          client_name: options.name,
          application_type: options.native ? 'native' : 'web',
          redirect_uris: options.redirectUri,
          post_logout_redirect_uris: options.postLogoutRedirectUri,
          ...(grantTypes.length ? { grant_types: [...new Set(grantTypes)] } : {}),
          ...(scope ? { scope } : {}),
          token_endpoint_auth_method: options.public ? 'none' : options.authMethod,
          first_party: options.firstParty === true,
          require_pkce: options.requirePkce,
          roles: [...new Set(roles)],
          ...(options.logoUri ? { logo_uri: options.logoUri } : {}),
          ...(apis.length ? { api_scopes: Object.fromEntries(await Promise.all(apis.map(async (uri) => [uri, ((await services.apis.resolve(uri))?.scopes ?? []).map((s) => s.name)]))) } : {}),
          ...(options.defaultResource ? { default_resource: options.defaultResource } : {}),
        }, cliActor()),
      );
      printJson(created);
    });

  client
    .command('list')
    .description('list clients as JSON (a page; pass --cursor for the next)')
    .option('--q <text>', 'substring of the name, or an exact client id')
    .option('--limit <n>', 'page size (at most 200)')
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action(async (options: { q?: string; limit?: string; cursor?: string }) => {
      printJson(await withGatehouse(({ services }) => services.clients.listClients(definedOnly(options))));
    });

  client
    .command('show')
    .description('print one client as JSON (never its secret)')
    .requiredOption('--client <id>', 'client_id')
    .action(async (options: { client: string }) => {
      printJson(await withGatehouse(({ services }) => services.clients.getClient(options.client)));
    });

  client
    .command('rotate-secret')
    .description('give a client a new secret (shown once); the old one works for --grace seconds')
    .requiredOption('--client <id>', 'client_id')
    .option('--grace <seconds>', 'how long the previous secret keeps working (at most 7 days)', '0')
    .action(async (options: { client: string; grace: string }) => {
      printJson(await withGatehouse(({ services }) =>
        services.clients.rotateSecret(options.client, { grace_period_seconds: Number(options.grace) }, cliActor())));
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    client
      .command(name)
      .description(disabled ? 'disable a client: it cannot authenticate, and its grants and tokens end now' : 'enable a disabled client')
      .requiredOption('--client <id>', 'client_id')
      .action(async (options: { client: string }) => {
        printJson(await withGatehouse(({ services }) => services.clients.updateClient(options.client, { disabled }, cliActor())));
      });
  }

  client
    .command('delete')
    .description('delete a client; its grants and tokens end now')
    .requiredOption('--client <id>', 'client_id')
    .action(async (options: { client: string }) => {
      await withGatehouse(({ services }) => services.clients.deleteClient(options.client, cliActor()));
      printJson({ deleted: options.client });
    });
}

export function definedOnly(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
