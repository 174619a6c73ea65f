import { pino } from 'pino';

export type Logger = pino.Logger;

// Paths that may carry credentials; pino replaces their values before anything is written.
const REDACTED = [
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'secret',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export function createLogger(options: { level: string; name?: string; stderr?: boolean }): Logger {
  return pino(
    {
      name: options.name ?? 'gatehouse',
      level: options.level,
      redact: { paths: REDACTED, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(options.stderr ? 2 : 1),
  );
}
