import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { nestsDeeperThan, valueNestsDeeperThan } from '../../src/lib/json-depth.js';

/**
 * The file store checks a file's depth on what JSON.parse made (valueNestsDeeperThan), where it
 * scanned the file's text (nestsDeeperThan): both must say the same of any document, deep chains
 * of the one kind or the other included, and the walk must not recurse (20,000 levels).
 */
describe('valueNestsDeeperThan', () => {
  it('says of any parsed JSON what nestsDeeperThan says of its text', () => {
    fc.assert(
      fc.property(
        fc.json({ depthSize: 'large', maxDepth: 12 }),
        fc.integer({ min: 0, max: 14 }),
        (text, limit) => {
          assert.equal(valueNestsDeeperThan(JSON.parse(text), limit), nestsDeeperThan(text, limit), text);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('walks 20,000 levels without recursion, arrays and objects, "__proto__" keys included', () => {
    const depth = 20_000;
    const arrays = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;
    const objects = JSON.parse(`${'{"__proto__":'.repeat(depth)}1${'}'.repeat(depth)}`) as unknown;
    for (const value of [arrays, objects]) {
      assert.equal(valueNestsDeeperThan(value, depth), false);
      assert.equal(valueNestsDeeperThan(value, depth - 1), true);
    }
    assert.equal(valueNestsDeeperThan('[[[', 0), false);
    assert.equal(valueNestsDeeperThan({ a: [1, { b: [] }] }, 4), false);
    assert.equal(valueNestsDeeperThan({ a: [1, { b: [] }] }, 3), true);
  });
});
