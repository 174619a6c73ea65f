// The one place that knows Prisma's error codes.
import { Prisma } from '@prisma/client';
import { AppError } from '../errors.js';

/**
 * Unique-constraint violation, e.g. a duplicate email: P2002 from Prisma, or PostgreSQL's
 * 23505 passed through unmapped by the PGlite driver adapter.
 */
export function isUniqueViolation(error: unknown): boolean {
  if (error instanceof Prisma.PrismaClientKnownRequestError) return error.code === 'P2002';
  const cause = (error as { cause?: { code?: unknown; originalCode?: unknown } } | null)?.cause;
  return cause?.code === '23505' || cause?.originalCode === '23505';
}

/** A row to update or delete was not there (P2025). */
export function isNotFound(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025';
}

/** Rethrows Prisma's expected failures as AppErrors; leaves the rest alone. */
export function mapPrismaError(error: unknown, what: string): never {
  if (isUniqueViolation(error)) throw new AppError('conflict', `${what} already exists.`);
  if (isNotFound(error)) throw new AppError('not_found', `${what} was not found.`);
  throw error;
}

// CounterStoreUnavailable: Redis (REDIS_URL) cannot be reached (security/counters.ts).
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'CounterStoreUnavailable']);
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
// SQLSTATE 08 (connection exception), 53 (insufficient resources), 57P01-57P03 (the server
// is shutting down, crashed or not yet accepting connections), 57014 (query_canceled: the
// statement_timeout fired, e.g. behind a long lock, or an operator cancelled it; the same
// request later can succeed).
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[123]|57014$)/;
// Prisma's own codes for an unreachable or dropped database.
const UNAVAILABLE_PRISMA = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// Errors without a code: pg-pool's "timeout exceeded when trying to connect" (no free
// connection within DATABASE_CONNECT_TIMEOUT) and pg's "Query read timeout" (no answer
// within its query_timeout) reach us as the driver adapter passes them through.
const UNAVAILABLE_MESSAGE = /Can't reach database server|Connection terminated|timeout exceeded when trying to connect|Query read timeout|Connection ended unexpectedly|terminating connection due to administrator command|the database system is (starting up|shutting down)|connection error/i;

/**
 * Whether an error means the database cannot be reached right now (down, restarting,
 * out of connections), as opposed to a fault in a query: such requests get 503 with
 * Retry-After, and the service recovers by itself when the database is back.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current && typeof current === 'object'; depth += 1) {
    const { kind, code, originalCode, errorCode, message, meta } = current as Record<string, unknown>;
    // Prisma reports a failed raw query as P2010 with the driver's own code and message in
    // meta, or (driver adapters, Prisma 6) the adapter's error in meta.driverAdapterError,
    // whose cause carries the SQLSTATE: the walk continues there.
    const metaFields = (meta && typeof meta === 'object' ? meta : {}) as Record<string, unknown>;
    if (typeof metaFields.message === 'string' && UNAVAILABLE_MESSAGE.test(metaFields.message)) return true;
    if (typeof kind === 'string' && UNAVAILABLE_KINDS.has(kind)) return true;
    for (const value of [code, originalCode, errorCode, metaFields.code]) {
      if (typeof value !== 'string') continue;
      if (UNAVAILABLE_ERRNO.has(value) || UNAVAILABLE_PRISMA.has(value) || UNAVAILABLE_SQLSTATE.test(value)) return true;
    }
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
    current = (current as { cause?: unknown }).cause ?? metaFields.driverAdapterError;
  }
  return false;
}
