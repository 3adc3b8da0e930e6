import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exitOf, untilOutput, within } from '../support/child-waits.js';
import { servedAfterInit, spawnPipedTsScript } from '../support/process.js';

/**
 * restauth's standard output or error loses its reader while it serves: `restauth | head -1`, a log
 * collector that died. A write there then fails (EPIPE), which Node reports as an 'error' event on
 * process.stdout or process.stderr: with no listener it ended the process (at the next line on stdout;
 * at "SIGTERM received" on stderr, instead of the graceful stop). And the request lines held for their
 * batch were written out at exit by sonic-boom 4's flushSync, which retried a failed write forever: a
 * stop with standard output gone folded the journals and then never exited. Each pipe here has its
 * reader closed for real (the test's end of it destroyed).
 */

/** Far above any start or stop on a loaded machine; only turns a hang into a clear failure. */
const EXIT_BOUND_MS = 60_000;
const LOST = (output: string) =>
  new RegExp(`restauth: standard ${output} lost its reader \\(EPIPE\\): its lines are dropped`, 'gu');

describe('standard output or error closed under a running server (the real CLI, file store)', () => {
  const started = (env: NodeJS.ProcessEnv = {}) => servedAfterInit(env, 'pipe');

  async function signUp(url: string, username: string): Promise<void> {
    const answer = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'a passphrase of some length' }),
    });
    assert.ok(answer.status < 300, `${answer.status} ${await answer.text()}`);
  }

  /** `signal`, then a graceful stop that exits 0 with the sign-up folded into credentials.json. */
  async function stopsGracefully(
    { dir, server, exited }: Awaited<ReturnType<typeof started>>,
    signal: NodeJS.Signals,
    username: string,
  ): Promise<void> {
    server.child.kill(signal);
    const exit = await within(exited, EXIT_BOUND_MS, () => `exit after ${signal}:\n${server.output()}`);
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
    assert.match(await readFile(join(dir, 'credentials.json'), 'utf8'), new RegExp(username, 'u'));
  }

  it(
    'stdout closed: the next line there is dropped, said once on stderr, and the server serves on and stops',
    // A guard against a hang only: a CLI start through tsx on a loaded machine can take long.
    { timeout: 300_000 },
    async () => {
      const running = await started();
      const { server } = running;
      server.child.stdout!.destroy();

      // `s` + Enter saves a snapshot and then says so on standard output (console.log), which has no reader.
      server.child.stdin!.write('s\n');
      await untilOutput(server.child, server.output, LOST('output'));
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      // Its request line waits for its batch: written out (and dropped) at the exit, which must not hang.
      await signUp(server.url, 'after_stdout_closed');
      await stopsGracefully(running, 'SIGTERM', 'after_stdout_closed');
      assert.equal(server.output().match(LOST('output'))?.length, 1, server.output());
      assert.match(server.output(), /SIGTERM received, closing/u);
    },
  );

  it(
    'stderr closed: a line there is dropped, said once on stdout, and SIGTERM still stops gracefully',
    { timeout: 300_000 },
    async () => {
      const running = await started();
      const { server } = running;
      server.child.stderr!.destroy();

      // SIGUSR1 is answered with a line on standard error (console.error), which has no reader.
      server.child.kill('SIGUSR1');
      await untilOutput(server.child, server.output, LOST('error'));
      await signUp(server.url, 'after_stderr_closed');
      // "SIGTERM received, closing" goes to standard error too.
      await stopsGracefully(running, 'SIGTERM', 'after_stderr_closed');
      assert.equal(server.output().match(LOST('error'))?.length, 1, server.output());
    },
  );

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGUSR2'] as const) {
    it(`both closed: ${signal} stops gracefully and exits`, { timeout: 300_000 }, async () => {
      const running = await started();
      const { server } = running;
      server.child.stdout!.destroy();
      server.child.stderr!.destroy();

      // A line on each: the snapshot's on stdout, SIGUSR1's on stderr; neither output can say what was lost.
      server.child.stdin!.write('s\n');
      server.child.kill('SIGUSR1');
      await signUp(server.url, 'both_closed');
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      await stopsGracefully(running, signal, 'both_closed');
    });
  }

  it(
    'stdout closed with pino-pretty lines (--log-format pretty): dropped, said once, stops',
    { timeout: 300_000 },
    async () => {
      const running = await started({ RESTAUTH_LOG_FORMAT: 'pretty' });
      const { server } = running;
      server.child.stdout!.destroy();

      // pino-pretty writes each request line at once.
      await signUp(server.url, 'pretty_stdout_closed');
      await untilOutput(server.child, server.output, LOST('output'));
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      await stopsGracefully(running, 'SIGTERM', 'pretty_stdout_closed');
      assert.equal(server.output().match(LOST('output'))?.length, 1, server.output());
    },
  );
});

describe('request lines held for their batch, standard output closed', () => {
  const logging = join(import.meta.dirname, '../../src/http/logging.ts');

  it('are dropped at exit, said once on stderr, and the exit is not held', { timeout: 300_000 }, async () => {
    // The line is logged only once the test has closed the reader: the exit's flush is its first write.
    const script = `import { createLogger, requestLineLogger } from ${JSON.stringify(logging)};
      const lines = requestLineLogger(createLogger({ level: 'info', format: 'json' }));
      process.stdin.once('data', () => {
        lines.info({ reqId: 'req-1', status: 200 }, 'GET /line 200 1ms');
        process.exit(0);
      });`;
    const child = spawnPipedTsScript(script);
    const exited = exitOf(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.destroy();

    child.stdin.write('go\n');
    const exit = await within(exited, EXIT_BOUND_MS, () => `exit with stdout closed:\n${stderr}`);
    assert.deepEqual(exit, { code: 0, signal: null }, stderr);
    assert.equal(stderr.match(LOST('output'))?.length, 1, stderr);
  });
});
