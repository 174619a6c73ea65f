// Usernames may not mix writing systems (checklist R11e): `аlice` with a Cyrillic а looks
// exactly like `alice`. The rule is UTS #39's "highly restrictive" level: the letters and
// digits of a username come from one script, or from one of the combinations a language
// really writes (Japanese, Chinese with Bopomofo, Korean), each of which may add Latin.
// Characters common to all scripts (ASCII digits, . _ + -) and combining marks count for none.

const SCRIPTS = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Georgian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Devanagari', 'Bengali',
  'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Sinhala', 'Thai', 'Lao', 'Tibetan',
  'Myanmar', 'Khmer', 'Mongolian', 'Ethiopic', 'Cherokee', 'Han', 'Hiragana', 'Katakana', 'Bopomofo', 'Hangul',
].map((name) => ({ name, pattern: new RegExp(`^\\p{Script=${name}}$`, 'u') }));

const NEUTRAL = /^[\p{Script=Common}\p{Script=Inherited}]$/u;

/** Sets of scripts that may appear together in one username. */
const ALLOWED_TOGETHER: ReadonlyArray<ReadonlySet<string>> = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

/** The scripts a value's characters are written in (a character of a script not listed here counts as a script of its own). */
export function scriptsOf(value: string): Set<string> {
  const scripts = new Set<string>();
  for (const char of value) {
    if (NEUTRAL.test(char)) continue;
    scripts.add(SCRIPTS.find((script) => script.pattern.test(char))?.name ?? `U+${char.codePointAt(0)!.toString(16).toUpperCase()}`);
  }
  return scripts;
}

/** Whether a value mixes writing systems in a way no language does. */
export function mixesScripts(value: string): boolean {
  const scripts = scriptsOf(value);
  if (scripts.size <= 1) return false;
  return !ALLOWED_TOGETHER.some((allowed) => [...scripts].every((script) => allowed.has(script)));
}
