import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RangeIndex, type Side } from '../../src/data/range-index.js';
import { filterRows, type Row } from '../../src/data/query.js';
import { matchesWhere, type Where } from '../../src/data/query-v1.js';

/**
 * A range index (src/data/range-index.ts) gives every record the scan
 * matches, in collection order, whatever the values (numbers, numeric and
 * other strings, booleans, null, arrays, objects, a {"toString": 1}), the
 * bound and the writes since it was built: a random collection is indexed,
 * records are inserted and removed at random, and each range query's
 * candidates are checked against 0.17's filter (`views_gte`) and 1.x's
 * matchesWhere (`views: {gt: ...}`), deep paths included. The HTTP
 * comparison of indexed and scanning apps is test/data/field-index.test.ts.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);

const scalar = fc.oneof(
  fc.integer({ min: -3, max: 12 }),
  fc.constantFrom<unknown>(
    0.5,
    -0,
    1e21,
    '',
    ' ',
    '1',
    '10',
    '9',
    '2',
    '-1',
    '1e1',
    '0x1',
    'a',
    'B',
    'é',
    ' 3 ',
  ),
  fc.string({ unit: fc.constantFrom('1', '2', 'a', 'B', ' ', '.'), maxLength: 3 }),
  fc.constantFrom<unknown>(true, false, null),
);
const value = fc.oneof(
  { weight: 8, arbitrary: scalar },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>([], [3], [1, 2], ['b'], {}, { toString: 1 }, { name: 5 }),
  },
);
const record = fc.record(
  { views: value, author: fc.oneof(fc.record({ name: value }, { requiredKeys: [] }), scalar) },
  { requiredKeys: [] },
);

const looseBound = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '0',
    '1',
    '2',
    '5',
    '10',
    '-1',
    '1e1',
    '0x1',
    'a',
    'B',
    'abc',
    '[object Object]',
    '1,2',
  ),
  fc.string({ unit: fc.constantFrom('1', '2', 'a', 'B', ' ', '.'), maxLength: 3 }),
);
const strictBound = fc.oneof(
  fc.integer({ min: -3, max: 12 }),
  fc.constantFrom<string | number | boolean | null>(true, false, null, 0.5, '', 'a', 'B', '1 ', 'é'),
  looseBound,
);

/** A collection built, then changed: each step inserts a new record or removes one at random. */
const history = fc.tuple(
  fc.array(record, { maxLength: 40 }),
  fc.array(
    fc.oneof(
      record.map((r) => ({ insert: r })),
      fc.nat().map((n) => ({ remove: n })),
    ),
    {
      maxLength: 20,
    },
  ),
);

function indexed(
  path: string[],
  strict: boolean,
  initial: Row[],
  steps: Array<{ insert: Row } | { remove: number }>,
) {
  const orders = new Map<Row, number>();
  let next = 0;
  const rows = initial.map((row) => ({ ...row }));
  for (const row of rows) orders.set(row, next++);
  const index = new RangeIndex(path, strict, (row) => orders.get(row)!);
  index.build(rows);
  for (const step of steps) {
    if ('insert' in step) {
      const row = { ...step.insert };
      orders.set(row, next++);
      rows.push(row);
      index.insert(row);
    } else if (rows.length > 0) {
      const [row] = rows.splice(step.remove % rows.length, 1);
      assert.ok(index.remove(row!), 'a record the index holds is removed');
    }
  }
  return { rows, index, orders };
}

function check(
  rows: Row[],
  orders: Map<Row, number>,
  candidates: readonly Row[] | null,
  expected: Row[],
  what: string,
): void {
  assert.ok(candidates, `${what}: an unlimited lookup answers`);
  const given = new Set(candidates);
  assert.equal(given.size, candidates.length, `${what}: no record twice`);
  for (const row of expected) assert.ok(given.has(row), `${what}: ${JSON.stringify(row)} missing`);
  for (let i = 1; i < candidates.length; i++) {
    assert.ok(orders.get(candidates[i - 1]!)! < orders.get(candidates[i]!)!, `${what}: collection order`);
  }
  for (const row of candidates) assert.ok(rows.includes(row), `${what}: only stored records`);
}

const paths = fc.constantFrom<string[]>(['views'], ['author', 'name'], ['author']);

describe('RangeIndex', () => {
  it("gives every record 0.17's _gte/_lte matches, in collection order", () => {
    fc.assert(
      fc.property(
        history,
        paths,
        fc.constantFrom<Side>('min', 'max'),
        looseBound,
        ([initial, steps], path, side, bound) => {
          const { rows, index, orders } = indexed(path, false, initial, steps);
          const key = `${path.join('.')}${side === 'min' ? '_gte' : '_lte'}`;
          const expected = filterRows(rows, { [key]: bound });
          check(rows, orders, index.candidates(side, bound, Infinity), expected, `${key}=${bound}`);
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("gives every record 1.x's gt/gte/lt/lte matches, in collection order", () => {
    fc.assert(
      fc.property(
        history,
        paths,
        fc.constantFrom('gt', 'gte', 'lt', 'lte'),
        strictBound,
        ([initial, steps], path, op, bound) => {
          const { rows, index, orders } = indexed(path, true, initial, steps);
          let where: Where = { [op]: bound };
          for (const segment of [...path].reverse()) where = { [segment]: where };
          const expected = rows.filter((row) => matchesWhere(row, where));
          const side: Side = op.startsWith('g') ? 'min' : 'max';
          check(rows, orders, index.candidates(side, bound, Infinity), expected, JSON.stringify(where));
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('narrows: a 1 % range gives about 1 % of the records, and a wide one gives way to the scan', () => {
    const rows = Array.from({ length: 1000 }, (_, i): Row => ({ id: i, views: i % 100 }));
    const orders = new Map(rows.map((row, i) => [row, i]));
    const index = new RangeIndex(['views'], false, (row) => orders.get(row)!);
    index.build(rows);
    assert.equal(index.candidates('min', '99', 250)?.length, 10);
    assert.equal(index.candidates('max', '0', 250)?.length, 10);
    assert.equal(index.candidates('min', '10', 250), null);
  });
});
