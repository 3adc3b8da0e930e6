import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FieldIndexes } from '../../src/data/field-index.js';
import { RecordCache } from '../../src/data/record-cache.js';
import { TextIndex } from '../../src/data/text-index.js';
import { filterRows, type Row } from '../../src/data/query.js';

/**
 * `q` and `_like` read from text indexes (src/data/text-index.ts) find what
 * the scan finds: random records (cased letters, Greek sigmas, the Kelvin
 * sign and dotted capital I, whose lower-casing differs from a regular
 * expression's case folding, NUL, numbers, nested values, null) are indexed,
 * written (put and delete, as the change feed reports them) and searched, and
 * each lookup is checked: `q`'s gives exactly the scan's records, `_like`'s a
 * superset of them, both in collection order, with the filter's answer equal
 * to the scan's. The HTTP comparison of indexed and scanning apps is
 * test/data/field-index.test.ts.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);

const unit = fc.constantFrom(
  'a',
  'B',
  'k',
  'K',
  '\u212a',
  'i',
  'I',
  '\u0130',
  'σ',
  'ς',
  'Σ',
  ' ',
  '1',
  '-',
  '\u0000',
);
const text = fc.string({ unit, maxLength: 6 });
const value = fc.oneof(
  text,
  fc.integer({ min: -20, max: 20 }),
  fc.constantFrom<unknown>(null, true, false, 0, [], ['aK', 1], { name: 'Bk' }, { toString: 1 }),
);
const record = fc.record(
  { title: value, author: fc.record({ name: value }, { requiredKeys: [] }) },
  { requiredKeys: [] },
);
const needle = fc.oneof(
  fc.string({ unit, minLength: 1, maxLength: 3 }),
  fc.constantFrom('1', 'k', 'true', '-1', 'a b'),
);

type Step = { put: Row; at: number } | { remove: number };
const history = fc.tuple(
  fc.array(record, { maxLength: 30 }),
  fc.array(
    fc.oneof(
      fc.tuple(record, fc.nat()).map(([put, at]): Step => ({ put, at })),
      fc.nat().map((n): Step => ({ remove: n })),
    ),
    { maxLength: 10 },
  ),
);

/** A collection as the document holds it, and the indexes following its changes. */
function indexedCollection(
  initial: Row[],
  steps: Step[],
  query: (indexes: FieldIndexes, rows: Row[]) => void,
) {
  const cache = new RecordCache();
  const indexes = new FieldIndexes('id', 8, (row) => cache.searchText(row));
  let nextId = 1;
  const rows: Row[] = initial.map((row) => ({ ...row, id: nextId++ }));
  query(indexes, rows);
  for (const step of steps) {
    if ('put' in step) {
      // A new record half the time, else a replacement of a stored one, as PUT and PATCH store it.
      const replaced = rows.length > 0 && step.at % 2 === 0 ? step.at % rows.length : -1;
      const record = { ...step.put, id: replaced === -1 ? nextId++ : rows[replaced]!.id };
      if (replaced === -1) rows.push(record);
      else rows[replaced] = record;
      indexes.apply({ op: 'put', collection: 'posts', key: 'id', record });
    } else if (rows.length > 0) {
      const [removed] = rows.splice(step.remove % rows.length, 1);
      indexes.apply({ op: 'delete', collection: 'posts', key: 'id', id: removed!.id });
    }
    query(indexes, rows);
  }
}

function inOrder(rows: Row[], found: readonly Row[]): void {
  const positions = found.map((row) => rows.indexOf(row));
  assert.ok(
    positions.every((p, i) => p !== -1 && (i === 0 || p > positions[i - 1]!)),
    'stored records in order',
  );
}

describe('text indexes', () => {
  it('q: the records the scan finds, exactly, through writes', () => {
    fc.assert(
      fc.property(history, fc.array(needle, { minLength: 1, maxLength: 3 }), ([initial, steps], needles) => {
        indexedCollection(initial, steps, (indexes, rows) => {
          const lookup = indexes.lookup('posts', rows)!;
          for (const q of needles) {
            const expected = filterRows(rows, { q });
            const found = lookup.search(q.toLowerCase());
            if (q.includes('\u0000')) assert.equal(found, null);
            else {
              assert.deepEqual(found, expected, `q=${JSON.stringify(q)}`);
              inOrder(rows, found!);
            }
            assert.deepEqual(filterRows(rows, { q }, { index: lookup }), expected);
          }
        });
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('_like: a superset of what the scan finds for literal patterns, through writes', () => {
    fc.assert(
      fc.property(
        history,
        fc.constantFrom(['title'], ['author', 'name']),
        fc.array(needle, { minLength: 1, maxLength: 3 }),
        ([initial, steps], path, patterns) => {
          indexedCollection(initial, steps, (indexes, rows) => {
            const lookup = indexes.lookup('posts', rows)!;
            for (const pattern of patterns) {
              const key = `${path.join('.')}_like`;
              const expected = filterRows(rows, { [key]: pattern });
              const found = lookup.looseLike(path, pattern);
              if (found) {
                inOrder(rows, found);
                for (const row of expected)
                  assert.ok(found.includes(row), `${key}=${JSON.stringify(pattern)}`);
              }
              assert.deepEqual(filterRows(rows, { [key]: pattern }, { index: lookup }), expected);
            }
          });
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('finds by scanning and by trigrams alike, through writes', () => {
    const plain = fc.string({
      unit: fc.constantFrom('a', 'b', 'ab', ' ', '1', 'σ', '\u0000'),
      maxLength: 12,
    });
    fc.assert(
      fc.property(
        fc.array(plain, { maxLength: 30 }),
        fc.array(fc.tuple(fc.option(plain), fc.nat()), { maxLength: 8 }),
        fc.array(fc.string({ unit: fc.constantFrom('a', 'b', ' ', '1', 'σ'), minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.constantFrom(0, 1, 3),
        (texts, writes, needles, gramsAfter) => {
          const rows: unknown[] = texts.map((text, i) => (i % 7 === 6 ? 'not a record' : { text }));
          const index = new TextIndex(rows, (row) => String(row.text), gramsAfter);
          const check = () => {
            for (const needle of needles) {
              // Asked twice and more, so trigrams get built and used.
              for (let i = 0; i < 3; i++) {
                const expected = rows.filter(
                  (row) =>
                    typeof row === 'object' && row !== null && String((row as Row).text).includes(needle),
                );
                assert.deepEqual(index.find(needle), expected, JSON.stringify({ needle, texts: rows }));
              }
            }
          };
          check();
          for (const [text, at] of writes) {
            if (text === null && rows.length > 0) {
              rows.splice(at % rows.length, 1);
              index.remove();
            } else if (text !== null) {
              rows.push({ text });
              index.insert();
            }
            check();
          }
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('_like takes only literal ASCII patterns from the index', () => {
    const rows: Row[] = [{ id: 1, title: 'Post number 777' }];
    const lookup = new FieldIndexes('id', 8, () => '').lookup('posts', rows)!;
    assert.deepEqual(lookup.looseLike(['title'], 'NUMBER 7'), rows);
    for (const pattern of ['number.777', '^Post', 'σ', '7+', '[n]umber']) {
      assert.equal(lookup.looseLike(['title'], pattern), null, pattern);
    }
  });
});
