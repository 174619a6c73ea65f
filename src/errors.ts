// One error type for everything Gatehouse itself rejects. Each surface maps it once:
// the admin API to application/problem+json, pages to the error view, the CLI to a
// message and a non-zero exit. Anything that is not an AppError is an unexpected fault
// and is reported without its details.

export interface FieldProblem {
  /** Where the problem is, e.g. `redirect_uris[0]` or `--email`. */
  field: string;
  message: string;
}

export type ErrorCode =
  | 'invalid_input'
  | 'not_found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'unavailable';

const STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  unavailable: 503,
};

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields: FieldProblem[] = [],
    /** Response headers the error needs, e.g. WWW-Authenticate or Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = STATUS[code];
  }
}

export function invalidInput(fields: FieldProblem[], message = 'The request has invalid fields.'): AppError {
  return new AppError('invalid_input', message, fields);
}
