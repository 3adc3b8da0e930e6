import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HELD_BYTES_BOUND } from '../../src/http/standard-output.js';
import { exitOf, untilOutput, within, type ChildExit } from '../support/child-waits.js';
import { servedAfterInit, spawnPipedTsScript } from '../support/process.js';

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

/** How a case's child writes to the output under test, and where it reports on the other one. */
interface FullOutputCase {
  /** The output whose reader stops reading. */
  full: 'stdout' | 'stderr';
  /** Statements run once the CLI's start is done, defining `write(text)` to the output under test. */
  setUp: string;
  /** The count and the metric of the lines dropped. */
  dropped: string;
  metric: string;
}

/**
 * 6 MB of numbered lines into `full`'s pipe, which the test does not read; then, once told, one last line
 * and (with the flush every few ms or second) what was held, until the reader has it all. The CLI's start
 * (keepRunningWhenOutputsClose) is done first, as in main.ts: it is what opens standard output and error
 * as non-blocking pipes.
 */
async function heldUpToTheBound({ full, setUp, dropped: count, metric }: FullOutputCase): Promise<void> {
  const modules = join(import.meta.dirname, '../../src');
  const other = full === 'stdout' ? 'stderr' : 'stdout';
  const script = `import { keepRunningWhenOutputsClose } from ${JSON.stringify(join(modules, 'lib/closed-outputs.ts'))};
      import * as outputs from ${JSON.stringify(join(modules, 'http/standard-output.ts'))};
      import { boundStandardError } from ${JSON.stringify(join(modules, 'cli/bounded-standard-error.ts'))};
      import { Metrics } from ${JSON.stringify(join(modules, 'metrics/metrics.ts'))};
      keepRunningWhenOutputsClose();
      ${setUp}
      const line = (i) => JSON.stringify({ i, pad: 'x'.repeat(90) }) + '\\n';
      for (let i = 0; i < ${LINES}; i += 1) write(line(i));
      process.${other}.write('dropped ' + outputs.${count}() + '\\n');
      const { body } = await new Metrics().scrape();
      process.${other}.write((/^${metric} .*$/mu.exec(body)?.[0] ?? 'no ${metric}') + '\\n');
      process.stdin.once('data', () => write(line(${LINES})));
      process.stdin.once('end', () => process.exit(0));`;
  const child = spawnPipedTsScript(script);
  const exited = exitOf(child);
  let written = '';
  let said = '';
  child[full].pause();
  child[other].on('data', (chunk: Buffer) => (said += chunk.toString()));
  await within(
    untilOutput(child, () => said, /dropped \d+\n.+\n/u),
    BOUND_MS,
    () => `the lines written:\n${said}`,
  );
  const dropped = Number(/dropped (\d+)/u.exec(said)![1]);
  assert.ok(dropped > 0, said);
  if (full === 'stdout') assert.equal(said.match(FULL)?.length, 1, said);
  assert.match(said, new RegExp(`^${metric} ${dropped}$`, 'mu'));

  // The held lines come out with the periodic flush; the last line is sent once they are all out, as
  // while some are held a line beyond the bound would be dropped. Counted, not looked for by number: a
  // batch smaller than the one dropped before it may still fit under the bound.
  let writtenLines = 0;
  const allHeld = new Promise<void>((resolve) => {
    child[full].on('data', (chunk: Buffer) => {
      written += chunk.toString();
      for (const byte of chunk) if (byte === 10) writtenLines += 1;
      if (writtenLines >= LINES - dropped) resolve();
    });
  });
  child[full].resume();
  await within(allHeld, BOUND_MS, () => `the held lines:\n${said}\n${written.slice(-300)}`);
  child.stdin.write('go\n');
  await within(
    untilOutput(child, () => written, new RegExp(`"i":${LINES},`, 'u')),
    BOUND_MS,
    () => `the last line:\n${said}\n${written.slice(-300)}`,
  );
  child.stdin.end();
  assert.deepEqual(await within(exited, BOUND_MS, () => `exit:\n${said}`), { code: 0, signal: null });

  // Each line whole (none cut by another) and in order: those held, up to the bound, then the last.
  const numbers = written
    .trimEnd()
    .split('\n')
    .map((text) => (JSON.parse(text) as { i: number }).i);
  const held = numbers.slice(0, -1);
  assert.deepEqual(
    held,
    [...held].sort((a, b) => a - b),
  );
  assert.equal(new Set(held).size, held.length);
  assert.equal(numbers.at(-1), LINES);
  assert.equal(held.length + dropped, LINES);
  // What the pipe took plus what was held: at most the bound beyond a pipe's 64 KB (a line is ~110 bytes).
  assert.ok(held.length * 110 <= HELD_BYTES_BOUND + 1024 * 1024, `${held.length} lines held`);
}

describe('log lines to a full standard output (its writer alone)', () => {
  it(
    'are held up to the bound, later ones dropped and counted, and written out whole and in order once read',
    { timeout: 300_000 },
    () =>
      heldUpToTheBound({
        full: 'stdout',
        setUp: `const out = outputs.standardOutput({ periodicFlush: 10 });
      const write = (text) => out.write(text);`,
        dropped: 'droppedStandardOutputLines',
        metric: 'restauth_log_lines_dropped_total',
      }),
  );
});

/**
 * Request lines are gathered in batches (about 4 KB) handed to the same writer: a batch beyond the bound is
 * dropped whole, and counted in its lines.
 */
describe('request lines to a full standard output (their batches, to the same writer)', () => {
  it(
    'are held up to the bound, later ones dropped and counted in lines, and written out whole and in order once read',
    { timeout: 300_000 },
    () =>
      heldUpToTheBound({
        full: 'stdout',
        setUp: `import { createLogger, requestLineLogger } from ${JSON.stringify(join(import.meta.dirname, '../../src/http/logging.ts'))};
      // The one writer, made first: with the test's periodic flush.
      outputs.standardOutput({ periodicFlush: 10 });
      const requests = requestLineLogger(createLogger({ level: 'info', format: 'json' }));
      // Gathered in batches; the last of the ${LINES} handed on at once, before the count is said.
      const write = (text) => {
        const fields = JSON.parse(text);
        requests.info(fields);
        if (fields.i >= ${LINES - 1}) requests.flush();
      };`,
        dropped: 'droppedStandardOutputLines',
        metric: 'restauth_log_lines_dropped_total',
      }),
  );
});

/**
 * What restauth writes to standard error (console.error and console.warn: warnings, a failed start, the
 * stop's lines; Node's own warnings) was queued by Node's non-blocking pipe in memory without bound while
 * its reader did not read.
 */
describe('lines to a full standard error (the CLI start bounding it)', () => {
  it(
    'are held up to the bound, later ones dropped and counted, and written out whole and in order once read',
    { timeout: 300_000 },
    () =>
      heldUpToTheBound({
        full: 'stderr',
        setUp: `boundStandardError(10);
      const write = (text) => console.error(text.trimEnd());`,
        dropped: 'droppedStandardErrorLines',
        metric: 'restauth_stderr_lines_dropped_total',
      }),
  );
});
