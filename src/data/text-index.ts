import type { Row } from './query.js';

/**
 * The lower-cased texts a collection is searched by (`q`: each record's
 * values; `_like`: one field's), joined into one string with NUL between
 * records, so a search is a few `indexOf` calls over one string instead of a
 * test per record: the records found are those whose text holds a match.
 * A needle holding NUL could straddle two records, so such a needle is not
 * looked up here (the caller scans).
 *
 * Any write to the collection makes it stale; it is joined again from the
 * records' texts on the next search (RecordCache keeps `q`'s per record, so
 * only a written record's text is made again). Memory: one string about the
 * size of the texts, plus one offset per record.
 */
export class TextIndex {
  private joined: string | null = null;
  /** Where each record's text starts in `joined`. */
  private starts: number[] = [];

  constructor(
    private readonly rows: readonly unknown[],
    /** The lower-cased text of a record (entries that are not records have none). */
    private readonly textOf: (row: Row) => string,
  ) {}

  /** A record was put: join the texts again on the next search. */
  insert(): void {
    this.joined = null;
  }

  /** A record was deleted: join the texts again on the next search. */
  remove(): boolean {
    this.joined = null;
    return true;
  }

  /** The records whose text contains `needle` (lower-cased, no NUL), in collection order. */
  find(needle: string): Row[] {
    const joined = this.joined ?? this.join();
    const found: Row[] = [];
    let at = joined.indexOf(needle);
    while (at !== -1) {
      const record = this.recordAt(at);
      found.push(this.rows[record] as Row);
      // The next match worth finding starts in the next record's text.
      const next = this.starts[record + 1];
      if (next === undefined) break;
      at = joined.indexOf(needle, next);
    }
    return found;
  }

  private join(): string {
    const texts: string[] = [];
    this.starts = [];
    let offset = 0;
    for (const row of this.rows) {
      const text = typeof row === 'object' && row !== null ? this.textOf(row as Row) : '';
      texts.push(text);
      this.starts.push(offset);
      offset += text.length + 1;
    }
    this.joined = texts.join('\u0000');
    return this.joined;
  }

  /** The record whose text holds position `at` (the last start not after it). */
  private recordAt(at: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.starts[middle]! <= at) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}
