import { AuthError } from './errors.js';

/**
 * GoTrue's update of user_metadata and app_metadata (models.User UpdateUserMetaData and
 * UpdateAppMetaData): each key given replaces the stored one, and a key given as null is removed,
 * which is how apps drop a key (`updateUser({ data: { nickname: null } })`); keys not given stay.
 *
 * The merge holds at most `maxBytes` of JSON (bodyLimit): each request is bounded by the body
 * limit, but keys add up, and one account growing its data by a body's worth per request made a
 * record of megabytes (kept in memory and rewritten by the file store, carried by every access
 * token and sign-in answer). A merge over the bound is refused (413) unless it makes the data
 * smaller, so data stored larger before (an import, a larger bodyLimit then) can still be trimmed.
 */
export function mergeMetadata(
  stored: Record<string, unknown>,
  updates: Record<string, unknown>,
  maxBytes: number,
): Record<string, unknown> {
  const merged = { ...stored, ...updates };
  for (const [key, value] of Object.entries(updates)) {
    if (value === null) delete merged[key];
  }
  const bytes = jsonBytes(merged);
  if (bytes > maxBytes && bytes > jsonBytes(stored)) {
    throw new AuthError(
      'payload_too_large',
      `User data may hold at most ${maxBytes} bytes of JSON (it would hold ${bytes})`,
    );
  }
  return merged;
}

function jsonBytes(value: Record<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(value));
}
