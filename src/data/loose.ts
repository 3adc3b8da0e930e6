import { DataError } from './errors.js';

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

/** The form of a value JavaScript cannot convert (LooseForms.form). */
export const NO_FORM: unique symbol = Symbol('no form');

/**
 * The array elements one request may convert to text (LooseForms), nested
 * arrays' included. Converting an array costs per element, up to ~0.6 µs for
 * one that is itself an array and ~0.5 µs for an object (measured on a
 * loaded 2-core machine), so this is at most about 0.15 s; ten thousand
 * records holding a few tags each fit many times over.
 */
export const MAX_CONVERTED_ELEMENTS = 1 << 18;

/**
 * One request's loose comparisons, each stored value converted at most once.
 *
 * A comparison (`<`, `<=`, String()) with an array converts the whole array
 * to text (Array.prototype.toString: every element converted and joined), and
 * sorts and filters compare a value many times: a record's field against
 * each of sixteen `_ne` values, each `or` alternative of a `_where`, each
 * comparison of a sort (2 n log n). A field holding 33,000 empty objects (a
 * 99 KB body) cost 12.6 ms and a 528 KB string per conversion, and one
 * `_sort` over 40 such records 3.4 s. Here an array or object is converted
 * once, its text kept (a WeakMap from the value) for the rest of the request,
 * and the elements converted are charged against MAX_CONVERTED_ELEMENTS
 * (400 beyond), so even once per record a request's conversions are bounded.
 *
 * The form of a primitive is the primitive; of an array or an object read
 * from JSON, its text (JavaScript's `<` and String() both read its
 * `toString`: JSON can give it no `valueOf` or `Symbol.toPrimitive` of its
 * own), or NO_FORM when it has none; any other object is its own form,
 * compared as JavaScript does.
 */
export class LooseForms {
  private readonly texts = new WeakMap<object, string | typeof NO_FORM>();
  private left = MAX_CONVERTED_ELEMENTS;

  /** The value as the loose comparisons read it (see the class). */
  form(value: unknown): unknown {
    if (typeof value !== 'object' || value === null || !isJsonObject(value)) return value;
    let text = this.texts.get(value);
    if (text === undefined) {
      this.charge(value);
      text = looseString(value) ?? NO_FORM;
      this.texts.set(value, text);
    }
    return text;
  }

  /** String(value) (looseString), each array or object converted once per request. */
  string(value: unknown): string | null {
    const form = this.form(value);
    return form === NO_FORM ? null : looseString(form);
  }

  /** Spends the elements converting `value` reads, before any is read: a 400 past the request's share. */
  private charge(value: object): void {
    let cost = 1;
    const arrays: object[] = [value];
    while (arrays.length > 0) {
      const current = arrays.pop()!;
      if (!Array.isArray(current)) continue;
      cost += current.length;
      if (cost > this.left) break;
      for (const item of current) if (Array.isArray(item)) arrays.push(item);
    }
    if (cost > this.left) {
      throw new DataError(
        'validation_failed',
        `Filters and sorts compare stored arrays as text, reading at most ${MAX_CONVERTED_ELEMENTS} of their elements per request: narrow the list with another filter`,
      );
    }
    this.left -= cost;
  }
}

/** An array or object as JSON.parse makes them (its `toString` is Array's, Object's, or none). */
function isJsonObject(value: object): boolean {
  if (Array.isArray(value)) return Object.getPrototypeOf(value) === Array.prototype;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** looseLess on forms (LooseForms.form): false when either is NO_FORM. */
export function formLess(left: unknown, right: unknown): boolean {
  return left !== NO_FORM && right !== NO_FORM && looseLess(left, right);
}

/** looseAtMost on forms (LooseForms.form): false when either is NO_FORM. */
export function formAtMost(left: unknown, right: unknown): boolean {
  return left !== NO_FORM && right !== NO_FORM && looseAtMost(left, right);
}
