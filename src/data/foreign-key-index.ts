import { isRow } from './collections.js';
import type { Row } from './query.js';

/**
 * Children grouped by foreign key (`comments` by `postId`), so `_embed`
 * looks up each parent's children instead of scanning the child collection
 * once per parent (1,000 posts × 1,000 comments was a million comparisons
 * per embed, and `_embed` repeated made it hundreds of millions).
 *
 * An index belongs to one array of one length at one database generation
 * (every commit and reload bumps it): the data API replaces records in place,
 * so unlike the id index it cannot be maintained by appends; it is rebuilt on
 * the first read after a write. Keys are the raw values compared with `===`,
 * as json-server's embed compares (`postId: "1"` is not a child of id 1).
 */
interface Entry {
  rows: Row[];
  length: number;
  generation: number;
  children: Map<unknown, Row[]>;
}

const NONE: readonly Row[] = [];

export class ForeignKeyIndexes {
  /** collection → foreign key → index. */
  private readonly entries = new Map<string, Map<string, Entry>>();

  /** `onBuild` is told each time an index is (re)built, with its collection and key. */
  constructor(
    private readonly generation: () => number,
    private readonly onBuild: (collection: string, key: string) => void = () => {},
  ) {}

  clear(): void {
    this.entries.clear();
  }

  /** The rows of `collection` whose `key` is `value` (===), in collection order. */
  children(collection: string, rows: Row[], key: string, value: unknown): readonly Row[] {
    return this.entry(collection, rows, key).children.get(value) ?? NONE;
  }

  private entry(collection: string, rows: Row[], key: string): Entry {
    let byKey = this.entries.get(collection);
    if (!byKey) this.entries.set(collection, (byKey = new Map()));
    const generation = this.generation();
    const cached = byKey.get(key);
    if (cached && cached.rows === rows && cached.length === rows.length && cached.generation === generation) {
      return cached;
    }
    const children = new Map<unknown, Row[]>();
    for (const row of rows) {
      if (!isRow(row) || !Object.hasOwn(row, key)) continue;
      const value = row[key];
      const group = children.get(value);
      if (group) group.push(row);
      else children.set(value, [row]);
    }
    const entry: Entry = { rows, length: rows.length, generation, children };
    byKey.set(key, entry);
    this.onBuild(collection, key);
    return entry;
  }
}
