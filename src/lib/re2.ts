import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';
import safeRegex from 'safe-regex2';

/**
 * re2js (RE2: matching time linear in the text, whatever the pattern), loaded at the first pattern that
 * needs it: its module builds Unicode tables at load (0.5 MiB of an idle server's memory), and most
 * apps never send a repeating _like nor have a rewrite rule with several wildcards. Left to Node's
 * loader (its CommonJS build), as the bundle leaves it (scripts/build.mjs).
 */
let re2js: typeof RE2JSClass | undefined;

export function loadRe2js(): typeof RE2JSClass {
  re2js ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JSClass }).RE2JS;
  return re2js;
}

/** A configured format a text must match (a user name's, a password's). */
export interface FormatPattern {
  test(text: string): boolean;
}

/** `.*` (json-data-server's default) finds a match, the empty one, in any text: no need to load RE2. */
const MATCHES_ANY = new Set(['', '.*']);

/**
 * Compiles an operator's pattern (json-data-server's userIdRE / userPwdRE, restauth's
 * passwords.usernamePattern / passwordPattern) on RE2: on the native engine a pattern such as
 * `^(a+)+$` and a sign-up's name of forty `a` and a `!` held the event loop for good.
 *
 * A pattern RE2 cannot run (a look-around or a back-reference) is common in the password rules of
 * json-data-server configs, which must keep working (`^(?=.*\d).{8,}$`): it runs on the native engine
 * when it repeats no repetition (safe-regex2: star height 1), the shape of exponential backtracking, on
 * texts a route's schema already bounds. Otherwise this throws, with RE2's own reason: call at config load.
 */
export function compileFormatPattern(pattern: string): FormatPattern {
  if (MATCHES_ANY.has(pattern)) return { test: () => true };
  try {
    return loadRe2js().compile(pattern);
  } catch (re2Refusal) {
    let native: RegExp;
    try {
      native = new RegExp(pattern);
    } catch {
      throw re2Refusal;
    }
    if (safeRegex(native)) return native;
    throw new Error(
      `${(re2Refusal as Error).message}; nor can the native engine run it safely: it repeats a repetition (exponential backtracking)`,
      { cause: re2Refusal },
    );
  }
}
