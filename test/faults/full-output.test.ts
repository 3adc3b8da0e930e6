import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { within, type ChildExit } from '../support/child-waits.js';
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
