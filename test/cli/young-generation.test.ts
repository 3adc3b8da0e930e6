import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const MODULE = new URL('../../src/cli/young-generation.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx');

/**
 * The young generation's size (V8's new space) in a fresh process: at start, after objects kept while
 * held (those that survive scavenges make V8 grow it), and after more kept once released.
 */
async function newSpaceSizes(
  nodeFlags: string[] = [],
): Promise<{ initial: number; held: number; released: number }> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    const { holdYoungGeneration, releaseYoungGeneration } = await import(${JSON.stringify(MODULE)});
    const newSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size;
    const kept = [];
    const keep = () => { for (let i = 0; i < 300_000; i++) kept.push({ i, list: [i] }); };
    const initial = newSpace();
    holdYoungGeneration();
    keep();
    const held = newSpace();
    releaseYoungGeneration();
    keep();
    console.log(JSON.stringify({ initial, held, released: newSpace() }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, [
    ...nodeFlags,
    '--import',
    TSX,
    '--input-type=module',
    '--eval',
    script,
  ]);
  return JSON.parse(stdout) as { initial: number; held: number; released: number };
}

describe('the young generation held while restauth starts (src/cli/young-generation.ts)', () => {
  it('does not grow while held, and grows again once released', async () => {
    const sizes = await newSpaceSizes();
    assert.equal(sizes.held, sizes.initial);
    assert.ok(sizes.released > sizes.held, JSON.stringify(sizes));
  });

  it("leaves an operator's own semi-space flags alone", async () => {
    const sizes = await newSpaceSizes(['--min-semi-space-size=1']);
    assert.ok(sizes.held > sizes.initial, JSON.stringify(sizes));
  });
});
