import assert from 'node:assert/strict';
import type { Store } from '../../src/core/ports/store.js';

/**
 * Makes a race happen, not hopes for it: runs `flow` with the store's `reads` wrapped so that,
 * once the first of them has answered, `commit` runs to its end (a ban, a deletion, an address
 * moved: through the same app), and only then does the flow go on with what it read before.
 * `nth`: the read whose answer the commit follows (a flow that reads the account twice, the race
 * after the second). Fails when the flow made fewer reads (the test would prove nothing).
 */
export async function commitAfterRead<T>(
  storeOf: Store,
  commit: () => Promise<unknown>,
  reads: string[],
  flow: () => Promise<T>,
  nth = 1,
): Promise<T> {
  const store = storeOf as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const originals = new Map(reads.filter((name) => store[name]).map((name) => [name, store[name]!]));
  let answered = 0;
  let committed = false;
  const restore = () => {
    for (const [name, original] of originals) store[name] = original;
  };
  for (const [name, original] of originals) {
    store[name] = async (...args) => {
      const read = await original.apply(storeOf, args);
      if (!committed && ++answered === nth) {
        committed = true;
        restore();
        await commit();
      }
      return read;
    };
  }
  try {
    const result = await flow();
    assert.ok(committed, `the flow read ${reads.join(', ')} ${answered} times, not ${nth}`);
    return result;
  } finally {
    restore();
  }
}
