import type { Command } from 'commander';
import { cliActor, printJson, withGatehouse } from './context.js';

export function registerRegistrationCommands(program: Command): void {
  const tokens = program.command('registration-token').description('initial access tokens for dynamic client registration (POST /reg)');

  tokens
    .command('create')
    .description('issue an initial access token and print it as JSON (the token is shown only this once)')
    .option('--expires-in <seconds>', 'lifetime, 60 s to 30 days', String(24 * 3600))
    .action(async (options: { expiresIn: string }) => {
      printJson(await withGatehouse(({ services }) => services.registrationTokens.create({ expires_in: Number(options.expiresIn) }, cliActor())));
    });

  tokens
    .command('list')
    .description('list live initial access tokens (never their values)')
    .action(async () => {
      printJson(await withGatehouse(({ services }) => services.registrationTokens.list({ limit: 200 })));
    });

  tokens
    .command('revoke')
    .description('revoke an initial access token by its id')
    .requiredOption('--id <id>', 'the id from create or list')
    .action(async (options: { id: string }) => {
      await withGatehouse(({ services }) => services.registrationTokens.revoke(options.id, cliActor()));
      printJson({ revoked: options.id });
    });

  program
    .command('audit')
    .description('print the audit trail as JSON, newest first')
    .option('--action <action>', 'e.g. client.create')
    .option('--actor <id>', 'actor id')
    .option('--target-id <id>', 'target id')
    .option('--limit <n>', 'page size (at most 200)')
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action(async (options: { action?: string; actor?: string; targetId?: string; limit?: string; cursor?: string }) => {
      const query = Object.fromEntries(Object.entries({
        action: options.action, actor: options.actor, target_id: options.targetId, limit: options.limit, cursor: options.cursor,
      }).filter(([, value]) => value !== undefined));
      printJson(await withGatehouse(({ services }) => services.audit.list(query)));
    });
}
