import assert from 'node:assert/strict';
import { once } from 'node:events';
import { watch } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runRestauth, spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * restauth's standard output or error loses its reader while it serves:
 * `restauth | head -1`, a log collector that died, the terminal or ssh session
 * it was started from closed. A write there then fails (EPIPE; EIO for a
 * closed terminal), and Node reports it as an 'error' event on process.stdout
 * or process.stderr, which with no listener ended the process at once. The
 * server keeps serving, and a stop is still graceful: exit 0, the journaled
 * sign-up folded into credentials.json.
 */
describe('standard output or error closed under a running server (the real CLI)', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function started(): Promise<{
    dir: string;
    server: RestauthProcess;
    exited: Promise<number | null>;
  }> {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-closed-output-'));
    dirs.push(dir);
    assert.equal((await runRestauth(dir, ['init'], {})).code, 0);
    const server = await spawnRestauth(dir, [], {}, undefined, 'pipe');
    const exited = new Promise<number | null>((resolve) =>
      server.child.once('exit', (code) => resolve(code)),
    );
    return { dir, server, exited };
  }

  async function signUp(url: string, username: string): Promise<void> {
    const answer = await fetch(`${url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'a passphrase of some length' }),
    });
    assert.ok(answer.status < 300, `${answer.status} ${await answer.text()}`);
  }

  it(
    'stderr closed: SIGTERM still closes gracefully, though its "closing" line cannot be written',
    // A guard against a hang only: a CLI start through tsx on a loaded machine can take long.
    { timeout: 300_000 },
    async () => {
      const { dir, server, exited } = await started();
      await signUp(server.url, 'before_the_pipe_broke');
      server.child.stderr!.destroy();

      server.child.kill('SIGTERM');
      assert.equal(await exited, 0, server.output());
      assert.match(await readFile(join(dir, 'credentials.json'), 'utf8'), /before_the_pipe_broke/u);
    },
  );

  it(
    'stdout closed: a line written there (a snapshot saved) does not end the server',
    { timeout: 300_000 },
    async () => {
      const { dir, server, exited } = await started();
      server.child.stdout!.destroy();

      // `s` + Enter saves a snapshot and then says so on standard output, which has no reader now.
      const folder = watch(dir);
      const snapshot = (async () => {
        while (!(await readdir(dir)).some((name) => /^db-\d+\.json$/u.test(name)))
          await once(folder, 'change');
      })();
      server.child.stdin!.write('s\n');
      await snapshot;
      folder.close();

      await signUp(server.url, 'after_the_pipe_broke');
      server.child.kill('SIGTERM');
      assert.equal(await exited, 0, server.output());
      assert.match(await readFile(join(dir, 'credentials.json'), 'utf8'), /after_the_pipe_broke/u);
    },
  );
});
