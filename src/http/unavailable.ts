// What a request gets while the database is unreachable: 503 with Retry-After, never a
// 500. The browser-facing routes answer with a page saying to wait; every other route
// with the OAuth-style JSON error, which carries the request id.
import type { Context } from 'koa';
import type { Renderer } from './views.js';

export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** Routes a person's browser opens: sign-in, sign-out, account, device code entry, recovery. */
const PAGE_PATHS = /^\/(auth|session\/end|interaction|account|device(?!\/auth(\/|$))|password|email)(\/|$)/;

/** Whether this request is a browser asking for a page (an API client asking the same route for JSON is not). */
export function wantsPage(ctx: Context): boolean {
  return PAGE_PATHS.test(ctx.path) && ctx.accepts('json', 'html') === 'html';
}

export function answerUnavailable(ctx: Context, requestId: string, render?: Renderer): void {
  ctx.set('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  ctx.set('Cache-Control', 'no-store');
  if (render && wantsPage(ctx)) {
    const t = render.translator(ctx);
    render(ctx, 'error', {
      title: t('error.unavailableTitle'),
      heading: t('error.unavailableHeading'),
      message: t('error.unavailableMessage'),
      hint: t('error.busyHint'),
    }, 503);
    return;
  }
  ctx.status = 503;
  ctx.body = { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable; try again shortly.', request_id: requestId };
}
