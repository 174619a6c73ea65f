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

export function createLogger(options: { level: string; name?: string; stderr?: boolean; format?: 'json' | 'pretty' }): Logger {
  const fd = options.stderr ? 2 : 1;
  return pino(
    {
      name: options.name ?? 'gatehouse',
      level: options.level,
      redact: { paths: REDACTED, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Pretty printing runs in pino's worker thread, off the request path; the same
    // redaction applies before a line reaches it.
    options.format === 'pretty'
      ? pino.transport({ target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'name' } })
      : pino.destination(fd),
  );
}
