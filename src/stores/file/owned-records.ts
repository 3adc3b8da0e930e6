/**
 * Whether a record of db.json names `id` as its owner (the data API's owner
 * property, in any collection but the users'), compared as the data API's
 * owner rules compare it: `String(owner)` against the token's `sub`. Such an
 * id is taken: its records were a user's (deleted since, its records kept) or
 * came with the file (seeded data, a json-server-auth project), and a new
 * user given that id would read and write them as their owner.
 */
export function ownsRecords(
  data: Readonly<Record<string, unknown>>,
  props: { ownerProp: string; usersProp: string },
  id: string,
): boolean {
  for (const [collection, rows] of Object.entries(data)) {
    if (collection === props.usersProp || !Array.isArray(rows)) continue;
    for (const row of rows as unknown[]) {
      if (typeof row !== 'object' || row === null || !Object.hasOwn(row, props.ownerProp)) continue;
      if (ownerString((row as Record<string, unknown>)[props.ownerProp]) === id) return true;
    }
  }
  return false;
}

/** String(owner) as the data API reads it; null for none, or for an object JavaScript cannot convert. */
function ownerString(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  try {
    return String(value);
  } catch {
    return null;
  }
}
