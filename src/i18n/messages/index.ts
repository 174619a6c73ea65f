// The languages of the pages. English is the reference: every catalogue is a Catalogue,
// so a key missing from a language (or one only it has) fails the type check, and
// test/integration/i18n.test.ts checks the keys and placeholders at run time too.
// Adding a language: a file like de.ts, an entry in CATALOGUES.
import { de } from './de.js';
import { en } from './en.js';

export type MessageKey = keyof typeof en;
export type Catalogue = { readonly [K in MessageKey]: string };

export const CATALOGUES = { en, de } as const satisfies Record<string, Catalogue>;

export type Locale = keyof typeof CATALOGUES;

export const DEFAULT_LOCALE: Locale = 'en';

export const LOCALES = Object.keys(CATALOGUES) as Locale[];

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && Object.hasOwn(CATALOGUES, value);
}
