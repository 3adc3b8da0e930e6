import { looseLess, looseString } from './loose.js';
import type { Row } from './query.js';

/**
 * Id → position maps, one per collection, so a single-record read or write
 * does not scan the collection, and a POST does not scan it for the max id.
 *
 * An index belongs to one array (identity) of one length. The data API
 * maintains it through its own writes (`added`, `changed`); anything else
 * (a hand edit reloaded from disk replaces the arrays; a failed commit reloads
 * them; the file store edits the users collection in place, which the
 * caller marks `volatile` so its index is only trusted for one generation of
 * the database) makes it stale, and it is rebuilt on next use. A hit is
 * always verified against the row it points at, so a stale index can cost a
 * rebuild but never return the wrong record.
 */
interface Entry {
  rows: Row[];
  length: number;
  /** FileDatabase generation it was built or last maintained at (checked for volatile collections only). */
  generation: number;
  positions: Map<string, number>;
  /** json-server's max id (lodash maxBy over ids, skipping null/undefined/NaN); undefined when none. */
  max: unknown;
}

function keyOf(value: unknown): string | undefined {
  // json-server compares ids with toString(): 1 and "1" are the same id. A value without a string form
  // (a stored {"toString": 1}, say as a foreign key) is no id: nothing is found by it, nothing throws.
  return value === undefined || value === null ? undefined : (looseString(value) ?? undefined);
}

function greater(candidate: unknown, max: unknown): boolean {
  if (candidate === undefined || candidate === null || Number.isNaN(candidate)) return false;
  return max === undefined || looseLess(max, candidate);
}

export class IdIndexes {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly idProp: string,
    private readonly generation: () => number,
    private readonly isVolatile: (collection: string) => boolean,
  ) {}

  /** Forgets every index (the documents were replaced from disk). */
  clear(): void {
    this.entries.clear();
  }

  /** Position of the record with this id (compared as strings), or -1. */
  find(collection: string, rows: Row[], id: unknown): number {
    const key = keyOf(id);
    if (key === undefined) return -1;
    let entry = this.entry(collection, rows);
    let position = entry.positions.get(key);
    if (position !== undefined && this.holds(rows, position, key)) return position;
    // A miss is trusted while the index is current (ours to maintain, or of this generation).
    if (position === undefined && this.isCurrent(collection, entry)) return -1;
    // Missed or pointed at another row while possibly stale: rebuild once and look again.
    entry = this.rebuild(collection, rows);
    position = entry.positions.get(key);
    return position === undefined ? -1 : position;
  }

  /** json-server's createId: max + 1 when the max id is a finite number, else null (use a random id). */
  nextNumericId(collection: string, rows: Row[]): number | null {
    const { max } = this.entry(collection, rows);
    if (max === undefined) return 1;
    return typeof max === 'number' && Number.isFinite(max) ? max + 1 : null;
  }

  /** After the data API pushed `row` onto `rows`. */
  added(collection: string, rows: Row[], row: Row): void {
    const entry = this.entries.get(collection);
    if (!entry || entry.rows !== rows || entry.length !== rows.length - 1) {
      this.entries.delete(collection);
      return;
    }
    const key = keyOf(row[this.idProp]);
    if (key !== undefined && !entry.positions.has(key)) entry.positions.set(key, rows.length - 1);
    if (greater(row[this.idProp], entry.max)) entry.max = row[this.idProp];
    entry.length = rows.length;
    entry.generation = this.generation();
  }

  /** After the data API replaced a row in place (same id) or removed rows: positions may have moved. */
  changed(collection: string, removed: boolean): void {
    if (removed) this.entries.delete(collection);
  }

  private holds(rows: Row[], position: number, key: string): boolean {
    const row = rows[position];
    return typeof row === 'object' && row !== null && keyOf(row[this.idProp]) === key;
  }

  private isCurrent(collection: string, entry: Entry): boolean {
    return !this.isVolatile(collection) || entry.generation === this.generation();
  }

  private entry(collection: string, rows: Row[]): Entry {
    const entry = this.entries.get(collection);
    if (entry && entry.rows === rows && entry.length === rows.length && this.isCurrent(collection, entry)) {
      return entry;
    }
    return this.rebuild(collection, rows);
  }

  private rebuild(collection: string, rows: Row[]): Entry {
    const positions = new Map<string, number>();
    let max: unknown;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (typeof row !== 'object' || row === null) continue;
      const id = row[this.idProp];
      const key = keyOf(id);
      // The first of two equal ids wins, as json-server's find does.
      if (key !== undefined && !positions.has(key)) positions.set(key, i);
      if (greater(id, max)) max = id;
    }
    const entry: Entry = { rows, length: rows.length, generation: this.generation(), positions, max };
    this.entries.set(collection, entry);
    return entry;
  }
}
