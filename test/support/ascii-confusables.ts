import { prototypeOf } from '../../src/core/skeleton.js';

/** The ASCII a user name is mostly made of: letters, digits, `_`, `-` and `.`. */
export const NAME_ASCII = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.'] as const;

let confusables: Map<string, string[]> | null = null;

/**
 * Each character of NAME_ASCII with the code points beyond ASCII that confusables.txt gives its
 * prototype (core/skeleton.ts), read from the data rather than listed by hand: every one a user
 * could put in its place. Only those NFKC keeps, as a name is stored (checkUsername): `Ｉ` is
 * stored as `I`, an ASCII name. Computed once (every code point: about 0.1 s of CPU).
 */
export function asciiConfusables(): Map<string, string[]> {
  if (confusables !== null) return confusables;
  const byPrototype = new Map<string, string[]>();
  for (let code = 0x80; code <= 0x10ffff; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const point = String.fromCodePoint(code);
    const prototype = prototypeOf(point);
    if (prototype === point || point.normalize('NFKC') !== point) continue;
    byPrototype.set(prototype, [...(byPrototype.get(prototype) ?? []), point]);
  }
  confusables = new Map(
    NAME_ASCII.map((letter) => [letter, byPrototype.get(prototypeOf(letter)) ?? []] as const).filter(
      ([, points]) => points.length > 0,
    ),
  );
  return confusables;
}
