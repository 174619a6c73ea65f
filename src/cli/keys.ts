import type { Command } from 'commander';
import { viewKey } from '../services/keys.js';
import { cliActor, printJson, withGatehouse } from './context.js';

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage token signing keys');

  keys
    .command('list')
    .description('list signing keys (public parts and status) as JSON')
    .action(async () => {
      printJson({ items: (await withGatehouse(({ services }) => services.keys.list())).map(viewKey) });
    });

  keys
    .command('rotate')
    .description('make new signing keys current; the previous ones stay published until their tokens expire')
    .action(async () => {
      printJson({ items: (await withGatehouse(({ services }) => services.keys.rotate(cliActor()))).map(viewKey) });
    });
}
