// The one place that knows Prisma's error codes.
import { Prisma } from '@prisma/client';
import { AppError } from '../errors.js';

/** Unique-constraint violation (P2002), e.g. a duplicate email. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';
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
