import { pino } from 'pino';

export type Logger = pino.Logger;

// Fields that may carry credentials, wherever they appear in a log object (at the top
// level or one object down, e.g. `body.password`): pino replaces their values before
// anything is written (checklist K4).
const SECRET_FIELDS = [
  'password',
  'new_password',
  'current_password',
  'client_secret',
  'secret',
  'client_assertion',
  'access_token',
  'refresh_token',
  'id_token',
  'logout_token',
  'token',
  'code_verifier',
  'otp',
  'recovery_code',
  'registration_access_token',
  'cookie',
  'authorization',
];
const REDACTED = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`]),
  // An authorization code; `err.code` (a database error's code) stays readable.
  'code',
  'params.code',
  'body.code',
  'query.code',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export function createLogger(options: { level: string; name?: string; stderr?: boolean; format?: 'json' | 'pretty'; file?: string }): Logger {
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
      : pino.destination(options.file ? { dest: options.file, sync: true, mkdir: true } : fd),
  );
}
