// Keyset pagination for admin listings: a stable order (creation time, then id) and an
// opaque cursor naming the last row a page ended on, so pages never skip or repeat rows
// while others are inserted.
import { AppError } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface PageRequest {
  limit: number;
  /** Where the previous page ended, decoded from its next_cursor. */
  after?: { createdAt: Date; id: string } | undefined;
}

export interface Page<T> {
  items: T[];
  /** Pass as ?cursor= for the next page; null on the last page. */
  next_cursor: string | null;
}

export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const date = new Date(String(createdAt));
    if (typeof id === 'string' && id.length <= 200 && !Number.isNaN(date.getTime())) return { createdAt: date, id };
  } catch {
    // fall through to the error below
  }
  throw new AppError('invalid_input', 'The cursor is not one this server issued.', [{ field: 'cursor', message: 'must be a next_cursor value from a previous page' }]);
}

/** Prisma `where` for rows after the cursor in (createdAt, id) order. */
export function afterCursor(after: PageRequest['after']) {
  if (!after) return {};
  return { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] };
}

/** Cuts the one extra row a query fetched (limit + 1) into a page and its cursor. */
export function toPage<Row extends { createdAt: Date; id: string }, T>(rows: Row[], limit: number, view: (row: Row) => T): Page<T> {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  const last = shown[shown.length - 1];
  return { items: shown.map(view), next_cursor: more && last ? encodeCursor(last.createdAt, last.id) : null };
}

/** A search term for Prisma's contains (SQL LIKE/ILIKE, escape character \): %, _ and \ match themselves. */
export function likeLiteral(term: string): string {
  return term.replace(/[\\%_]/g, '\\$&');
}
