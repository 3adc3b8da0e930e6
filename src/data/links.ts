import type { JsonDocument } from '../core/ports/documents.js';
import type { Caller, Decision } from './access.js';
import { foreignKey, isRow, pluralOf, sameId } from './collections.js';
import { isServed, type DataContext } from './context.js';
import { DataError } from './errors.js';
import type { Row } from './query.js';

/*
 * A foreign key (`postId`) links a record to a parent, which `_embed` shows under the parent and
 * `_dependent` deletes with it. Nothing checked whom the parent belonged to: under owner-only posts
 * a user who could not read a post could hang a comment under it, or under a post not made yet
 * (ids count up), and its owner's `DELETE /posts/1?_dependent=comments` was then refused for the
 * comment that was not theirs. So a write that sets a link into a collection its writer reads only
 * their own records of must name one of those records; into a collection the writer reads whole,
 * any value goes, as in json-server (a parent may come later). The owner property is checkOwner's.
 */

/**
 * The collections of `data` a foreign key `key` links into, as the relations that read it do: `_embed`,
 * `_dependent` and nested routes find a parent's children by foreignKey(parent) (posts → postId,
 * feedback → feedbackId, people → personId), so `key` links into every served collection whose
 * foreign key it is (`person` and `people` both, when both exist); `_expand=post` reads `postId` into
 * pluralize("post"), json-server's choice, listed first (a collection that differs, `data` for
 * `dataId`, whose children's key is `datumId`, is checked too). Mapping a key back with pluralize
 * alone missed every name whose plural is not itself: `feedbackId` named "feedbacks", which did not
 * exist, so a link into owner-only `feedback` was never checked.
 */
export function parentsOf(ctx: DataContext, key: string, data: JsonDocument): string[] {
  const suffix = ctx.config.foreignKeySuffix;
  if (key.length <= suffix.length || !key.endsWith(suffix)) return [];
  const isCollection = (name: string) =>
    isServed(name) && Object.hasOwn(data, name) && Array.isArray(data[name]);
  const expanded = pluralOf(key.slice(0, -suffix.length));
  const parents = isCollection(expanded) ? [expanded] : [];
  for (const name of Object.keys(data)) {
    if (name !== expanded && isCollection(name) && foreignKey(name, suffix) === key) parents.push(name);
  }
  return parents;
}

/** How the caller may read `parent`, or null when not at all. */
function readDecision(ctx: DataContext, parent: string, caller: Caller | null): Decision | null {
  try {
    return ctx.allow(parent, 'read', caller);
  } catch {
    return null;
  }
}

/**
 * Refuses (403) a write (`input`, over `stored` for an update) that links to a parent its caller
 * may not read: one of another user's records, or any record (one not there yet too) of a
 * collection the caller reads only their own records of, or none of. A link sent back as stored,
 * or cleared (null), passes. The same answer for a parent that exists and one that does not.
 */
export function checkLinks(
  ctx: DataContext,
  input: Row,
  stored: Row | null,
  caller: Caller | null,
  data: JsonDocument,
): void {
  for (const [key, value] of Object.entries(input)) {
    // The owner property is checkOwner's: the caller's own id, whatever collection it names.
    if (value === null || value === undefined || key === ctx.config.ownerProp) continue;
    if (stored !== null && sameId(stored[key], value)) continue;
    for (const parent of parentsOf(ctx, key, data)) {
      const decision = readDecision(ctx, parent, caller);
      if (decision?.scope === 'all') continue;
      const found = decision && ctx.find(parent, data[parent] as Row[], value);
      if (decision && found && isRow(found) && ctx.isOwn(parent, found, decision)) continue;
      throw new DataError('forbidden', `${key} must name one of your own ${parent}`);
    }
  }
}
