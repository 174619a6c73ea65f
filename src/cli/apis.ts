import type { Command } from 'commander';
import { AppError } from '../errors.js';
import { cliActor, printJson, withGatehouse } from './context.js';
import { collect } from './options.js';

export function registerApiCommands(program: Command): void {
  const api = program.command('api').description('manage APIs (resource servers) that accept JWT access tokens');

  api
    .command('create')
    .description('register an API and print it as JSON')
    .requiredOption('--identifier <uri>', 'resource indicator and token audience, e.g. https://api.example.com')
    .option('--name <name>', 'display name (defaults to the identifier)')
    .option('--scope <name[=description]>', 'a scope the API defines, with an optional description for the consent page (repeatable)', collect, [])
    .option('--ttl <seconds>', 'access token lifetime (defaults to ACCESS_TOKEN_TTL)')
    .option('--alg <alg>', 'signing algorithm: RS256 or ES256', 'RS256')
    .action(async (options: { identifier: string; name?: string; scope: string[]; ttl?: string; alg: string }) => {
      const scopes = options.scope.map((entry) => {
        const [name, ...description] = entry.split('=');
        return { name: name!.trim(), description: description.join('=').trim() };
      });
      const ttl = options.ttl === undefined ? undefined : Number(options.ttl);
      if (ttl !== undefined && !Number.isInteger(ttl)) throw new AppError('invalid_input', '--ttl must be a whole number of seconds.');
      printJson(await withGatehouse(({ services }) => services.apis.create({
        identifier: options.identifier,
        ...(options.name !== undefined ? { name: options.name } : {}),
        scopes,
        ...(ttl !== undefined ? { access_token_ttl: ttl } : {}),
        signing_alg: options.alg,
      }, cliActor())));
    });

  api
    .command('list')
    .description('list APIs as JSON')
    .action(async () => {
      printJson(await withGatehouse(({ services }) => services.apis.list({ limit: 200 })));
    });

  api
    .command('delete')
    .description('delete an API; no new tokens are issued for it')
    .requiredOption('--id <id>', 'the API id')
    .action(async (options: { id: string }) => {
      await withGatehouse(({ services }) => services.apis.delete(options.id, cliActor()));
      printJson({ deleted: options.id });
    });
}
