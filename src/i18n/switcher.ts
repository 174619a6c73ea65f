// The language switcher: GET /language?lang=de&return=/path sets the language cookie and
// returns to the page (a same-origin path only). A link, so it works without JavaScript
// and from the keyboard; the cookie is only a preference, so a GET may set it.
import Router from '@koa/router';
import { isLocale } from './messages/index.js';
import { LANGUAGE_COOKIE, safeReturnPath } from './request.js';

export const LANGUAGE_PATH = '/language';
const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

export function createLanguageRouter(options: { secure: boolean }): Router {
  const router = new Router();
  router.get(LANGUAGE_PATH, (ctx) => {
    const lang = ctx.query['lang'];
    if (isLocale(lang)) {
      ctx.cookies.set(LANGUAGE_COOKIE, lang, { httpOnly: true, sameSite: 'lax', secure: options.secure, path: '/', maxAge: ONE_YEAR_MS, overwrite: true, signed: false });
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(safeReturnPath(ctx.query['return']) ?? '/account');
    ctx.status = 303;
  });
  return router;
}

export function languageHref(lang: string, returnTo: string): string {
  return `${LANGUAGE_PATH}?${new URLSearchParams({ lang, return: returnTo }).toString()}`;
}
