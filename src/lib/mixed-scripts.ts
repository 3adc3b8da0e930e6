/**
 * Whether a name mixes writing systems, as Unicode's UTS #39 (section 5.1, "single script" with its
 * Japanese, Chinese and Korean sets) judges it: `аlice` with a Cyrillic `а` reads as `alice` and
 * is another login, so two accounts look like one person. Browsers refuse such host names for the
 * same reason (Chromium's IDN policy). Each letter's scripts (Script_Extensions) must share one
 * script with every other letter's, or all be Latin and one of Japanese, Chinese or Korean (the
 * "highly restrictive" level); characters of every script (Common: digits, `_`, `-`, emoji) and
 * combining marks (Inherited) belong to any. Scripts outside SCRIPTS are not judged.
 */
const SCRIPTS = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Georgian',
  'Cherokee',
  'Coptic',
  'Hebrew',
  'Arabic',
  'Syriac',
  'Thaana',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Ethiopic',
  'Khmer',
  'Mongolian',
  'Canadian_Aboriginal',
  'Tifinagh',
  'Lisu',
  'Vai',
  'Osage',
  'Deseret',
  'Han',
  'Hiragana',
  'Katakana',
  'Bopomofo',
  'Hangul',
] as const;
type Script = (typeof SCRIPTS)[number] | 'Japanese' | 'Korean' | 'Chinese';

const IN_SCRIPT = SCRIPTS.map(
  (script) => [script, new RegExp(`\\p{Script_Extensions=${script}}`, 'u')] as const,
);
const ANY_SCRIPT = /[\p{Script=Common}\p{Script=Inherited}]/u;

/** UTS #39's augmentation: Han is also written in Japanese, Chinese and Korean names; kana and Hangul in theirs. */
const WRITTEN_IN: Partial<Record<Script, readonly Script[]>> = {
  Han: ['Japanese', 'Chinese', 'Korean'],
  Hiragana: ['Japanese'],
  Katakana: ['Japanese'],
  Bopomofo: ['Chinese'],
  Hangul: ['Korean'],
};

function scriptsOf(character: string): Set<Script> | null {
  if (ANY_SCRIPT.test(character)) return null;
  const scripts = new Set<Script>();
  for (const [script, pattern] of IN_SCRIPT) {
    if (!pattern.test(character)) continue;
    scripts.add(script);
    for (const set of WRITTEN_IN[script] ?? []) scripts.add(set);
  }
  return scripts.size === 0 ? null : scripts;
}

/**
 * UTS #39's "highly restrictive" sets: Latin beside Japanese (Han and kana), Chinese (Han and
 * Bopomofo) or Korean (Han and Hangul), as in `Zoë-東京`.
 */
const WITH_LATIN: readonly (readonly Script[])[] = [
  ['Latin', 'Japanese'],
  ['Latin', 'Chinese'],
  ['Latin', 'Korean'],
];

/** Whether `text` has letters of scripts no single writing system uses together (see above). */
export function mixesScripts(text: string): boolean {
  const letters = [...text].map(scriptsOf).filter((scripts) => scripts !== null);
  const shared = letters.reduce<Set<Script> | null>(
    (earlier, scripts) => new Set([...(earlier ?? scripts)].filter((script) => scripts.has(script))),
    null,
  );
  if (shared === null || shared.size > 0) return false;
  return !WITH_LATIN.some((set) => letters.every((scripts) => set.some((script) => scripts.has(script))));
}
