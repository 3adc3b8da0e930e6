/**
 * Values of columns GoTrue's schema (or a DBA) may fill in ways restauth never writes, read as the
 * domain types take them, so one odd row cannot make every answer that lists it a 500.
 */

/**
 * A timestamptz column as pg reads it: a Date, or the number ±Infinity for PostgreSQL's ±infinity,
 * which GoTrue's schema lets any writer store (`banned_until = 'infinity'` is a DBA's lasting ban); a
 * string where to_jsonb wrote it. Never a Date to call methods on: read it with rowDate.
 */
export type RowTimestamp = Date | number | string | null;

/** JavaScript's last representable instant, for PostgreSQL's `infinity` (pg parses it as Infinity). */
const LAST_DATE = 8.64e15;

/**
 * A timestamptz column, as pg parses it (a Date, or ±Infinity for `±infinity`) or as to_jsonb writes
 * it (a string, `"infinity"` too): a valid Date or null, never an Invalid Date that toISOString throws on.
 */
export function rowDate(value: RowTimestamp | undefined): Date | null {
  if (value === null || value === undefined) return null;
  if (value === Infinity || value === 'infinity') return new Date(LAST_DATE);
  if (value === -Infinity || value === '-infinity') return new Date(-LAST_DATE);
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * A created_at or updated_at GoTrue's schema let another writer leave NULL (restauth always sets them):
 * the epoch, so every answer, sort and comparison has a time, where GoTrue cannot scan the row at all.
 */
export function unsetTime(): Date {
  return new Date(0);
}

/**
 * A jsonb column GoTrue reads into a map (raw_app_meta_data, raw_user_meta_data, identity_data): NULL,
 * an array or a scalar holds no keys, which GoTrue cannot read as one and restauth reads as `{}`.
 */
export function jsonObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
