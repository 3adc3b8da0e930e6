import type { JsonDocument } from '../core/ports/documents.js';
import type { Caller, Decision } from './access.js';
import { isRow, pluralOf, sameId } from './collections.js';
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

/** The collection `key` links into (`postId` → posts), when it is a served collection of `data`. */
function parentOf(ctx: DataContext, key: string, data: JsonDocument): string | null {
  const suffix = ctx.config.foreignKeySuffix;
  if (key.length <= suffix.length || !key.endsWith(suffix) || key === ctx.config.ownerProp) return null;
  const parent = pluralOf(key.slice(0, -suffix.length));
  return isServed(parent) && Object.hasOwn(data, parent) && Array.isArray(data[parent]) ? parent : null;
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
    if (value === null || value === undefined) continue;
    const parent = parentOf(ctx, key, data);
    if (parent === null || (stored !== null && sameId(stored[key], value))) continue;
    const decision = readDecision(ctx, parent, caller);
    if (decision?.scope === 'all') continue;
    const found = decision && ctx.find(parent, data[parent] as Row[], value);
    if (decision && found && isRow(found) && ctx.isOwn(parent, found, decision)) continue;
    throw new DataError('forbidden', `${key} must name one of your own ${parent}`);
  }
}
