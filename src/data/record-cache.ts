import type { Row } from './query.js';

/**
 * What lists derive from each stored record, kept per record object so an
 * unchanged record is not serialized or lower-cased again by every request:
 * its JSON (a list answer is then its records' JSON joined) and its search
 * text for `q`. The data API never changes a stored record in place (a
 * write stores a new object), so a write leaves nothing stale here; a change
 * the document's feed cannot describe (`any`) or a reload clears it all.
 *
 * Memory: at most one JSON string and one search text per live record (about
 * twice the document's JSON); a replaced record's entries go with it (WeakMap).
 */
export class RecordCache {
  private jsons = new WeakMap<object, string>();
  private texts = new WeakMap<object, string>();

  clear(): void {
    this.jsons = new WeakMap();
    this.texts = new WeakMap();
  }

  /** JSON.stringify(row), once per record object. */
  json(row: Row): string {
    let json = this.jsons.get(row);
    if (json === undefined) {
      json = JSON.stringify(row);
      this.jsons.set(row, json);
    }
    return json;
  }

  /** A list of records as JSON.stringify(rows) would write it. */
  jsonList(rows: readonly Row[]): string {
    let out = '[';
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      // Entries that are not objects (a hand-edited db.json) are cheap to write again, and have no identity.
      const json = typeof row === 'object' && row !== null ? this.json(row) : JSON.stringify(row);
      out += i === 0 ? json : `,${json}`;
    }
    return `${out}]`;
  }

  /**
   * Whether json-server's `q` finds `needle` (lower-cased) in the record:
   * any nested value that is not empty, false, 0 or null, as a lower-cased
   * string, contains it. The values' texts are kept joined by NUL, which a
   * needle holding NUL could straddle: such a needle is looked for value by value.
   */
  contains(row: unknown, needle: string): boolean {
    if (typeof row !== 'object' || row === null) return false;
    if (needle.includes('\u0000')) return Object.values(row).some((value) => deepContains(value, needle));
    return this.searchText(row).includes(needle);
  }

  /** The record's values lower-cased, joined by NUL: a needle without NUL is in it when `q` finds it. */
  searchText(row: object): string {
    let text = this.texts.get(row);
    if (text === undefined) {
      const parts: string[] = [];
      collectTexts(row, parts);
      text = parts.join('\u0000');
      this.texts.set(row, text);
    }
    return text;
  }
}

/** json-server's deepQuery on one value: does it, or any value nested in it, contain `needle`? */
export function deepContains(value: unknown, needle: string): boolean {
  if (!value) return false;
  if (Array.isArray(value)) return value.some((item) => deepContains(item, needle));
  if (typeof value === 'object') return Object.values(value).some((item) => deepContains(item, needle));
  return String(value).toLowerCase().includes(needle);
}

/** The texts deepContains looks into, each lower-cased on its own (as json-server lower-cases them). */
function collectTexts(value: unknown, parts: string[]): void {
  if (!value) return;
  if (typeof value === 'object') {
    for (const item of Object.values(value)) collectTexts(item, parts);
    return;
  }
  parts.push(String(value).toLowerCase());
}
