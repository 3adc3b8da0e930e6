import type { DocumentChange } from '../core/ports/documents.js';
import { isPlainObject } from '../lib/is-plain-object.js';
import { looseString, type LooseForms } from './loose.js';
import { ownValue } from './keys.js';
import type { Row } from './query.js';
import { RangeIndex, type Side } from './range-index.js';
import { TextIndex } from './text-index.js';

/**
 * Equality indexes built on demand, per collection and field: the first
 * filtered list on `?userId=3` builds `userId`'s index (one pass over the
 * collection), and later ones read their records from it instead of scanning,
 * so an equality filter costs the same at 1,000 records as at 100,000.
 *
 * Kept up to date by the document's change feed (DocumentStore.onChange):
 * every record a transaction puts or deletes (an HTTP write, a journal line)
 * moves between buckets as it is made; a change the feed cannot describe (a
 * whole-document transaction, a singular value replacing a collection) drops
 * the indexes it may touch, and a reload (a failed commit, a `--watch`
 * reload) drops them all. They are rebuilt on next use. As a last guard, an
 * index serves only the array it was built on, at the length it expects.
 *
 * An index only narrows: the list's own filter runs again on the records it
 * gives, so it needs to hold every record that can match (a superset) in
 * collection order, never exactly the answer. Two key forms exist, one per
 * grammar: json-server 0.17 compares `String(value)` with the query string
 * (`?id=1` finds 1 and "1"), 1.x compares values strictly and lets a path
 * through an object the record lacks match anything.
 *
 * Range filters read from range indexes (range-index.ts), built, kept and
 * dropped the same way.
 *
 * Memory is bounded per collection: one order number and id entry per
 * record, and at most `maxFields` field indexes, equality and range together
 * (one entry per record each); the least recently used is dropped for a new one.
 */

/** How records are grouped: 0.17's `String(value)`, or 1.x's value itself. */
export type KeyForm = 'loose' | 'strict';

/** 1.x: the path goes through something that is not an object, so a condition on it passes vacuously. */
const VACUOUS = Symbol('vacuous');
/** No key: the record cannot match any equality on this path. */
const NONE = Symbol('none');

type Key = string | number | boolean | null | typeof VACUOUS;

/** How a value becomes text: looseString, or a request's LooseForms (each value once, within its budget). */
type ToText = (value: unknown) => string | null;

function textsOf(forms: LooseForms | undefined): ToText {
  return forms ? (value) => forms.string(value) : looseString;
}

function looseKey(row: object, segments: readonly string[], toText: ToText): Key | typeof NONE {
  let current: unknown = row;
  for (const segment of segments) {
    current = ownValue(current, segment);
    if (current === undefined) return NONE;
  }
  if (current === null) return NONE;
  return toText(current) ?? NONE;
}

function strictKey(row: object, segments: readonly string[]): Key | typeof NONE {
  let current: unknown = row;
  for (let i = 0; i < segments.length - 1; i++) {
    current = ownValue(current, segments[i]!);
    if (!isPlainObject(current)) return VACUOUS;
  }
  const value = ownValue(current, segments[segments.length - 1]!);
  if (value === undefined || (typeof value === 'object' && value !== null)) return NONE;
  return value as Key;
}

function likeText(row: Row, segments: readonly string[], toText: ToText): string {
  let current: unknown = row;
  for (const segment of segments) {
    current = ownValue(current, segment);
    if (current === undefined) return '';
  }
  if (current === null) return '';
  return toText(current)?.toLowerCase() ?? '';
}

/** Whether the path names an own value (null included): json-server 0.17 ignores a filter no record has. */
function hasPath(row: object, segments: readonly string[]): boolean {
  let current: unknown = row;
  for (const segment of segments) {
    current = ownValue(current, segment);
    if (current === undefined) return false;
  }
  return true;
}

const EMPTY: readonly Row[] = [];

/**
 * A `_like` pattern that is a literal of printable ASCII (no character a
 * regular expression treats specially). Its case-insensitive match is then
 * found in the lower-cased text: without the `u` flag a non-ASCII character
 * never matches an ASCII one case-insensitively, so the text's match is
 * ASCII and lower-cases to the lower-cased pattern (a superset: `toLowerCase`
 * may find more, such as the Kelvin sign for k, which the filter then drops).
 */
const LITERAL = /^[ !"#%&',\-/0-9:;<=>@A-Z_`a-z~]+$/u;

class FieldIndex {
  private readonly buckets = new Map<Key, Row[]>();
  /** Records holding the path at all (0.17's test for ignoring a filter). */
  present = 0;

  constructor(
    private readonly segments: readonly string[],
    private readonly form: KeyForm,
    private readonly order: (row: Row) => number,
  ) {}

  /** `toText`: a build's (the request's forms); a write's record alone is converted with looseString. */
  keyOf(row: Row, toText: ToText = looseString): Key | typeof NONE {
    return this.form === 'loose' ? looseKey(row, this.segments, toText) : strictKey(row, this.segments);
  }

  /** During a build: records arrive in collection order. */
  append(row: Row, toText: ToText): void {
    if (hasPath(row, this.segments)) this.present++;
    const key = this.keyOf(row, toText);
    if (key === NONE) return;
    const bucket = this.buckets.get(key);
    if (bucket) bucket.push(row);
    else this.buckets.set(key, [row]);
  }

  insert(row: Row): void {
    if (hasPath(row, this.segments)) this.present++;
    const key = this.keyOf(row);
    if (key === NONE) return;
    const bucket = this.buckets.get(key);
    if (!bucket) {
      this.buckets.set(key, [row]);
      return;
    }
    bucket.splice(this.position(bucket, this.order(row)), 0, row);
  }

  /** False when the record is not where its key says (changed in place): the index cannot be trusted. */
  remove(row: Row): boolean {
    if (hasPath(row, this.segments)) this.present--;
    const key = this.keyOf(row);
    if (key === NONE) return true;
    const bucket = this.buckets.get(key);
    if (!bucket) return false;
    const at = this.position(bucket, this.order(row));
    if (bucket[at] !== row) return false;
    if (bucket.length === 1) this.buckets.delete(key);
    else bucket.splice(at, 1);
    return true;
  }

  get(key: Key): readonly Row[] {
    return this.buckets.get(key) ?? EMPTY;
  }

  /** The records under any of `keys` (and under VACUOUS if asked), in collection order. */
  union(keys: readonly Key[]): readonly Row[] {
    const buckets = [...new Set(keys)].map((key) => this.get(key)).filter((bucket) => bucket.length > 0);
    if (buckets.length === 0) return EMPTY;
    if (buckets.length === 1) return buckets[0]!;
    return buckets.flat().sort((a, b) => this.order(a) - this.order(b));
  }

  /** First index in `bucket` whose order is not below `order` (buckets are sorted by order). */
  private position(bucket: readonly Row[], order: number): number {
    let low = 0;
    let high = bucket.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.order(bucket[middle]!) < order) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** One collection's order numbers, ids and field indexes. */
class CollectionIndex {
  /** Each record's place in collection order: kept by a replaced record's successor, new ones last. */
  private readonly orders = new Map<Row, number>();
  /** Records by id (as strings, as json-server compares ids), in order: changes name records by id. */
  private readonly byId = new Map<string, Row[]>();
  private next = 0;
  /** Field indexes (equality and range), least recently used first. */
  private readonly fields = new Map<string, FieldIndex | RangeIndex | TextIndex>();
  length: number;

  constructor(
    readonly rows: unknown[],
    private readonly idProp: string,
    private readonly maxFields: number,
  ) {
    this.length = rows.length;
    for (const row of rows) {
      if (typeof row !== 'object' || row === null) continue;
      this.orders.set(row as Row, this.next++);
      this.addId(row as Row);
    }
  }

  private readonly order = (row: Row): number => this.orders.get(row)!;

  /** `forms`: the request's, converting values for a build (see FieldIndexes.lookup). */
  field(path: readonly string[], form: KeyForm, forms?: LooseForms): FieldIndex {
    // Segments may hold dots (1.x's _where names keys as they are): the name keeps them apart.
    return this.cached(`${form}:${JSON.stringify(path)}`, () => {
      const index = new FieldIndex(path, form, this.order);
      const toText = textsOf(forms);
      for (const row of this.rows) {
        if (typeof row === 'object' && row !== null) index.append(row as Row, toText);
      }
      return index;
    });
  }

  range(path: readonly string[], form: KeyForm): RangeIndex {
    return this.cached(`range:${form}:${JSON.stringify(path)}`, () => {
      const index = new RangeIndex(path, form === 'strict', this.order);
      index.build(this.rows.filter((row): row is Row => typeof row === 'object' && row !== null));
      return index;
    });
  }

  /** `q`'s texts: each record's values, lower-cased (RecordCache.searchText). */
  search(searchText: (row: Row) => string): TextIndex {
    return this.cached('q', () => new TextIndex(this.rows, searchText));
  }

  /** `_like`'s texts on one field: `String(value)` lower-cased, none for null or undefined (0.17). */
  likeTexts(path: readonly string[]): TextIndex {
    return this.cached(
      `like:${JSON.stringify(path)}`,
      () => new TextIndex(this.rows, (row, forms) => likeText(row, path, textsOf(forms))),
    );
  }

  /** The index under `name`, built when missing; the least recently used goes past `maxFields`. */
  private cached<T extends FieldIndex | RangeIndex | TextIndex>(name: string, build: () => T): T {
    let index = this.fields.get(name) as T | undefined;
    if (index) {
      // Most recently used last.
      this.fields.delete(name);
      this.fields.set(name, index);
      return index;
    }
    index = build();
    if (this.fields.size >= this.maxFields) this.fields.delete(this.fields.keys().next().value!);
    this.fields.set(name, index);
    return index;
  }

  /** The record now stored under its id: it replaces the first record with that id, else comes last. False: untrackable. */
  put(key: string, record: Row): boolean {
    const id = key === this.idProp ? idKey(record[key]) : null;
    if (id === null) return false;
    const same = this.byId.get(id);
    const old = same?.[0];
    let order: number;
    if (old) {
      order = this.orders.get(old)!;
      if (!this.unindex(old)) return false;
      same![0] = record;
    } else {
      order = this.next++;
      this.byId.set(id, [record]);
      this.length++;
    }
    this.orders.set(record, order);
    for (const index of this.fields.values()) index.insert(record);
    return true;
  }

  /** The first record with this id removed. False: untrackable. */
  delete(key: string, id: unknown): boolean {
    const wanted = key === this.idProp ? idKey(id) : null;
    if (wanted === null) return false;
    const same = this.byId.get(wanted);
    const old = same?.[0];
    if (!old || !this.unindex(old)) return false;
    if (same!.length === 1) this.byId.delete(wanted);
    else same!.shift();
    this.length--;
    return true;
  }

  private unindex(row: Row): boolean {
    for (const index of this.fields.values()) if (!index.remove(row)) return false;
    this.orders.delete(row);
    return true;
  }

  private addId(row: Row): void {
    const id = idKey(ownValue(row, this.idProp));
    if (id === null) return;
    const same = this.byId.get(id);
    if (same) same.push(row);
    else this.byId.set(id, [row]);
  }
}

/** An id as json-server compares ids (String), or null for none. */
function idKey(value: unknown): string | null {
  return value === undefined || value === null ? null : looseString(value);
}

/**
 * What a list needs from an index, a path being its keys in order
 * (`author.name` is ['author', 'name']): whether any record has a path, and
 * the records that can equal a value.
 */
export interface FieldLookup {
  /** Any record of the collection holds this path (0.17's test for ignoring a filter on it). */
  has(path: readonly string[]): boolean;
  /** Records whose value at `path` is `String`-equal to one of `values` (0.17), in collection order. */
  looseMatches(path: readonly string[], values: readonly string[]): readonly Row[];
  /** Records whose value at `path` is `=== value`, or whose path is vacuous (1.x), in collection order. */
  strictMatches(path: readonly string[], value: string | number | boolean | null): readonly Row[];
  /**
   * Records whose value at `path` may be at least / at most `bound` as JavaScript compares them (0.17's
   * `_gte`/`_lte` against the query string), in collection order; null when too many for an index to help.
   */
  looseRange(path: readonly string[], side: Side, bound: string): readonly Row[] | null;
  /** The same for 1.x's `gt`/`gte`/`lt`/`lte` (coerced bounds, vacuous nested paths). */
  strictRange(
    path: readonly string[],
    side: Side,
    bound: string | number | boolean | null,
  ): readonly Row[] | null;
  /** Records `q` finds (`needle` lower-cased), in collection order; null for a needle holding NUL. */
  search(needle: string): readonly Row[] | null;
  /**
   * Records a `_like` pattern on `path` may match, in collection order: for a
   * pattern of plain ASCII characters (a literal), those whose lower-cased
   * text holds it lower-cased; null for any other pattern (the list scans).
   */
  looseLike(path: readonly string[], pattern: string): readonly Row[] | null;
}

export class FieldIndexes {
  private readonly collections = new Map<string, CollectionIndex>();

  /** `maxFields`: indexes kept per collection (0: never index, every list scans). */
  constructor(
    private readonly idProp: string,
    private readonly maxFields: number,
    /** A record's text for `q` (RecordCache.searchText, kept per record). */
    private readonly searchText: (row: Row) => string,
  ) {}

  clear(): void {
    this.collections.clear();
  }

  /** Follows one change of the document (DocumentStore.onChange). */
  apply(change: DocumentChange): void {
    switch (change.op) {
      case 'put':
      case 'delete': {
        const collection = this.collections.get(change.collection);
        if (!collection) return;
        const kept =
          change.op === 'put'
            ? collection.put(change.key, change.record)
            : collection.delete(change.key, change.id);
        if (!kept) this.collections.delete(change.collection);
        return;
      }
      case 'set':
        this.collections.delete(change.name);
        return;
      case 'any':
        this.clear();
        return;
    }
  }

  /**
   * Lookups over `rows`, the whole collection `name` as the document holds it; null when indexing is
   * off. An index a lookup builds converts values with `forms`, the request's (LooseForms: each value
   * once, within the request's budget): an index is rebuilt after a change it cannot follow or once
   * evicted, so a build is part of the request that needs it.
   */
  lookup(name: string, rows: unknown[], forms?: LooseForms): FieldLookup | null {
    if (this.maxFields <= 0) return null;
    let collection = this.collections.get(name);
    if (!collection || collection.rows !== rows || collection.length !== rows.length) {
      collection = new CollectionIndex(rows, this.idProp, this.maxFields);
      this.collections.set(name, collection);
    }
    const index = collection;
    // Past a quarter of the collection, sorting candidates back into collection order costs more than a scan.
    const limit = rows.length / 4;
    return {
      has: (path) => index.field(path, 'loose', forms).present > 0,
      looseMatches: (path, values) => index.field(path, 'loose', forms).union(values),
      strictMatches: (path, value) => index.field(path, 'strict').union([value, VACUOUS]),
      looseRange: (path, side, bound) => index.range(path, 'loose').candidates(side, bound, limit),
      strictRange: (path, side, bound) => index.range(path, 'strict').candidates(side, bound, limit),
      search: (needle) =>
        needle.includes('\u0000') ? null : index.search(this.searchText).find(needle, forms),
      looseLike: (path, pattern) =>
        LITERAL.test(pattern) ? index.likeTexts(path).find(pattern.toLowerCase(), forms) : null,
    };
  }
}
