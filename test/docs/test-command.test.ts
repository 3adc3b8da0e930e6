import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { exitOf, within } from '../support/child-waits.js';
import { cliTempDir } from '../support/run-cli.js';

const repoRoot = join(import.meta.dirname, '..', '..');

/** `npm test`'s runner and its options, as package.json writes them (the files it finds left out). */
async function testCommand(): Promise<string[]> {
  const { scripts } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
    scripts: { test: string };
  };
  const [node, ...options] = scripts.test.split('$(')[0]!.trim().split(/\s+/u);
  assert.equal(node, 'node');
  return options;
}

/**
 * A test that times out while its code still runs (a loop polling a server that never answers as
 * expected) used to keep its file's process alive: the runner waited for it for ever, and `npm test`
 * with it, where the failure should have been reported. Two such hangs were seen on loaded machines.
 */
it('npm test ends a file whose test timed out with its code still running, reporting the test', async () => {
  const dir = await cliTempDir();
  const file = join(dir, 'spins.test.mjs');
  await writeFile(
    file,
    `import { it } from 'node:test';
     it('spins past its timeout', { timeout: 100 }, async () => {
       for (;;) await new Promise((resolve) => setImmediate(resolve));
     });`,
  );
  // Without the variable that tells a runner it runs inside another's file (it would run nothing).
  const { NODE_TEST_CONTEXT: _inside, ...env } = process.env;
  const child = spawn(process.execPath, [...(await testCommand()), file], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A group of its own: the guard below ends the runner and the file's process it started.
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = exitOf(child);
  // A guard against the hang this is about, far above a loaded machine's start of one test file.
  const { code } = await within(exited, 120_000, () => {
    process.kill(-child.pid!, 'SIGKILL');
    return `npm test's runner still running a timed-out test:\n${output}`;
  });
  assert.equal(code, 1, output);
  assert.match(output, /not ok 1 - spins past its timeout[\s\S]*test timed out after 100ms/u);
});
