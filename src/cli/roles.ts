import type { Command } from 'commander';
import { cliActor, printJson, withGatehouse } from './context.js';

export function registerRoleCommands(program: Command): void {
  const role = program.command('role').description('manage roles (admin and admin:read are built in)');

  role
    .command('create')
    .description('create a role and print it as JSON')
    .requiredOption('--name <name>', 'role name: letters, digits, ":", ".", "_" or "-"')
    .option('--description <text>', 'what holding it means', '')
    .action(async (options: { name: string; description: string }) => {
      printJson(await withGatehouse(({ services }) => services.roles.create({ name: options.name, description: options.description }, cliActor())));
    });

  role
    .command('list')
    .description('list roles as JSON')
    .action(async () => {
      printJson(await withGatehouse(({ services }) => services.roles.list({ limit: 200 })));
    });

  role
    .command('delete')
    .description('delete a role; its holders lose it')
    .requiredOption('--name <name>', 'role name')
    .action(async (options: { name: string }) => {
      await withGatehouse(({ services }) => services.roles.delete(options.name, cliActor()));
      printJson({ deleted: options.name });
    });

  for (const [name, assign] of [['assign', true], ['remove', false]] as const) {
    role
      .command(name)
      .description(assign ? 'give a role to a user or a client' : 'take a role from a user or a client')
      .requiredOption('--name <name>', 'role name')
      .option('--user <id|email|username>', 'the user')
      .option('--client <id>', 'the client (service account)')
      .action(async (options: { name: string; user?: string; client?: string }) => {
        const roles = await withGatehouse(async ({ services }) => {
          if (options.client !== undefined) {
            return assign
              ? services.roles.assignToClient(options.client, options.name, cliActor())
              : services.roles.removeFromClient(options.client, options.name, cliActor());
          }
          const user = await services.accounts.find(options.user ?? '');
          return assign ? services.roles.assignToUser(user.id, options.name, cliActor()) : services.roles.removeFromUser(user.id, options.name, cliActor());
        });
        printJson({ roles });
      });
  }
}
