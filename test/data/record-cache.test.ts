import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RecordCache } from '../../src/data/record-cache.js';

/**
 * The record cache (src/data/record-cache.ts) answers as the work it saves:
 * a list's JSON is JSON.stringify's, and `q` finds what json-server's
 * deepQuery finds, for random records and needles (cased letters, Greek
 * sigma, NUL, which the joined search text uses as its separator), asked
 * twice so the second answer comes from the cache.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);

/** json-server 0.17.4's q (lodash-id's deepQuery over the record's values), written out as it does it. */
function deepQuery(value: unknown, q: string): boolean {
  if (!value) return false;
  if (Array.isArray(value)) return value.some((item) => deepQuery(item, q));
  if (typeof value === 'object') return Object.values(value).some((item) => deepQuery(item, q));
  return String(value).toLowerCase().includes(q);
}

const text = fc.string({
  unit: fc.constantFrom('a', 'B', 'Σ', 'σ', 'ς', 'ΑΣ', '\u0000', ' ', '1', 'İ', 'x'),
});
const record = fc.dictionary(
  fc.string({ maxLength: 3 }),
  fc.oneof(text, fc.jsonValue({ maxDepth: 2 }), fc.array(fc.oneof(text, fc.integer()), { maxLength: 3 })),
  { maxKeys: 5 },
);

describe('RecordCache', () => {
  it('writes a list as JSON.stringify does, from cache or not', () => {
    const cache = new RecordCache();
    fc.assert(
      fc.property(fc.array(fc.oneof(record, fc.jsonValue({ maxDepth: 1 }))), (rows) => {
        const expected = JSON.stringify(rows);
        assert.equal(cache.jsonList(rows as Record<string, unknown>[]), expected);
        assert.equal(cache.jsonList(rows as Record<string, unknown>[]), expected);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("finds q where json-server's deepQuery does, from cache or not", () => {
    const cache = new RecordCache();
    fc.assert(
      fc.property(record, text, (row, q) => {
        const needle = q.toLowerCase();
        if (needle === '') return;
        const expected = Object.values(row).some((value) => deepQuery(value, needle));
        assert.equal(cache.contains(row, needle), expected);
        assert.equal(cache.contains(row, needle), expected);
      }),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  it('forgets what it derived when cleared (a record changed in place)', () => {
    const cache = new RecordCache();
    const row: Record<string, unknown> = { title: 'before' };
    assert.equal(cache.json(row), '{"title":"before"}');
    assert.equal(cache.contains(row, 'before'), true);
    row.title = 'after';
    cache.clear();
    assert.equal(cache.json(row), '{"title":"after"}');
    assert.equal(cache.contains(row, 'before'), false);
  });
});
