import type { LooseForms } from './loose.js';
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
 *
 * A collection searched often between writes also gets a trigram index:
 * each three characters' records, so a needle of three or more is looked for
 * only in the records holding its rarest trigram instead of in the whole
 * string. It is built once `gramsAfter` searches since the last join have
 * scanned (its build costs about that many scans, so a write between every
 * few searches never pays more than twice the scans), and only over texts
 * up to MAX_GRAM_TEXT characters: it holds about one entry per character.
 */

/** Texts longer than this (about 20,000 records of a hundred characters) get no trigram index: its memory would grow past ~16 MB. */
const MAX_GRAM_TEXT = 2_000_000;
export class TextIndex {
  private joined: string | null = null;
  /** Where each record's text starts in `joined`. */
  private starts: number[] = [];
  /** Each trigram's records (positions, ascending), or null until built. */
  private grams: Map<string, number[]> | null = null;
  /** Searches that scanned the string since it was joined. */
  private scans = 0;

  constructor(
    private readonly rows: readonly unknown[],
    /**
     * The lower-cased text of a record (entries that are not records have none), converting values
     * with the searching request's `forms` when given (its budget, loose.ts).
     */
    private readonly textOf: (row: Row, forms?: LooseForms) => string,
    /** Scans after which the trigram index is built (see above). */
    private readonly gramsAfter = 32,
  ) {}

  /** A record was put: join the texts again on the next search. */
  insert(): void {
    this.joined = null;
    this.grams = null;
  }

  /** A record was deleted: join the texts again on the next search. */
  remove(): boolean {
    this.insert();
    return true;
  }

  /**
   * The records whose text contains `needle` (lower-cased, no NUL), in collection order. A join
   * the search needs converts values with `forms`, the searching request's.
   */
  find(needle: string, forms?: LooseForms): Row[] {
    const joined = this.joined ?? this.join(forms);
    if (needle.length >= 3 && joined.length <= MAX_GRAM_TEXT) {
      if (!this.grams && this.scans >= this.gramsAfter) this.grams = this.buildGrams(joined);
      if (this.grams) return this.findByGrams(joined, this.grams, needle);
      this.scans++;
    }
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

  /** The records holding the needle's rarest trigram, each then checked whole. */
  private findByGrams(joined: string, grams: Map<string, number[]>, needle: string): Row[] {
    let rarest: number[] | undefined;
    for (let i = 0; i + 3 <= needle.length; i++) {
      const records = grams.get(needle.slice(i, i + 3));
      if (!records) return [];
      if (!rarest || records.length < rarest.length) rarest = records;
    }
    const found: Row[] = [];
    for (const record of rarest!) {
      const end = this.starts[record + 1] ?? joined.length + 1;
      if (joined.slice(this.starts[record]!, end - 1).includes(needle)) found.push(this.rows[record] as Row);
    }
    return found;
  }

  private buildGrams(joined: string): Map<string, number[]> {
    const grams = new Map<string, number[]>();
    for (let record = 0; record < this.starts.length; record++) {
      const end = (this.starts[record + 1] ?? joined.length + 1) - 1;
      for (let i = this.starts[record]!; i + 3 <= end; i++) {
        const gram = joined.slice(i, i + 3);
        // A needle holds no NUL, so no trigram across two values is ever asked for.
        if (gram.includes('\u0000')) continue;
        const records = grams.get(gram);
        if (!records) grams.set(gram, [record]);
        else if (records[records.length - 1] !== record) records.push(record);
      }
    }
    return grams;
  }

  private join(forms?: LooseForms): string {
    this.scans = 0;
    const texts: string[] = [];
    this.starts = [];
    let offset = 0;
    for (const row of this.rows) {
      const text = typeof row === 'object' && row !== null ? this.textOf(row as Row, forms) : '';
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
