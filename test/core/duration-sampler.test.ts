import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DurationSampler } from '../../src/core/duration-sampler.js';

describe('DurationSampler', () => {
  it('waits the initial duration until one is recorded, then one of the recent ones', async () => {
    const waited: number[] = [];
    let draw = 0;
    const sampler = new DurationSampler({
      size: 3,
      initial: 10,
      random: () => [0, 0.5, 0.99][draw++ % 3]!,
      wait: async (ms) => void waited.push(ms),
    });
    await sampler.waitAsRecorded();
    for (const ms of [1, 2, 3, 4]) sampler.record(ms); // 1 is pushed out by 4
    sampler.record(Number.NaN);
    sampler.record(-1);
    for (let i = 0; i < 3; i++) await sampler.waitAsRecorded();
    assert.deepEqual(waited, [10, 4, 2, 3]);
  });
});
