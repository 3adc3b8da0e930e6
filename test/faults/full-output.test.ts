import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HELD_BYTES_BOUND } from '../../src/http/standard-output.js';
import { exitOf, killedAfterTests, untilOutput, within, type ChildExit } from '../support/child-waits.js';
import { servedAfterInit } from '../support/process.js';

/**
 * restauth's standard output has a reader that is alive but stops reading (a log collector that stalls,
 * `restauth | less` left paused): the pipe fills (64 KB on Linux) and a write fails with EAGAIN, which
 * sonic-boom retried in a sleeping loop: the event loop was blocked, no request answered, a SIGTERM never
 * handled. Here the test's end of the pipe is paused for real (Node stops reading it) while request lines
 * at info level fill it.
 */

/** Far above any answer or stop on a loaded machine; only turns a hang into a clear failure. */
const BOUND_MS = 60_000;
/** Requests whose lines (some hundred bytes each) fill a 64 KB pipe many times over. */
const REQUESTS = 2_000;
/** Numbered log lines of ~110 bytes: 6 MB, above the bound of what is held. */
const LINES = 60_000;
const FULL = /restauth: standard output is full \(its reader is not reading\)/gu;

describe('standard output full under a running server (the real CLI, file store)', () => {
  it(
    'the server answers on, says once that it drops lines, and SIGTERM still stops it',
    { timeout: 300_000 },
    async () => {
      const { server } = await servedAfterInit();
      // 'exit', not 'close': the paused pipe is never read to its end.
      const exited = new Promise<ChildExit>((resolve) =>
        server.child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      server.child.stdout!.pause();

      const requests = async () => {
        for (let i = 0; i < REQUESTS; i += 1) {
          const answer = await fetch(`${server.url}/no-such-route-${i}`);
          assert.equal(answer.status, 404);
          await answer.arrayBuffer();
        }
      };
      await within(
        requests(),
        BOUND_MS * 4,
        () => `${REQUESTS} answers with stdout full:\n${server.output()}`,
      );
      const health = await within(fetch(`${server.url}/health`), BOUND_MS, () => `/health with stdout full`);
      assert.equal(health.status, 200);

      server.child.kill('SIGTERM');
      const exit = await within(
        exited,
        BOUND_MS,
        () => `exit after SIGTERM, stdout full:\n${server.output()}`,
      );
      assert.deepEqual(exit, { code: 0, signal: null }, server.output());
      // Read now: what the pipe held, and the notice said once on standard error (still read).
      server.child.stdout!.resume();
      assert.equal(server.output().match(FULL)?.length, 1, server.output());
    },
  );
});

describe('log lines to a full standard output (its writer alone)', () => {
  const modules = join(import.meta.dirname, '../../src');

  it(
    'are held up to the bound, later ones dropped and counted, and written out whole and in order once read',
    { timeout: 300_000 },
    async () => {
      // 6 MB of numbered lines into a pipe the test does not read; then, once told, one last line and a
      // flush every 10 ms till the reader has it all. The CLI's start (keepRunningWhenOutputsClose) is done
      // first, as in main.ts: it is what opens standard output as a non-blocking pipe.
      const script = `import { keepRunningWhenOutputsClose } from ${JSON.stringify(join(modules, 'lib/closed-outputs.ts'))};
      import { droppedStandardOutputLines, standardOutput } from ${JSON.stringify(join(modules, 'http/standard-output.ts'))};
      import { Metrics } from ${JSON.stringify(join(modules, 'metrics/metrics.ts'))};
      keepRunningWhenOutputsClose();
      const out = standardOutput({ periodicFlush: 10 });
      const line = (i) => JSON.stringify({ i, pad: 'x'.repeat(90) }) + '\\n';
      for (let i = 0; i < ${LINES}; i += 1) out.write(line(i));
      process.stderr.write('dropped ' + droppedStandardOutputLines() + '\\n');
      const { body } = await new Metrics().scrape();
      process.stderr.write(/^restauth_log_lines_dropped_total .*$/mu.exec(body)[0] + '\\n');
      process.stdin.once('data', () => out.write(line(${LINES})));
      process.stdin.once('end', () => process.exit(0));`;
      const child = spawn(
        process.execPath,
        ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      killedAfterTests(child);
      const exited = exitOf(child);
      let stdout = '';
      let stderr = '';
      child.stdout.pause();
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await within(
        untilOutput(child, () => stderr, /dropped \d+\n/u),
        BOUND_MS,
        () => `the lines written:\n${stderr}`,
      );
      const dropped = Number(/dropped (\d+)/u.exec(stderr)![1]);
      assert.ok(dropped > 0, stderr);
      assert.equal(stderr.match(FULL)?.length, 1, stderr);
      await within(
        untilOutput(child, () => stderr, /restauth_log_lines_dropped_total/u),
        BOUND_MS,
        () => stderr,
      );
      assert.match(stderr, new RegExp(`^restauth_log_lines_dropped_total ${dropped}$`, 'mu'));

      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stdout.resume();
      // The held lines come out with the periodic flush; the last line is sent once they are all out, as
      // while some are held a line beyond the bound would be dropped.
      await within(
        untilOutput(child, () => stdout, new RegExp(`"i":${LINES - dropped - 1},`, 'u')),
        BOUND_MS,
        () => `the held lines:\n${stderr}\n${stdout.slice(-300)}`,
      );
      child.stdin.write('go\n');
      await within(
        untilOutput(child, () => stdout, new RegExp(`"i":${LINES},`, 'u')),
        BOUND_MS,
        () => `the last line:\n${stderr}\n${stdout.slice(-300)}`,
      );
      child.stdin.end();
      assert.deepEqual(await within(exited, BOUND_MS, () => `exit:\n${stderr}`), { code: 0, signal: null });

      // Each line whole (none cut by another) and in order: the first ones, up to the bound, then the last.
      const numbers = stdout
        .trimEnd()
        .split('\n')
        .map((text) => (JSON.parse(text) as { i: number }).i);
      const held = numbers.slice(0, -1);
      assert.deepEqual(
        held,
        held.map((_, index) => index),
      );
      assert.equal(numbers.at(-1), LINES);
      assert.equal(held.length + dropped, LINES);
      // What the pipe took plus what was held: at most the bound beyond a pipe's 64 KB (a line is ~110 bytes).
      assert.ok(held.length * 110 <= HELD_BYTES_BOUND + 1024 * 1024, `${held.length} lines held`);
    },
  );
});
