import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';

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

/** A configured format a text must match (a user name's, a password's), matched on RE2. */
export interface LinearPattern {
  test(text: string): boolean;
}

/** `.*` (json-data-server's default) finds a match, the empty one, in any text: no need to load RE2. */
const MATCHES_ANY = new Set(['', '.*']);

/**
 * Compiles an operator's pattern (json-data-server's userIdRE / userPwdRE, restauth's
 * passwords.usernamePattern / passwordPattern) on RE2: on the native engine a pattern such as
 * `^(a+)+$` and a sign-up's name of forty `a` and a `!` held the event loop for good. Throws RE2's
 * own message for a pattern it cannot run (a back-reference, a look-around): call at config load.
 */
export function compileLinear(pattern: string): LinearPattern {
  if (MATCHES_ANY.has(pattern)) return { test: () => true };
  return loadRe2js().compile(pattern);
}
