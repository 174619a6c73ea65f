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
