import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exitOf } from '../support/child-waits.js';
import { JSON_SERVER_AUTH_USERS, jsonServerAuthProject } from '../support/json-server-auth.js';
import { restauthCommand } from '../support/cli-command.js';
import { spawnRestauth } from '../support/process.js';

/**
 * The takeover of a json-server-auth db.json killed for real between its two writes: credentials.json
 * (the hashes' new home) written, db.json (without them) not yet. The db.json write is held where it
 * starts: a FIFO sits at the temp file's name (`.db.json.<pid>.tmp`, the pid known before restauth runs,
 * as the shell `exec`s it), and opening a FIFO to write waits for a reader that never comes. Once
 * credentials.json holds the hashes, the process is SIGKILLed. No password may be lost: the next start
 * finishes the move, and every user signs in with their password.
 */

describe('a json-server-auth takeover SIGKILLed between its two writes', () => {
  let dir: string;

  before(async () => {
    dir = await jsonServerAuthProject();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // The timeout only ends a run whose takeover never writes (a start order that writes db.json first would).
  it(
    'loses no password: the next start finishes the move and the users sign in',
    { timeout: 300_000 },
    async () => {
      const hashes = (
        JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as { users: Array<{ password: string }> }
      ).users.map((user) => user.password);
      const credentialsHold = async () => {
        const text = await readFile(join(dir, 'credentials.json'), 'utf8').catch(() => '');
        return hashes.every((hash) => text.includes(hash));
      };
      // Resolves once credentials.json holds every hash (awaited through the folder's change events).
      const written = new Promise<void>((resolve, reject) => {
        const watcher = watch(dir, () => {
          credentialsHold().then((done) => {
            if (!done) return;
            watcher.close();
            resolve();
          }, reject);
        });
      });
      const child = spawn(
        'sh',
        [
          '-c',
          'mkfifo ".db.json.$$.tmp" && exec "$0" "$@"',
          process.execPath,
          ...restauthCommand(),
          'db.json',
        ],
        {
          cwd: dir,
          env: { ...process.env, RESTAUTH_PORT: '0', RESTAUTH_LOG_LEVEL: 'info' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // At 'close': the output checked below is read to its end.
      const exited = exitOf(child).then(({ signal }) => signal);
      // A start that ends (it failed) instead of writing is this test's failure, not a hang.
      await Promise.race([
        written,
        exited.then(() => Promise.reject(new Error(`restauth exited before the takeover wrote:\n${output}`))),
      ]);
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      assert.doesNotMatch(output, /listening/, 'killed during the start, before it listened');

      // The kill came between the writes: both files hold the hashes now.
      const between = await readFile(join(dir, 'db.json'), 'utf8');
      for (const hash of hashes) assert.ok(between.includes(hash), 'db.json was not rewritten yet');
      assert.ok(await credentialsHold());

      const server = await spawnRestauth(dir, ['db.json']);
      try {
        assert.match(server.output(), /held the bcrypt password hashes of 2 json-server-auth user/);
        assert.doesNotMatch(await readFile(join(dir, 'db.json'), 'utf8'), /\$2[aby]\$|"password"/);
        for (const user of JSON_SERVER_AUTH_USERS) {
          const login = await fetch(`${server.url}/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: user.email, password: user.password }),
          });
          assert.equal(login.status, 200, await login.clone().text());
        }
      } finally {
        await server.stop();
      }
    },
  );
});
