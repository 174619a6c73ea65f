// The only module that reads process.env. Every setting is declared here once, with its
// default and a description (the README's configuration table is checked against this
// list), parsed and validated at start, and handed around as a frozen object.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { contrastRatio, WCAG_AA_NORMAL_TEXT } from './util/contrast.js';

const durationSeconds = (fallback: number, max = 10 * 365 * 24 * 3600) => z.coerce.number().int().positive().max(max).default(fallback);

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname !== '' && !url.username && !url.password;
  } catch {
    return false;
  }
}

export const settings = {
  CONFIG_FILE: {
    schema: z.string().min(1).optional(),
    doc: 'Path of a file of `NAME=value` lines (dotenv syntax) holding any of these settings; a setting in the environment wins over the file.',
  },
  NODE_ENV: {
    schema: z.enum(['development', 'production', 'test']).default('development'),
    doc: '`production` refuses to start without explicit secrets and an https issuer.',
  },
  PORT: { schema: z.coerce.number().int().min(0).max(65535).default(3000), doc: 'TCP port to listen on.' },
  HOST: { schema: z.string().min(1).default('0.0.0.0'), doc: 'Address to bind.' },
  ISSUER: {
    schema: z.url().optional(),
    doc: 'Public issuer URL, exactly as clients see it (no trailing slash). Default `http://localhost:$PORT`. Must be https in production.',
  },
  DATA_DIR: {
    schema: z.string().min(1).default('./data'),
    doc: 'Folder of the embedded PostgreSQL (PGlite) store and, in development, generated secrets.',
  },
  DATABASE_URL: {
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// connection string')
      .optional(),
    doc: 'PostgreSQL connection string. When set, Gatehouse uses this server instead of the embedded store.',
  },
  DATABASE_POOL_MAX: { schema: z.coerce.number().int().min(1).max(200).default(10), doc: 'Maximum PostgreSQL connections per instance.' },
  DATABASE_CONNECT_TIMEOUT: {
    schema: durationSeconds(5, 300),
    doc: 'With `DATABASE_URL`: seconds a request waits for a PostgreSQL connection (a free one from the pool, or a new one) before it gets HTTP 503 with `Retry-After`.',
  },
  DATABASE_STATEMENT_TIMEOUT: {
    schema: durationSeconds(15, 3600),
    doc: 'With `DATABASE_URL`: seconds one SQL statement may run, lock waits included, before PostgreSQL cancels it; Gatehouse itself gives up on an answer one second later (a slow network). The request gets HTTP 503 with `Retry-After`.',
  },
  SECRET_KEY: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9+/_-]{43,}={0,2}$/, 'must be at least 32 random bytes, base64 or base64url encoded')
      .optional(),
    doc: 'Key that encrypts private signing keys and client secrets at rest (32+ random bytes, base64). Required in production; generated into `DATA_DIR` in development. Generate one with `openssl rand -base64 32`.',
  },
  SECRET_KEY_PREVIOUS: {
    schema: z
      .string()
      .transform((value) => value.split(',').map((key) => key.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[A-Za-z0-9+/_-]{43,}={0,2}$/, 'each key must be at least 32 random bytes, base64 or base64url encoded')))
      .optional(),
    doc: 'Comma-separated earlier values of `SECRET_KEY`, during a key rotation: data sealed under them still opens, new data is sealed under `SECRET_KEY`. Drop them once `gatehouse secrets reseal` has run.',
  },
  COOKIE_KEYS: {
    schema: z
      .string()
      .transform((value) => value.split(',').map((key) => key.trim()).filter(Boolean))
      .pipe(z.array(z.string().min(32, 'each cookie key needs at least 32 characters')).min(1))
      .optional(),
    doc: 'Comma-separated keys that sign cookies, newest first (older keys still verify). Required in production; generated into `DATA_DIR` in development.',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'Log verbosity.',
  },
  LOG_FORMAT: {
    schema: z.enum(['json', 'pretty']).optional(),
    doc: '`json` (one object per line, for log shippers) or `pretty` (coloured, for people). Default `pretty` in development, `json` otherwise.',
  },
  TRUST_PROXY: {
    schema: booleanFlag.default(false),
    doc: 'Trust `X-Forwarded-*` headers (set only when a reverse proxy you control terminates TLS in front of Gatehouse).',
  },
  AUTHORIZATION_CODE_TTL: { schema: durationSeconds(60), doc: 'Authorization code lifetime, seconds.' },
  ACCESS_TOKEN_TTL: { schema: durationSeconds(900, 3600), doc: 'Access token lifetime, seconds (at most 3600).' },
  CLIENT_CREDENTIALS_TTL: { schema: durationSeconds(600, 3600), doc: 'Client-credentials access token lifetime, seconds (at most 3600).' },
  ID_TOKEN_TTL: { schema: durationSeconds(3600), doc: 'ID token lifetime, seconds.' },
  REFRESH_TOKEN_TTL: {
    schema: durationSeconds(14 * 24 * 3600),
    doc: 'Refresh token lifetime, seconds: rotation issues a new token that keeps the first token\'s absolute expiry.',
  },
  SESSION_TTL: { schema: durationSeconds(14 * 24 * 3600), doc: 'Absolute sign-in session lifetime at Gatehouse, seconds from the last sign-in, however active the session.' },
  SESSION_IDLE_TTL: { schema: durationSeconds(24 * 3600), doc: 'A sign-in session unused for this many seconds ends (idle timeout).' },
  GRANT_TTL: { schema: durationSeconds(14 * 24 * 3600), doc: 'Lifetime of a grant (the record tokens hang off), seconds.' },
  INTERACTION_TTL: { schema: durationSeconds(1800), doc: 'Time a user has to finish a login or consent page, seconds.' },
  DEVICE_CODE_TTL: {
    schema: durationSeconds(600, 1800),
    doc: 'Device authorization grant (RFC 8628): seconds a device code and its user code stay valid (at most 1800).',
  },
  DEVICE_USER_CODE_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(10),
    doc: 'User codes (device sign-in, `POST /device`) one IP address may submit per minute, right or wrong (HTTP 429 beyond).',
  },
  CLIENT_CACHE_TTL: {
    schema: z.coerce.number().int().min(0).max(3600).default(30),
    doc: 'Seconds a loaded client is reused before it is read from the database again (0 disables the cache).',
  },
  METRICS_TOKEN: {
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    doc: 'When set, `GET /metrics` requires `Authorization: Bearer <this value>`.',
  },
  ADMIN_PORT: {
    schema: z.coerce.number().int().min(0).max(65535).optional(),
    doc: 'When set, the admin API (`/admin/...`) listens on this port only and is not served on the public port.',
  },
  ADMIN_HOST: {
    schema: z.string().min(1).default('127.0.0.1'),
    doc: 'Address the separate admin listener binds (with `ADMIN_PORT`); loopback by default.',
  },
  ADMIN_CORS_ORIGINS: {
    schema: z
      .string()
      .transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean))
      .pipe(z.array(z.url().regex(/^https?:\/\/[^/]+$/, 'each origin is scheme://host[:port] with no path')))
      .default([]),
    doc: 'Comma-separated browser origins allowed to call the admin API (CORS). None by default.',
  },
  ADMIN_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(120),
    doc: 'Admin API changes one client or user may make per minute (HTTP 429 beyond).',
  },
  ADMIN_IP_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(600),
    doc: 'Admin API requests one IP address may make per minute, authenticated or not (HTTP 429 beyond).',
  },
  KEY_ROTATION_INTERVAL: {
    schema: z.coerce.number().int().min(0).default(30 * 24 * 3600),
    doc: 'Seconds between automatic signing key rotations (0: rotate only by `gatehouse keys rotate` or the admin API).',
  },
  KEY_REFRESH_INTERVAL: {
    schema: z.coerce.number().int().min(1).max(3600).default(60),
    doc: 'Seconds between each instance\'s checks of the key set: the longest a rotation made elsewhere takes to reach it if its change notice is lost.',
  },
  JWKS_MAX_AGE: {
    schema: z.coerce.number().int().min(0).max(86400).default(300),
    doc: 'Seconds verifiers may cache the JWKS (`Cache-Control: max-age`); retired keys stay published at least this long after their last token expires.',
  },
  REGISTRATION_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(20),
    doc: 'Dynamic client registrations (`POST /reg`) one IP address may make per minute (HTTP 429 beyond).',
  },
  TRUSTED_PROXIES: {
    schema: z
      .string()
      .transform((value) => value.split(',').map((entry) => entry.trim()).filter(Boolean))
      .pipe(z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()], 'each entry is an IP address or CIDR range')))
      .default(['127.0.0.1', '::1']),
    doc: 'With `TRUST_PROXY=true`: comma-separated addresses or CIDR ranges of the proxies whose `X-Forwarded-*` headers are believed. From any other peer those headers are ignored.',
  },
  TLS_CERT_FILE: {
    schema: z.string().min(1).optional(),
    doc: 'PEM certificate chain: with `TLS_KEY_FILE`, Gatehouse serves HTTPS itself (TLS 1.2 or newer) instead of plain HTTP.',
  },
  TLS_KEY_FILE: { schema: z.string().min(1).optional(), doc: 'PEM private key of `TLS_CERT_FILE`.' },
  REDIS_URL: {
    schema: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    doc: 'When set, rate-limit and lockout counters live in this Redis instead of PostgreSQL (both are shared by every instance).',
  },
  TOKEN_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(1800),
    doc: 'Token endpoint requests one client may make per minute (HTTP 429 beyond).',
  },
  TOKEN_IP_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(3000),
    doc: 'Token, introspection and revocation requests one IP address may make per minute.',
  },
  INTROSPECTION_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(6000),
    doc: 'Introspection and revocation requests one client may make per minute.',
  },
  AUTHORIZATION_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(300),
    doc: 'Authorization requests (`/auth`) one IP address may make per minute.',
  },
  LOGIN_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(30),
    doc: 'Sign-in form submissions one IP address may make per minute, right or wrong.',
  },
  LOGIN_LOCKOUT_THRESHOLD: {
    schema: z.coerce.number().int().min(1).max(100).default(10),
    doc: 'Failed sign-ins for one account name (within `LOGIN_FAILURE_WINDOW`) that lock it for `LOGIN_LOCKOUT_SECONDS`.',
  },
  LOGIN_LOCKOUT_SECONDS: {
    schema: z.coerce.number().int().min(1).max(86400).default(60),
    doc: 'First lock duration, seconds; each further failure after a lock doubles it, up to `LOGIN_LOCKOUT_MAX_SECONDS`.',
  },
  LOGIN_LOCKOUT_MAX_SECONDS: {
    schema: z.coerce.number().int().min(1).max(86400).default(900),
    doc: 'Longest lock, seconds. Locks are never permanent; admins can unlock earlier.',
  },
  LOGIN_FAILURE_WINDOW: {
    schema: z.coerce.number().int().min(60).max(7 * 86400).default(12 * 3600),
    doc: 'Seconds after an account name\'s first failure at which its failure count starts over.',
  },
  LOGIN_IP_FAILURE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(100),
    doc: 'Failed sign-ins from one IP address per hour, over all account names, before that address is refused (credential stuffing).',
  },
  HASH_CONCURRENCY: {
    schema: z.coerce.number().int().min(1).max(64).default(4),
    doc: 'Password hashes (argon2id) computed at once; each holds about 19 MiB while it runs. Further sign-ins wait in the queue (`HASH_QUEUE_LIMIT`).',
  },
  HASH_QUEUE_LIMIT: {
    schema: z.coerce.number().int().min(0).max(10_000).default(256),
    doc: 'Sign-ins that may wait for a hashing slot; beyond, HTTP 503 with `Retry-After` instead of unbounded memory (0: no waiting).',
  },
  HEADERS_TIMEOUT: {
    schema: z.coerce.number().int().min(1).max(300).default(20),
    doc: 'Seconds a client has to send the request headers; a slower one is disconnected (slow-client protection).',
  },
  REQUEST_TIMEOUT: {
    schema: z.coerce.number().int().min(1).max(600).default(30),
    doc: 'Seconds a client has to send a whole request, body included (at least `HEADERS_TIMEOUT`).',
  },
  PURGE_INTERVAL: {
    schema: z.coerce.number().int().min(0).default(600),
    doc: 'Seconds between purges of expired artifacts (0 disables the purge).',
  },
  SMTP_URL: {
    schema: z
      .url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' })
      .refine((value) => {
        const url = new URL(value);
        const names = [...url.searchParams.keys()];
        return url.hostname !== '' && names.every((name) => name === 'tls') && ['starttls', 'none', null].includes(url.searchParams.get('tls'))
          && !(url.protocol === 'smtps:' && url.searchParams.has('tls'));
      }, 'must name a host; the only query parameter is tls=starttls or tls=none, and only on smtp:// URLs')
      .optional(),
    doc: 'SMTP server for password-reset and verification mail: `smtps://user:pass@host:465` (TLS from the start) or `smtp://user:pass@host:587` (STARTTLS required; `?tls=none` sends in plain text, for a relay on the same host). Certificates are always verified.',
  },
  MAIL_FROM: {
    schema: z
      .string()
      .max(320)
      .regex(/^[^\r\n]*@[^\r\n]+$/, 'must be an address like `Gatehouse <no-reply@example.com>`')
      .optional(),
    doc: 'Sender of Gatehouse\'s mail. Default `Gatehouse <no-reply@ISSUER host>`.',
  },
  MAIL_DIR: {
    schema: z.string().min(1).optional(),
    doc: 'Without `SMTP_URL`, outside production: folder where mail is written as `.eml` files instead of being sent. Default `DATA_DIR/mail`.',
  },
  PASSWORD_RESET_RATE_LIMIT: {
    schema: z.coerce.number().int().min(1).default(20),
    doc: 'Password-reset requests (`POST /password/forgot`) one IP address may make per hour (HTTP 429 beyond); one email address gets at most 5 messages an hour whatever the limit.',
  },
  BRAND_NAME: {
    schema: z.string().trim().min(1).max(60).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters').default('Gatehouse'),
    doc: 'Product name on every page (titles, headings, sign-out), in authenticator apps (the TOTP issuer) and in mail subjects.',
  },
  BRAND_LOGO_URL: {
    schema: z
      .string()
      .max(2000)
      .refine((value) => (/^\/assets\/[\w./-]+$/.test(value) && !value.includes('..')) || isHttpsUrl(value), 'must be an https:// URL or a path under /assets/')
      .optional(),
    doc: 'Logo shown at the top of every page: an `https://` URL or a path under `/assets/` of this origin (served by your proxy). None by default.',
  },
  BRAND_PRIMARY_COLOR: {
    schema: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour written #rrggbb').transform((value) => value.toLowerCase()).default('#1f5fbf'),
    doc: 'Accent colour of the pages (buttons, links), `#rrggbb`. White button text on it must reach WCAG AA contrast (4.5:1), or start-up is refused.',
  },
  BRAND_SUPPORT_URL: {
    schema: z.string().max(2000).refine(isHttpsUrl, 'must be an https:// URL').optional(),
    doc: 'Link to your help or support page, shown in the footer of every page. None by default.',
  },
  OUTBOUND_TEST_CA_FILE: {
    schema: z.string().min(1).optional(),
    doc: 'Tests only (`NODE_ENV=test`, refused otherwise): PEM CA certificates that calls to client-chosen URLs (`backchannel_logout_uri`, `sector_identifier_uri`, `jwks_uri`) trust instead of the system roots; it also lets those calls reach loopback and private addresses, so a test can run its relying party on a local https server.',
  },
} as const;

type Settings = typeof settings;
type Parsed = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** Issuer without a trailing slash. */
  readonly issuer: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly databasePoolMax: number;
  /** Seconds: waiting for a pooled connection, and one statement (checklist I6). */
  readonly databaseConnectTimeout: number;
  readonly databaseStatementTimeout: number;
  readonly secretKey: string | undefined;
  /** Earlier SECRET_KEYs that still open sealed data during a rotation (never used to seal). */
  readonly secretKeyPrevious: readonly string[];
  readonly cookieKeys: readonly string[] | undefined;
  readonly logLevel: Parsed['LOG_LEVEL'];
  readonly logFormat: 'json' | 'pretty';
  readonly trustProxy: boolean;
  /** Peers whose X-Forwarded-* headers are believed (with trustProxy). */
  readonly trustedProxies: readonly string[];
  /** Serve HTTPS directly with these PEM files. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly redisUrl: string | undefined;
  /** Slow-client protection, seconds. */
  readonly timeouts: { readonly headers: number; readonly request: number };
  /** Password hashes in flight, and sign-ins waiting for one before 503 (checklist I4). */
  readonly passwordHashing: { readonly concurrency: number; readonly queueLimit: number };
  /** Requests per minute (checklist I1). */
  readonly rateLimits: {
    readonly tokenPerClient: number;
    readonly tokenPerIp: number;
    readonly introspectionPerClient: number;
    readonly authorizationPerIp: number;
    readonly loginPerIp: number;
    /** User-code submissions at /device (RFC 8628 §5.1: guessing user codes). */
    readonly deviceUserCodePerIp: number;
  };
  readonly lockout: {
    readonly threshold: number;
    readonly lockSeconds: number;
    readonly maxLockSeconds: number;
    readonly failureWindowSeconds: number;
    readonly ipFailuresPerHour: number;
  };
  readonly ttl: {
    readonly authorizationCode: number;
    readonly accessToken: number;
    readonly clientCredentials: number;
    readonly idToken: number;
    readonly refreshToken: number;
    readonly session: number;
    readonly sessionIdle: number;
    readonly grant: number;
    readonly interaction: number;
    readonly deviceCode: number;
  };
  readonly purgeIntervalSeconds: number;
  readonly mail: {
    /** SMTP server URL, credentials included; never log it. */
    readonly smtpUrl: string | undefined;
    readonly from: string;
    /** Where mail is written as files when there is no SMTP server (never in production). */
    readonly dir: string;
    /** Password-reset requests per IP address per hour. */
    readonly resetRequestsPerHour: number;
  };
  readonly clientCacheSeconds: number;
  readonly metricsToken: string | undefined;
  /** Tests only: CA file for a local https relying party, which also lifts the address check (OUTBOUND_TEST_CA_FILE). */
  readonly outboundTestCaFile: string | undefined;
  /** Dynamic client registrations per IP address per minute. */
  readonly registrationPerMinute: number;
  readonly keys: {
    /** Seconds between automatic rotations; 0 disables them. */
    readonly rotationInterval: number;
    readonly refreshInterval: number;
    readonly jwksMaxAge: number;
  };
  /** Product name, logo, accent colour and support link of the pages. */
  readonly brand: {
    readonly name: string;
    readonly logoUrl: string | undefined;
    /** #rrggbb, lower case; white text on it meets WCAG AA. */
    readonly primaryColor: string;
    readonly supportUrl: string | undefined;
  };
  readonly admin: {
    /** The resource indicator (audience) of admin API tokens: `<issuer>/admin`. */
    readonly audience: string;
    readonly port: number | undefined;
    readonly host: string;
    readonly corsOrigins: readonly string[];
    readonly mutationsPerMinute: number;
    readonly requestsPerIpPerMinute: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; throws ConfigError naming every wrong or missing setting. */
/**
 * The raw settings: the environment, over the file named by CONFIG_FILE if there is one.
 * Throws ConfigError when the file cannot be read or names a setting that does not exist
 * (a typo would otherwise be silently ignored).
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const file = env.CONFIG_FILE;
  if (!file) return env;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`CONFIG_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const fromFile = parseEnv(text);
  const unknown = Object.keys(fromFile).filter((name) => !(name in settings) || name === 'CONFIG_FILE');
  if (unknown.length) throw new ConfigError(unknown.map((name) => `CONFIG_FILE: ${file} sets ${name}, which is not a Gatehouse setting`));
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [name, value] of Object.entries(env)) if (value !== undefined && value !== '') merged[name] = value;
  return merged;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  env = readSettings(env);
  for (const [name, setting] of Object.entries(settings)) {
    const raw = env[name];
    const result = setting.schema.safeParse(raw === '' ? undefined : raw);
    if (result.success) {
      parsed[name] = result.data;
    } else {
      problems.push(`${name}: ${result.error.issues.map((issue) => issue.message).join('; ')}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const values = parsed as Parsed;

  const issuer = (values.ISSUER ?? `http://localhost:${values.PORT}`).replace(/\/+$/, '');
  const config: Config = {
    env: values.NODE_ENV,
    port: values.PORT,
    host: values.HOST,
    issuer,
    dataDir: values.DATA_DIR,
    databaseUrl: values.DATABASE_URL,
    databasePoolMax: values.DATABASE_POOL_MAX,
    databaseConnectTimeout: values.DATABASE_CONNECT_TIMEOUT,
    databaseStatementTimeout: values.DATABASE_STATEMENT_TIMEOUT,
    secretKey: values.SECRET_KEY,
    secretKeyPrevious: values.SECRET_KEY_PREVIOUS ?? [],
    cookieKeys: values.COOKIE_KEYS,
    logLevel: values.LOG_LEVEL,
    logFormat: values.LOG_FORMAT ?? (values.NODE_ENV === 'development' ? 'pretty' : 'json'),
    trustProxy: values.TRUST_PROXY,
    trustedProxies: values.TRUSTED_PROXIES,
    tls: values.TLS_CERT_FILE && values.TLS_KEY_FILE ? { certFile: values.TLS_CERT_FILE, keyFile: values.TLS_KEY_FILE } : undefined,
    redisUrl: values.REDIS_URL,
    timeouts: { headers: values.HEADERS_TIMEOUT, request: values.REQUEST_TIMEOUT },
    passwordHashing: { concurrency: values.HASH_CONCURRENCY, queueLimit: values.HASH_QUEUE_LIMIT },
    rateLimits: {
      tokenPerClient: values.TOKEN_RATE_LIMIT,
      tokenPerIp: values.TOKEN_IP_RATE_LIMIT,
      introspectionPerClient: values.INTROSPECTION_RATE_LIMIT,
      authorizationPerIp: values.AUTHORIZATION_RATE_LIMIT,
      loginPerIp: values.LOGIN_RATE_LIMIT,
      deviceUserCodePerIp: values.DEVICE_USER_CODE_RATE_LIMIT,
    },
    lockout: {
      threshold: values.LOGIN_LOCKOUT_THRESHOLD,
      lockSeconds: values.LOGIN_LOCKOUT_SECONDS,
      maxLockSeconds: values.LOGIN_LOCKOUT_MAX_SECONDS,
      failureWindowSeconds: values.LOGIN_FAILURE_WINDOW,
      ipFailuresPerHour: values.LOGIN_IP_FAILURE_LIMIT,
    },
    ttl: {
      authorizationCode: values.AUTHORIZATION_CODE_TTL,
      accessToken: values.ACCESS_TOKEN_TTL,
      clientCredentials: values.CLIENT_CREDENTIALS_TTL,
      idToken: values.ID_TOKEN_TTL,
      refreshToken: values.REFRESH_TOKEN_TTL,
      session: values.SESSION_TTL,
      sessionIdle: values.SESSION_IDLE_TTL,
      grant: values.GRANT_TTL,
      interaction: values.INTERACTION_TTL,
      deviceCode: values.DEVICE_CODE_TTL,
    },
    purgeIntervalSeconds: values.PURGE_INTERVAL,
    mail: {
      smtpUrl: values.SMTP_URL,
      from: values.MAIL_FROM ?? `Gatehouse <no-reply@${new URL(issuer).hostname.replace(/^\[|\]$/g, '')}>`,
      dir: values.MAIL_DIR ?? path.join(values.DATA_DIR, 'mail'),
      resetRequestsPerHour: values.PASSWORD_RESET_RATE_LIMIT,
    },
    clientCacheSeconds: values.CLIENT_CACHE_TTL,
    metricsToken: values.METRICS_TOKEN,
    outboundTestCaFile: values.OUTBOUND_TEST_CA_FILE,
    registrationPerMinute: values.REGISTRATION_RATE_LIMIT,
    keys: {
      rotationInterval: values.KEY_ROTATION_INTERVAL,
      refreshInterval: values.KEY_REFRESH_INTERVAL,
      jwksMaxAge: values.JWKS_MAX_AGE,
    },
    brand: {
      name: values.BRAND_NAME,
      logoUrl: values.BRAND_LOGO_URL,
      primaryColor: values.BRAND_PRIMARY_COLOR,
      supportUrl: values.BRAND_SUPPORT_URL,
    },
    admin: {
      audience: `${issuer}/admin`,
      port: values.ADMIN_PORT,
      host: values.ADMIN_HOST,
      corsOrigins: values.ADMIN_CORS_ORIGINS,
      mutationsPerMinute: values.ADMIN_RATE_LIMIT,
      requestsPerIpPerMinute: values.ADMIN_IP_RATE_LIMIT,
    },
  };

  if (Boolean(values.TLS_CERT_FILE) !== Boolean(values.TLS_KEY_FILE)) {
    problems.push(`${values.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'}: required with ${values.TLS_CERT_FILE ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'} (both or neither)`);
  }
  if (config.issuer.startsWith('https://') && !config.trustProxy && !config.tls) {
    // Without its own certificate Gatehouse serves plain HTTP: an https issuer then means
    // a TLS-terminating proxy in front, whose X-Forwarded-Proto must be trusted for
    // Secure cookies to be set.
    problems.push('TRUST_PROXY: must be true when ISSUER is https and Gatehouse does not terminate TLS itself (or set TLS_CERT_FILE and TLS_KEY_FILE)');
  }
  if (config.timeouts.request < config.timeouts.headers) {
    problems.push(`REQUEST_TIMEOUT: must be at least HEADERS_TIMEOUT (${config.timeouts.headers} s)`);
  }
  if (config.lockout.maxLockSeconds < config.lockout.lockSeconds) {
    problems.push(`LOGIN_LOCKOUT_MAX_SECONDS: must be at least LOGIN_LOCKOUT_SECONDS (${config.lockout.lockSeconds})`);
  }
  if (config.keys.rotationInterval > 0 && config.keys.jwksMaxAge >= config.keys.rotationInterval) {
    // A cached JWKS must turn over within the time a next key is published before it signs.
    problems.push(`JWKS_MAX_AGE: must be less than KEY_ROTATION_INTERVAL (${config.keys.rotationInterval} s)`);
  }
  const accentContrast = contrastRatio(config.brand.primaryColor, '#ffffff');
  if (accentContrast < WCAG_AA_NORMAL_TEXT) {
    // Buttons show white text on the accent colour: a light colour would make them unreadable.
    problems.push(`BRAND_PRIMARY_COLOR: white text on ${config.brand.primaryColor} has a contrast of ${accentContrast.toFixed(2)}:1, below the ${WCAG_AA_NORMAL_TEXT}:1 WCAG AA needs; choose a darker colour`);
  }
  if (config.outboundTestCaFile && config.env !== 'test') {
    // It turns off the outbound address check (checklist C5): never outside a test run.
    problems.push('OUTBOUND_TEST_CA_FILE: only allowed with NODE_ENV=test');
  }
  if (config.env === 'production') problems.push(...productionProblems(config));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** Settings that are acceptable on a developer's laptop but never in production. */
function productionProblems(config: Config): string[] {
  const problems: string[] = [];
  if (!config.secretKey) {
    problems.push('SECRET_KEY: required in production (32+ random bytes, base64; e.g. `openssl rand -base64 32`)');
  }
  if (!config.cookieKeys) {
    problems.push('COOKIE_KEYS: required in production (comma-separated random strings of 32+ characters)');
  }
  if (!config.issuer.startsWith('https://')) {
    problems.push(`ISSUER: must be an https:// URL in production (got ${config.issuer})`);
  }
  if (config.mail.smtpUrl) {
    // Plain-text SMTP would carry live reset links (and the SMTP password) over the network.
    const smtp = new URL(config.mail.smtpUrl);
    if (smtp.searchParams.get('tls') === 'none' && !['localhost', '127.0.0.1', '[::1]'].includes(smtp.hostname)) {
      problems.push('SMTP_URL: tls=none is allowed in production only for a relay on this host (localhost)');
    }
  }
  return problems;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
