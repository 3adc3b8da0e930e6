/**
 * Characters a reader does not see but that change what they see: C0 and C1 controls (a terminal
 * reads ESC and CSI as commands), format characters (U+202E RIGHT-TO-LEFT OVERRIDE shows
 * "moc.elgoog" as "google.com", U+2066-2069 isolates, zero-width spaces, the BOM, soft hyphens),
 * the line and paragraph separators U+2028/2029 (a new line to many readers), and lone surrogates
 * (no character at all: invalid UTF-8 in a mail or a log).
 *
 * The zero-width joiner and non-joiner (U+200D, U+200C) are format characters that scripts need
 * (Persian, Hindi: a name is spelt with them) and emoji sequences use, so they pass after a
 * non-ASCII character; after an ASCII one (`ad\u200Cmin`) they join nothing and only make a look-alike.
 */
const HIDDEN_SOURCE =
  '[\\p{Cc}\\p{Zl}\\p{Zp}\\p{Cs}]|(?![\\u200C\\u200D])\\p{Cf}|(?<=[\\u0000-\\u007F]|^)[\\u200C\\u200D]';
const HIDDEN = new RegExp(HIDDEN_SOURCE, 'u');
const EVERY_HIDDEN = new RegExp(HIDDEN_SOURCE, 'gu');

/** Whether `text` has a character a reader would not see (see above). */
export function hasHiddenCharacter(text: string): boolean {
  return HIDDEN.test(text);
}

/**
 * `text` with every hidden character written as its UTF-16 escape (`\u202e`), so it shows instead of
 * acting: for text that reaches a terminal or a mail. Inside a JSON string the escape is valid JSON.
 */
export function showHiddenCharacters(text: string): string {
  return text.replace(EVERY_HIDDEN, (found) =>
    Array.from(
      { length: found.length },
      (_, i) => `\\u${found.charCodeAt(i).toString(16).padStart(4, '0')}`,
    ).join(''),
  );
}
