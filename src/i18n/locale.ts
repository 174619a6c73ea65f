// Which language a page is in: the one the person picked with the switcher (a cookie),
// then the authorization request's ui_locales (OIDC Core 3.1.2.1, the relying party's
// hint), then the browser's Accept-Language (RFC 9110 §12.5.4, by q-value), else English.
// A choice the person made on the page wins over the application's hint: otherwise the
// switcher would do nothing on the sign-in pages of an application that sends ui_locales.
import { DEFAULT_LOCALE, isLocale, type Locale } from './messages/index.js';

/** The supported language of a BCP 47 tag (`de-DE` → `de`), if any. */
function supported(tag: string): Locale | undefined {
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0];
  return isLocale(primary) ? primary : undefined;
}

/** The first supported tag of a space-separated ui_locales value. */
export function fromUiLocales(value: unknown): Locale | undefined {
  if (typeof value !== 'string') return undefined;
  for (const tag of value.split(' ').slice(0, 20)) {
    const locale = supported(tag);
    if (locale) return locale;
  }
  return undefined;
}

/** The supported language the browser prefers most (highest q; the first of equals); q=0 means "not this". */
export function fromAcceptLanguage(header: string | undefined): Locale | undefined {
  if (!header) return undefined;
  const ranges = header
    .split(',')
    .slice(0, 50)
    .map((entry, index) => {
      const [tag = '', ...parameters] = entry.split(';');
      const q = parameters.map((parameter) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(parameter)?.[1]).find(Boolean);
      return { locale: supported(tag), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((range): range is { locale: Locale; q: number; index: number } => range.locale !== undefined && range.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  return ranges[0]?.locale;
}

export function negotiateLocale(input: { chosen?: unknown; uiLocales?: unknown; acceptLanguage?: string | undefined }): Locale {
  return (isLocale(input.chosen) ? input.chosen : undefined)
    ?? fromUiLocales(input.uiLocales)
    ?? fromAcceptLanguage(input.acceptLanguage)
    ?? DEFAULT_LOCALE;
}
