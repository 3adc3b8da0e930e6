/**
 * json-server's loose comparisons (`String(value)`, `a <= b` on whatever
 * types meet) without its crash: a stored object with an own `toString` or
 * `valueOf` that is not a function (`{"toString": 1}` in db.json or a
 * body) makes JavaScript's conversion throw, which answered 500 for every
 * filter touching the field. Such a value has no string or number form here:
 * it equals no query string, matches no pattern and lies in no range.
 */

/** String(value), or null when JavaScript cannot convert the value. */
export function looseString(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return String(value);
  } catch {
    return null;
  }
}

/** `left <= right` as JavaScript compares mixed types; false when a side cannot be converted. */
export function looseAtMost(left: unknown, right: unknown): boolean {
  try {
    return (left as number) <= (right as number);
  } catch {
    return false;
  }
}

/** `left < right` as JavaScript compares mixed types; false when a side cannot be converted. */
export function looseLess(left: unknown, right: unknown): boolean {
  try {
    return (left as number) < (right as number);
  } catch {
    return false;
  }
}
