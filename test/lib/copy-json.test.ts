import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { copyJson } from '../../src/lib/copy-json.js';

/**
 * The file store copies a user's profile and app_metadata with copyJson where it used structuredClone:
 * the copy of any JSON value must be what structuredClone made (keys, their order, `__proto__` as a
 * key), share nothing with the original, and anything that is not JSON must go as structuredClone
 * takes it.
 */
describe('copyJson', () => {
  it('copies any parsed JSON as structuredClone does', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'large', maxDepth: 12 }), (text) => {
        const value: unknown = JSON.parse(text);
        const copied = copyJson(value);
        assert.deepStrictEqual(copied, structuredClone(value), text);
        assert.equal(JSON.stringify(copied), JSON.stringify(value), text);
      }),
    );
  });

  it('keeps `__proto__` an own key, never a prototype', () => {
    const value = JSON.parse('{"__proto__": {"role": "admin"}, "a": [1, {"__proto__": null}]}') as object;
    const copied = copyJson(value);
    assert.equal(Object.getPrototypeOf(copied), Object.prototype);
    assert.deepEqual(Object.keys(copied), ['__proto__', 'a']);
    assert.equal((copied as { role?: unknown }).role, undefined);
    assert.deepStrictEqual(copied, structuredClone(value));
  });

  it('shares nothing with the original', () => {
    const value = { profile: { tags: ['a'] }, list: [{ n: 1 }] };
    const copied = copyJson(value);
    copied.profile.tags.push('b');
    copied.list[0]!.n = 2;
    assert.deepEqual(value, { profile: { tags: ['a'] }, list: [{ n: 1 }] });
  });

  it('copies what is not JSON, and what nests deep, as structuredClone does', () => {
    const at = new Date(0);
    const copied = copyJson({ at, nested: { at } });
    assert.ok(copied.at instanceof Date && copied.at !== at);
    assert.equal(copied.nested.at.getTime(), 0);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 200; i++) deep = { d: deep };
    assert.deepStrictEqual(copyJson(deep), structuredClone(deep));
    assert.throws(() => copyJson({ f: () => 1 }), { name: 'DataCloneError' });
  });
});
