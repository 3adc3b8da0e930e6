import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectSmallest } from '../../src/lib/select-smallest.js';

/** A seeded generator: every run checks the same arrays. */
function numbers(seed: number, length: number, range: number): number[] {
  let state = seed;
  return Array.from({ length }, () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % range;
  });
}

describe('selectSmallest', () => {
  it('puts the k smallest first, as a sort would, with few and many equal values', () => {
    for (const [seed, length, range] of [
      [1, 1000, 3],
      [2, 1000, 1_000_000],
      [3, 17, 2],
      [4, 500, 1],
    ] as const) {
      const sorted = numbers(seed, length, range).sort((a, b) => a - b);
      for (const k of [0, 1, length >> 1, length - 1, length, length + 5]) {
        const items = numbers(seed, length, range);
        selectSmallest(items, k, (a, b) => a - b);
        const first = items.slice(0, k).sort((a, b) => a - b);
        assert.deepEqual(first, sorted.slice(0, k), `seed ${seed}, k ${k}`);
        assert.deepEqual(
          [...items].sort((a, b) => a - b),
          sorted,
          'the same items, reordered',
        );
      }
    }
  });
});
