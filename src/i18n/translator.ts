// t(key, params): a message of the request's language with its {placeholders} filled in.
// Every message may use {brand}, the configured product name. The result is plain text;
// pages escape it when they insert it (tHtml is the one exception, and escapes itself).
import { en } from './messages/en.js';
import { CATALOGUES, type Locale, type MessageKey } from './messages/index.js';

export type MessageParams = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: MessageParams) => string;

/** A value already made safe for HTML (by `strong` or `link` below). */
export interface Html {
  html: string;
}

export function interpolate(template: string, params: MessageParams): string {
  return template.replace(/\{([\w:-]+)\}/g, (whole, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}

export function createTranslator(locale: Locale, brandName: string): Translate {
  const catalogue = CATALOGUES[locale];
  return (key, params = {}) => interpolate(catalogue[key] ?? en[key], { brand: brandName, ...params });
}

export const escapeHtml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/**
 * A message with markup around some of its parameters (a name in bold, a link), for
 * languages that put them at different places in the sentence. The message and plain
 * parameters are escaped; only `Html` values, built by `strong` and `link`, go in as they are.
 */
export function translateHtml(t: Translate, key: MessageKey, params: Record<string, string | number | Html> = {}): string {
  const marks = new Map<string, string>();
  const plain: MessageParams = {};
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === 'object') {
      // A placeholder no message text contains, swapped for the markup after escaping.
      const mark = `\u0000${marks.size}\u0000`;
      marks.set(mark, value.html);
      plain[name] = mark;
    } else {
      plain[name] = value;
    }
  }
  let html = escapeHtml(t(key, plain));
  for (const [mark, markup] of marks) html = html.split(mark).join(markup);
  return html;
}

export const strong = (text: string): Html => ({ html: `<strong>${escapeHtml(text)}</strong>` });
export const link = (href: string, text: string): Html => ({ html: `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>` });

/**
 * Service messages (AppError texts, in English for the admin API and the CLI) that pages
 * show: the English catalogue's `service.*` texts, matched exactly or with their
 * placeholders, are shown in the page's language; any other text is shown as it is.
 */
const SERVICE_PATTERNS: { key: MessageKey; pattern: RegExp; names: string[] }[] = (Object.keys(en) as MessageKey[])
  .filter((key) => key.startsWith('service.'))
  .map((key) => {
    const names: string[] = [];
    const source = en[key]
      .split(/(\{[\w:-]+\})/)
      .map((part: string) => {
        const name = /^\{([\w:-]+)\}$/.exec(part)?.[1];
        if (name) {
          names.push(name);
          return '(.+?)';
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('');
    return { key, pattern: new RegExp(`^${source}$`), names };
  });

export function translateServiceMessage(t: Translate, message: string): string {
  for (const { key, pattern, names } of SERVICE_PATTERNS) {
    const match = pattern.exec(message);
    if (!match) continue;
    return t(key, Object.fromEntries(names.map((name, index) => [name, match[index + 1] ?? ''])));
  }
  return message;
}
