// The running version, from package.json (read once at start).
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };

export const APP_VERSION = typeof manifest.version === 'string' ? manifest.version : '0.0.0';
