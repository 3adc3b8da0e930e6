/**
 * GoTrue's update of user_metadata and app_metadata (models.User UpdateUserMetaData and
 * UpdateAppMetaData): each key given replaces the stored one, and a key given as null is removed,
 * which is how apps drop a key (`updateUser({ data: { nickname: null } })`); keys not given stay.
 */
export function mergeMetadata(
  stored: Record<string, unknown>,
  updates: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...stored, ...updates };
  for (const [key, value] of Object.entries(updates)) {
    if (value === null) delete merged[key];
  }
  return merged;
}
