// `gatehouse` command line: the same store and rules as the server.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { StoreLockedError } from '../db/store-lock.js';
import { migrate } from '../db/migrate.js';
import { AppError } from '../errors.js';
import { registerApiCommands } from './apis.js';
import { registerClientCommands } from './clients.js';
import { registerConfigCommands } from './config.js';
import { printJson, withDatabase } from './context.js';
import { registerKeyCommands } from './keys.js';
import { registerRegistrationCommands } from './registration.js';
import { registerRoleCommands } from './roles.js';
import { registerSecretCommands } from './secrets.js';
import { registerUserCommands } from './users.js';

const program = new Command('gatehouse')
  .description('Gatehouse identity provider administration')
  .showHelpAfterError()
  .exitOverride();

program
  .command('migrate')
  .description('apply pending database migrations (the server also does this at start)')
  .action(async () => {
    printJson(await withDatabase((db) => migrate(db)));
  });

registerUserCommands(program);
registerClientCommands(program);
registerRoleCommands(program);
registerApiCommands(program);
registerKeyCommands(program);
registerRegistrationCommands(program);
registerConfigCommands(program);
registerSecretCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}

function report(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof AppError) {
    process.stderr.write(`gatehouse: ${error.message}\n`);
    for (const field of error.fields) process.stderr.write(`  ${field.field}: ${field.message}\n`);
    return 2;
  }
  if (error instanceof ConfigError || error instanceof StoreLockedError) {
    process.stderr.write(`gatehouse: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`gatehouse: failed: ${(error as Error)?.message ?? String(error)}\n`);
  return 1;
}
