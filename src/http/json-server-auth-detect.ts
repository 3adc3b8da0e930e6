import type { Config } from '../config/schema.js';
import type { JsonDocument } from '../core/ports/documents.js';
import { hasGuards } from '../data/guards.js';
import { isBcryptHash } from '../lib/bcrypt-hash.js';

/**
 * Whether json-server-auth's routes are mounted, and why, said once at start.
 * `dialects.jsonServerAuth.enabled` decides when set; unset (null), they are
 * mounted when the data API serves a db.json that is json-server-auth's
 * (a user record holding a bcrypt hash in `password`, or an `email`:
 * restauth keeps both in credentials.json, never in db.json, so only
 * json-server-auth, or a hand, put them there) or a routes file with its
 * guards (`"/posts*": "/664/posts$1"`). Then POST /users registers a user
 * as in json-server-auth; without them it is the data API's 403 (users are
 * created by the sign-up routes), so no data API route is taken from anyone.
 */
export interface JsonServerAuthMount {
  mounted: boolean;
  /** Why it is mounted without being asked for (logged at start), or null. */
  reason: string | null;
}

export function jsonServerAuthMount(config: Config, data: JsonDocument | null): JsonServerAuthMount {
  const { enabled } = config.dialects.jsonServerAuth;
  if (enabled !== null) return { mounted: enabled, reason: null };
  if (!config.data.enabled || config.store.type !== 'file' || data === null)
    return { mounted: false, reason: null };
  if (hasGuards(config.data.routes)) {
    return { mounted: true, reason: "the routes file holds json-server-auth's guards" };
  }
  const users = Object.hasOwn(data, config.store.usersProp) ? data[config.store.usersProp] : undefined;
  const isTheirs = (record: unknown) =>
    typeof record === 'object' &&
    record !== null &&
    (isBcryptHash((record as Record<string, unknown>)['password']) ||
      typeof (record as Record<string, unknown>)['email'] === 'string');
  if (Array.isArray(users) && users.some(isTheirs)) {
    return {
      mounted: true,
      reason: `${config.store.dataFile}'s ${config.store.usersProp} are json-server-auth's (an email in the record)`,
    };
  }
  return { mounted: false, reason: null };
}
