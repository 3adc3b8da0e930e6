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
