// The admin API's one error mapping: everything it refuses becomes an RFC 9457 problem
// document. Expected refusals (AppError, body parser errors) keep their message and
// field list; anything else is an unexpected fault, logged with the request id and
// answered with a bare 500 that names only that id.
import type { Context, Next } from 'koa';
import { isDatabaseUnavailable } from '../db/errors.js';
import { AppError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from './unavailable.js';

export const PROBLEM_TYPE_BASE = 'urn:gatehouse:problem:';

const TITLES: Record<ErrorCode | 'server_error', string> = {
  invalid_input: 'The request is not valid',
  unauthorized: 'Authentication required',
  forbidden: 'Not allowed',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  conflict: 'Conflict',
  payload_too_large: 'Request body too large',
  unsupported_media_type: 'Unsupported media type',
  too_many_requests: 'Too many requests',
  unavailable: 'Temporarily unavailable',
  server_error: 'Internal error',
};

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id?: string;
  errors?: Array<{ field: string; message: string }>;
}

function send(ctx: Context, code: ErrorCode | 'server_error', status: number, detail: string, fields: AppError['fields'] = []): void {
  const body: ProblemDocument = {
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title: TITLES[code],
    status,
    detail,
    instance: ctx.path,
    ...(typeof ctx.state.requestId === 'string' ? { request_id: ctx.state.requestId } : {}),
    ...(fields.length ? { errors: fields } : {}),
  };
  ctx.status = status;
  ctx.body = body;
  ctx.type = 'application/problem+json; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
}

/** Body parser and other http-errors failures that are the client's fault. */
function clientHttpError(error: unknown): { code: ErrorCode; status: number; detail: string } | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  const expose = (error as { expose?: unknown } | null)?.expose;
  if (typeof status !== 'number' || status < 400 || status >= 500 || expose === false) return undefined;
  if (status === 413) return { code: 'payload_too_large', status, detail: 'The request body is larger than the limit.' };
  if (status === 415) return { code: 'unsupported_media_type', status, detail: 'Send the request body as application/json.' };
  if (/prototype/i.test(String((error as Error).message))) {
    return { code: 'invalid_input', status: 400, detail: 'The request body contains a forbidden key (__proto__).' };
  }
  return { code: 'invalid_input', status: 400, detail: 'The request body is not valid JSON.' };
}

export function problemResponses(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) send(ctx, 'not_found', 404, `No admin API route ${ctx.method} ${ctx.path}.`);
    } catch (error) {
      if (error instanceof AppError) {
        for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
        send(ctx, error.code, error.status, error.message, error.fields);
        return;
      }
      if (isDatabaseUnavailable(error)) {
        ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
        send(ctx, 'unavailable', 503, 'The database is unreachable; try again shortly.');
        return;
      }
      const known = clientHttpError(error);
      if (known) {
        send(ctx, known.code, known.status, known.detail);
        return;
      }
      logger.error({ err: error, requestId: ctx.state.requestId, path: ctx.path }, 'admin API request failed');
      send(ctx, 'server_error', 500, 'An unexpected error occurred; quote the request id when reporting it.');
    }
  };
}
