// Input rules shared by several services, and the one translation of zod's issues into
// the field-level problems every surface reports.
import { z } from 'zod';
import { invalidInput, type FieldProblem } from '../errors.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../stores/pagination.js';

export const roleName = z.string().regex(/^[a-z0-9][a-z0-9:._-]{0,62}$/i, 'must be 1-63 letters, digits, ":", ".", "_" or "-"');

function fieldName(path: readonly PropertyKey[]): string {
  return path.length
    ? path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index ? '.' : ''}${String(part)}`)).join('')
    : '(body)';
}

export function zodProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys'
    // One entry per unknown member, named where it is (a body field or a query parameter).
    ? issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), message: 'is not a known field' }))
    : [{ field: fieldName(issue.path), message: issue.message }]));
}

/** Parses input with schema, or throws an invalid_input AppError naming each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidInput(zodProblems(parsed.error));
  return parsed.data;
}

/**
 * ?limit and ?cursor of every listing. A limit above the maximum is capped rather than
 * refused (checklist G5), so a script asking for "everything" still gets pages.
 */
export const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).default(DEFAULT_PAGE_SIZE).transform((value) => Math.min(value, MAX_PAGE_SIZE))
      .describe(`Page size, ${DEFAULT_PAGE_SIZE} by default, at most ${MAX_PAGE_SIZE} (larger values are capped)`),
    cursor: z.string().max(500).optional().describe('next_cursor of the previous page'),
  })
  .strict();
