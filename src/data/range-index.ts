import { isPlainObject } from '../lib/is-plain-object.js';
import { ownValue } from './keys.js';
import type { Row } from './query.js';

/**
 * A range index on one field of one collection: the records whose value is a
 * number sorted by it, those whose value is a string sorted by it (code unit
 * order, as JavaScript's `<` compares strings), and the rest (booleans,
 * objects, 1.x's vacuous nested paths) in collection order. A range filter
 * (`views_gte=990`, `views:lt=5`) then reads a slice of each sorted list
 * instead of testing every record.
 *
 * Like the equality indexes it only narrows: the list's own filter runs again
 * on what it gives, so a lookup returns a superset of the answer in
 * collection order. JavaScript compares a number with a string as numbers
 * (`"990" <= 5` is `990 <= 5`) and two strings by code units, which is how the
 * two sorted lists are cut; what they cannot cut (the rest, and the strings
 * when 1.x compares them with a number) is always given.
 */

/** The value's side of `element OP bound`: at least the bound (`_gte`, `gt`) or at most (`_lte`, `lt`). */
export type Side = 'min' | 'max';

/** Always a candidate: a value neither sorted list holds. */
const REST = Symbol('rest');
/** Never a candidate: the filter is false for a record without a value at the path. */
const NONE = Symbol('none');

type RangeKey = number | string | typeof REST | typeof NONE;

/** 0.17: the value at the path (own properties); none for undefined or null, as its filter skips them. */
function looseKey(row: object, segments: readonly string[]): RangeKey {
  let current: unknown = row;
  for (const segment of segments) {
    current = ownValue(current, segment);
    if (current === undefined) return NONE;
  }
  if (current === null) return NONE;
  return classify(current);
}

/** 1.x: a path through something that is not an object passes vacuously; an absent value fails. */
function strictKey(row: object, segments: readonly string[]): RangeKey {
  let current: unknown = row;
  for (let i = 0; i < segments.length - 1; i++) {
    current = ownValue(current, segments[i]!);
    if (!isPlainObject(current)) return REST;
  }
  const value = ownValue(current, segments[segments.length - 1]!);
  return value === undefined ? NONE : classify(value);
}

function classify(value: unknown): RangeKey {
  if (typeof value === 'number') return Number.isNaN(value) ? REST : value;
  if (typeof value === 'string') return value;
  return REST;
}

/** One sorted list: keys ascending, ties in collection order; `keys[i]` is `rows[i]`'s. */
class Sorted<K extends number | string> {
  keys: K[] = [];
  rows: Row[] = [];

  constructor(private readonly order: (row: Row) => number) {}

  /** From records given in collection order (a stable sort keeps ties in it). */
  build(entries: Array<{ key: K; row: Row }>): void {
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.keys = entries.map((entry) => entry.key);
    this.rows = entries.map((entry) => entry.row);
  }

  /** First position whose (key, order) is not below (key, order). */
  private position(key: K, order: number): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const at = this.keys[middle]!;
      if (at < key || (at === key && this.order(this.rows[middle]!) < order)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  insert(key: K, row: Row): void {
    const at = this.position(key, this.order(row));
    this.keys.splice(at, 0, key);
    this.rows.splice(at, 0, row);
  }

  remove(key: K, row: Row): boolean {
    const at = this.position(key, this.order(row));
    if (this.rows[at] !== row) return false;
    this.keys.splice(at, 1);
    this.rows.splice(at, 1);
    return true;
  }

  /** Positions [from, to) of the keys at least / at most `bound` (NaN: none). */
  slice(side: Side, bound: K): [number, number] {
    if (typeof bound === 'number' && Number.isNaN(bound)) return [0, 0];
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const at = this.keys[middle]!;
      if (side === 'min' ? at < bound : at <= bound) low = middle + 1;
      else high = middle;
    }
    return side === 'min' ? [low, this.keys.length] : [0, low];
  }
}

export class RangeIndex {
  private readonly numbers: Sorted<number>;
  private readonly strings: Sorted<string>;
  /** The records always given, in collection order. */
  private rest: Row[] = [];

  constructor(
    private readonly segments: readonly string[],
    private readonly strict: boolean,
    private readonly order: (row: Row) => number,
  ) {
    this.numbers = new Sorted(order);
    this.strings = new Sorted(order);
  }

  private keyOf(row: Row): RangeKey {
    return this.strict ? strictKey(row, this.segments) : looseKey(row, this.segments);
  }

  /** Builds from the records in collection order. */
  build(rows: readonly Row[]): void {
    const numbers: Array<{ key: number; row: Row }> = [];
    const strings: Array<{ key: string; row: Row }> = [];
    for (const row of rows) {
      const key = this.keyOf(row);
      if (key === NONE) continue;
      if (key === REST) this.rest.push(row);
      else if (typeof key === 'number') numbers.push({ key, row });
      else strings.push({ key, row });
    }
    this.numbers.build(numbers);
    this.strings.build(strings);
  }

  insert(row: Row): void {
    const key = this.keyOf(row);
    if (key === NONE) return;
    if (key === REST) this.rest.splice(this.restPosition(this.order(row)), 0, row);
    else if (typeof key === 'number') this.numbers.insert(key, row);
    else this.strings.insert(key, row);
  }

  /** False when the record is not where its key says (changed in place): the index cannot be trusted. */
  remove(row: Row): boolean {
    const key = this.keyOf(row);
    if (key === NONE) return true;
    if (typeof key === 'number') return this.numbers.remove(key, row);
    if (typeof key === 'string') return this.strings.remove(key, row);
    const at = this.restPosition(this.order(row));
    if (this.rest[at] !== row) return false;
    this.rest.splice(at, 1);
    return true;
  }

  /**
   * The records whose value may be at least / at most `bound` as JavaScript
   * compares them, in collection order, or null when there are more than
   * `limit` (sorting them back into collection order would cost more than
   * the scan it saves). A string bound cuts the numbers as `Number(bound)`
   * and the strings as a string; another bound (1.x's coerced values) cuts
   * the numbers as `Number(bound)` and gives every string, which JavaScript
   * would compare as numbers.
   */
  candidates(side: Side, bound: string | number | boolean | null, limit: number): readonly Row[] | null {
    const [numberFrom, numberTo] = this.numbers.slice(side, Number(bound));
    const [stringFrom, stringTo] =
      typeof bound === 'string' ? this.strings.slice(side, bound) : [0, this.strings.rows.length];
    const count = numberTo - numberFrom + (stringTo - stringFrom) + this.rest.length;
    if (count > limit) return null;
    if (count === this.rest.length) return this.rest;
    const found = [
      ...this.numbers.rows.slice(numberFrom, numberTo),
      ...this.strings.rows.slice(stringFrom, stringTo),
      ...this.rest,
    ];
    return found.sort((a, b) => this.order(a) - this.order(b));
  }

  /** First position in `rest` whose order is not below `order`. */
  private restPosition(order: number): number {
    let low = 0;
    let high = this.rest.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.order(this.rest[middle]!) < order) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
