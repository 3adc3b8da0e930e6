import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const databaseModule = new URL('../../src/stores/file/file-database.ts', import.meta.url).href;

/** Opens the file database in a child process, prints `opened` (or the error), holds it until stdin closes. */
const holder = `
  import { FileDatabase } from ${JSON.stringify(databaseModule)};
  try {
    const db = await FileDatabase.open({ dataFile: process.argv[1], credentialsFile: process.argv[2] });
    console.log('opened');
    process.stdin.resume();
    process.stdin.on('end', () => db.close());
  } catch (error) {
    console.log(error.message);
    process.exitCode = 3;
  }
`;

/** `unshare --pid --fork`: the child gets a PID namespace of its own (pid 1 there), as in a container; it dies with unshare (--kill-child). */
function openInOwnPidNamespace(dir: string): { child: ChildProcess; said: Promise<string> } {
  const child = spawn(
    'unshare',
    [
      '--pid',
      '--fork',
      '--kill-child',
      process.execPath,
      '--import',
      import.meta.resolve('tsx'),
      '--input-type=module',
      '-e',
      holder,
      join(dir, 'db.json'),
      join(dir, 'credentials.json'),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const said = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    // 'close', not 'exit': the line may still be in the pipe at 'exit'.
    child.on('close', (code) =>
      out.includes('\n') ? undefined : reject(new Error(`exited ${code}: ${out}`)),
    );
  });
  return { child, said };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));

// Creating a PID namespace needs root (CAP_SYS_ADMIN) and util-linux's unshare.
const canUnshare = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;

describe(
  'the instance lock across PID namespaces',
  { skip: !canUnshare && 'needs root and unshare(1)' },
  () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-lock-'));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('a second process in another PID namespace refuses to start; a SIGKILL frees the lock at once', async () => {
      const first = openInOwnPidNamespace(dir);
      assert.equal(await first.said, 'opened');

      // Both are pid 1-ish in their own namespaces: kill(pid, 0) could not tell them apart.
      const second = openInOwnPidNamespace(dir);
      assert.match(await second.said, /db\.json is in use by another restauth/);
      await exited(second.child);
      assert.equal(second.child.exitCode, 3);

      // The kernel drops the lock with the process: no stale lock to wait for or remove.
      first.child.kill('SIGKILL');
      await exited(first.child);
      const third = openInOwnPidNamespace(dir);
      assert.equal(await third.said, 'opened');
      third.child.stdin!.end();
      await exited(third.child);
    });
  },
);
