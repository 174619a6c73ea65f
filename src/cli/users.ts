import type { Command } from 'commander';
import { AppError } from '../errors.js';
import { definedOnly } from './clients.js';
import { cliActor, printJson, withGatehouse } from './context.js';
import { collect, readStdin } from './options.js';

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage users');

  user
    .command('create')
    .description('create a user and print it as JSON (never the password hash)')
    .requiredOption('--email <email>', 'email address (unique)')
    .option('--password <password>', 'password (visible in your shell history; prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--username <username>', 'optional unique username to sign in with')
    .option('--name <name>', 'full name (the `name` claim)')
    .option('--role <role>', 'existing role to assign (repeatable; see `gatehouse role create`)', collect, [])
    .option('--claims <json>', 'further standard claims as a JSON object, e.g. \'{"given_name":"Ada","phone_number":"+1 555"}\'')
    .option('--email-verified', 'mark the email address as verified')
    .action(async (options: {
      email: string;
      password?: string;
      passwordStdin?: boolean;
      username?: string;
      name?: string;
      role: string[];
      claims?: string;
      emailVerified?: boolean;
    }) => {
      const password = options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : options.password;
      if (password === undefined) throw new AppError('invalid_input', 'Give a password with --password or --password-stdin.');
      let claims: Record<string, unknown> = {};
      if (options.claims !== undefined) {
        try {
          claims = JSON.parse(options.claims) as Record<string, unknown>;
        } catch {
          throw new AppError('invalid_input', '--claims must be a JSON object.');
        }
        if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw new AppError('invalid_input', '--claims must be a JSON object.');
      }
      const created = await withGatehouse(({ services }) =>
        services.accounts.createUser({
          email: options.email,
          password,
          ...(options.username !== undefined ? { username: options.username } : {}),
          ...(options.name !== undefined ? { name: options.name } : {}),
          email_verified: options.emailVerified === true,
          roles: options.role,
          claims,
        }, cliActor()),
      );
      printJson(created);
    });

  user
    .command('set-password')
    .description('set a new password; the user is signed out everywhere and their tokens are revoked')
    .requiredOption('--user <id|email|username>', 'the user')
    .option('--password <password>', 'new password (visible in your shell history; prefer --password-stdin)')
    .option('--password-stdin', 'read the new password from standard input')
    .action(async (options: { user: string; password?: string; passwordStdin?: boolean }) => {
      const password = options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : options.password;
      if (password === undefined) throw new AppError('invalid_input', 'Give a password with --password or --password-stdin.');
      printJson(await withGatehouse(({ services }) => services.accounts.setPassword(options.user, { password }, cliActor())));
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    user
      .command(name)
      .description(disabled ? 'disable a user: no sign-in, and every session and token ends now' : 'enable a disabled user again')
      .requiredOption('--user <id|email|username>', 'the user')
      .action(async (options: { user: string }) => {
        printJson(await withGatehouse(({ services }) => services.accounts.setDisabled(options.user, disabled, cliActor())));
      });
  }

  user
    .command('unlock')
    .description('lift a sign-in lock caused by repeated failed attempts, and forget those attempts')
    .requiredOption('--user <id|email|username>', 'the user')
    .action(async (options: { user: string }) => {
      printJson(await withGatehouse(({ services }) => services.lockouts.unlock(options.user, cliActor())));
    });

  user
    .command('reset-mfa')
    .description('remove a user\'s second factor (authenticator app and recovery codes), e.g. after a lost phone')
    .requiredOption('--user <id|email|username>', 'the user')
    .action(async (options: { user: string }) => {
      const id = await withGatehouse(async ({ services }) => {
        const found = await services.accounts.find(options.user);
        await services.mfa.reset(found.id, cliActor());
        return found.id;
      });
      printJson({ mfa_reset: id });
    });

  user
    .command('list')
    .description('list or search users as JSON (a page; pass --cursor for the next)')
    .option('--q <text>', 'substring of the email address or username')
    .option('--role <role>', 'holders of this role')
    .option('--limit <n>', 'page size (at most 200)')
    .option('--cursor <cursor>', 'next_cursor of the previous page')
    .action(async (options: { q?: string; role?: string; limit?: string; cursor?: string }) => {
      printJson(await withGatehouse(({ services }) => services.accounts.listUsers(definedOnly(options))));
    });

  user
    .command('show')
    .description('print one user as JSON')
    .requiredOption('--user <id|email|username>', 'the user')
    .action(async (options: { user: string }) => {
      printJson(await withGatehouse(async ({ services }) => services.accounts.getUser((await services.accounts.find(options.user)).id)));
    });

  user
    .command('delete')
    .description('delete a user; their sessions and tokens end now')
    .requiredOption('--user <id|email|username>', 'the user')
    .action(async (options: { user: string }) => {
      const id = await withGatehouse(async ({ services }) => {
        const found = await services.accounts.find(options.user);
        await services.accounts.deleteUser(found.id, cliActor());
        return found.id;
      });
      printJson({ deleted: id });
    });
}
