import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formAtMost,
  formLess,
  looseAtMost,
  looseLess,
  looseString,
  LooseForms,
  MAX_CONVERTED_ELEMENTS,
} from '../../src/data/loose.js';
import { filterRows, sortRows, type Row } from '../../src/data/query.js';
import { sortRows as sortRowsV1 } from '../../src/data/query-v1.js';

/**
 * LooseForms converts each stored array or object once per request (see
 * attack-array-conversions.test.ts for why). Its comparisons must give what
 * JavaScript's own give on the raw values, so sorts and filters answer as
 * json-server does: checked here against the raw comparisons and against
 * sorts written as json-server wrote them, for random values of every JSON
 * kind, including ones without a string form (`{"toString": 1}`).
 */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, 1, -1, 2.5, '', '1', '10', 'a', 'B', '[object Object]', ','),
    fc.integer({ min: -20, max: 20 }),
    fc.string({ maxLength: 4 }),
    fc.constant({ toString: 1 }),
    fc.constant({ valueOf: 1 }),
    fc.constant(Object.create(null) as unknown),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b'), tie('value'), { maxKeys: 2 }),
  ),
})).value;

/** JSON-parsed records (as stored), some without the field. */
const rows = fc
  .array(fc.option(value, { nil: undefined }), { maxLength: 12 })
  .map((values) => values.map((v, id) => (v === undefined ? { id } : { id, v })) as Row[]);

describe('LooseForms compares as JavaScript does', () => {
  it('form comparisons equal the raw ones, and string() equals looseString', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const forms = new LooseForms();
        const [fa, fb] = [forms.form(a), forms.form(b)];
        assert.equal(formLess(fa, fb), looseLess(a, b));
        assert.equal(formAtMost(fa, fb), looseAtMost(a, b));
        assert.equal(forms.string(a), looseString(a));
      }),
      { seed: 20_260_301, numRuns: 2000 },
    );
  });

  it('0.17 sorts and filters answer as comparing the raw values did', () => {
    // json-server 0.17's comparator (lodash orderBy), on the raw values.
    const reference = (list: Row[], desc: boolean) =>
      [...list].sort((left, right) => {
        const [a, b] = [left.v, right.v];
        let result = 0;
        if (a === b) result = 0;
        else if (a === undefined) result = 1;
        else if (b === undefined) result = -1;
        else if (a === null) result = 1;
        else if (b === null) result = -1;
        else result = looseLess(a, b) ? -1 : looseLess(b, a) ? 1 : 0;
        return desc ? -result : result;
      });
    fc.assert(
      fc.property(rows, fc.boolean(), fc.string({ maxLength: 3 }), (list, desc, bound) => {
        assert.deepEqual(sortRows(list, 'v', desc ? 'desc' : 'asc'), reference(list, desc));
        const present = list.filter((row) => row.v !== undefined && row.v !== null);
        assert.deepEqual(
          filterRows(list, { v_gte: bound }),
          present.filter((row) => looseAtMost(bound, row.v)),
        );
        assert.deepEqual(
          filterRows(list, { v_ne: [bound, '1'] }),
          present.filter((row) => bound !== looseString(row.v) && looseString(row.v) !== '1'),
        );
      }),
      { seed: 20_260_302, numRuns: 500 },
    );
  });

  it('1.x sorts answer as comparing the raw values did', () => {
    // json-server 1.x's comparator (sort-on), on the raw values.
    const reference = (list: Row[], descending: boolean) =>
      [...list].sort((a, b) => {
        const [x, y] = [a.v, b.v];
        if (x === y) return 0;
        if (y !== 0 && !y) return descending ? 1 : -1;
        if (x !== 0 && !x) return descending ? -1 : 1;
        if (typeof x === 'string' && typeof y === 'string') {
          return descending ? y.localeCompare(x) : x.localeCompare(y);
        }
        const less = looseLess(x, y);
        return descending ? (less ? 1 : -1) : less ? -1 : 1;
      });
    fc.assert(
      fc.property(rows, fc.boolean(), (list, descending) => {
        assert.deepEqual(sortRowsV1(list, descending ? '-v' : 'v'), reference(list, descending));
      }),
      { seed: 20_260_303, numRuns: 500 },
    );
  });
});

describe('LooseForms converts each value once, within MAX_CONVERTED_ELEMENTS', () => {
  it('converts one array once however often it is compared', () => {
    const forms = new LooseForms();
    const array = [1, [2, 3]];
    const original = Array.prototype.toString;
    let calls = 0;
    Array.prototype.toString = function (this: unknown[]) {
      if (this === array) calls++;
      return original.call(this);
    };
    try {
      for (let i = 0; i < 10; i++) assert.equal(forms.string(array), '1,2,3');
    } finally {
      Array.prototype.toString = original;
    }
    assert.equal(calls, 1);
  });

  it('counts nested arrays’ elements and refuses (400) past the bound, before converting', () => {
    const forms = new LooseForms();
    const nested = Array.from({ length: MAX_CONVERTED_ELEMENTS / 2 + 10 }, () => [0]);
    // Each element is an array of one: twice its length in elements.
    assert.throws(
      () => forms.form(nested),
      (error: Error & { status?: number }) => error.status === 400,
    );
    const fits = new LooseForms();
    const quarter = Array.from({ length: MAX_CONVERTED_ELEMENTS / 4 }, () => ({}));
    fits.form(quarter);
    fits.form(quarter);
    // The same array again costs nothing; two others of the same size pass the bound.
    fits.form([...quarter]);
    fits.form([...quarter]);
    assert.throws(() => fits.form([...quarter]), /at most \d+ of their elements per request/u);
    // An object's elements are not read by its conversion: it costs one.
    new LooseForms().form({ a: nested });
  });
});
