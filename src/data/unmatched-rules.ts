import type { JsonDocument } from '../core/ports/documents.js';

/**
 * A `data.rules` entry naming no collection of the document, as words for a warning at the start.
 * Rules are matched by the exact collection name, so a typo (`"Messages": 600` for `messages`, a
 * trailing space) left the collection under the default rule (660: every signed-in user reads and
 * writes every record) without a word. Not a refusal: a collection may come later, by a hand edit
 * of db.json read under --watch; the users collection (`usersProp`) comes with the first sign-up.
 */
export function unmatchedRules(
  rules: Readonly<Record<string, number>>,
  data: JsonDocument,
  usersProp: string,
): string[] {
  const names = Object.keys(data);
  return Object.keys(rules)
    .filter((name) => name !== usersProp && !Object.hasOwn(data, name))
    .map((name) => {
      const like = names.find((other) => other.trim().toLowerCase() === name.trim().toLowerCase());
      return (
        `data.rules names ${JSON.stringify(name)}, which the data file has no collection of: its rule ` +
        `applies to nothing${like === undefined ? '' : ` (${JSON.stringify(like)} has the default rule)`}`
      );
    });
}
