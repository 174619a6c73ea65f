import type { Command } from 'commander';
import { loadConfig, readSettings, settings } from '../config.js';
import { printJson } from './context.js';

const SECRET_SETTINGS = new Set(['SECRET_KEY', 'SECRET_KEY_PREVIOUS', 'COOKIE_KEYS', 'DATABASE_URL', 'SMTP_URL']);

export function registerConfigCommands(program: Command): void {
  program
    .command('config')
    .description('inspect the configuration')
    .command('check')
    .description('validate the settings from the environment (and CONFIG_FILE) exactly as the server does at start; print the effective values (secrets masked)')
    .action(() => {
      // Throws ConfigError (one line per wrong setting, exit 1) just like the server.
      loadConfig();
      const values = readSettings();
      const effective = Object.fromEntries(
        Object.keys(settings).map((name) => {
          const raw = values[name];
          if (raw === undefined || raw === '') return [name, '(default)'];
          return [name, SECRET_SETTINGS.has(name) ? '(set)' : raw];
        }),
      );
      printJson({ valid: true, settings: effective });
    });
}
