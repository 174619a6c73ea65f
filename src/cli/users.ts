import type { Command } from 'commander';
import { AppError } from '../errors.js';
import { printJson, withGatehouse } from './context.js';
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
    .option('--role <role>', 'role to assign (repeatable; created if missing)', collect, [])
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
      if (options.name !== undefined) claims = { ...claims, name: options.name };
      const created = await withGatehouse(({ services }) =>
        services.accounts.createUser({
          email: options.email,
          password,
          ...(options.username !== undefined ? { username: options.username } : {}),
          email_verified: options.emailVerified === true,
          roles: options.role,
          claims,
        }),
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
      printJson(await withGatehouse(({ services }) => services.accounts.setPassword(options.user, password)));
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    user
      .command(name)
      .description(disabled ? 'disable a user: no sign-in, and every session and token ends now' : 'enable a disabled user again')
      .requiredOption('--user <id|email|username>', 'the user')
      .action(async (options: { user: string }) => {
        printJson(await withGatehouse(({ services }) => services.accounts.setDisabled(options.user, disabled)));
      });
  }
}
