import assert from 'node:assert/strict';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { snapshotOnKey } from '../../src/cli/snapshots.js';
import { createTestApp } from '../support/app.js';
import { cliTempDir, runCli } from '../support/run-cli.js';

/*
 * Copies of secrets made by a default install are no more readable than what they copy. A local
 * user of the same host (another account, a shared CI runner, a web server's user) reads any file
 * the umask leaves open: the usual 022 makes every new file 0644 unless its writer says otherwise.
 */

const OTHERS = 0o077;

function bitsOf(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, '0');
}

// The umask a child process and this one create files with: the common 022, whatever this machine's
// shell set, so a writer that leaves its mode to the umask gives 0644 here for certain.
let umaskBefore: number;
before(() => {
  umaskBefore = process.umask(0o022);
});
after(() => {
  process.umask(umaskBefore);
});

describe('restauth init --force over files left readable by others', () => {
  it('the new jwtSecret does not land in a config.json others can read', async () => {
    const dir = await cliTempDir();
    // json-data-server's config.json as its user kept it (an editor's or a checkout's 0644).
    await writeFile(join(dir, 'config.json'), '{"auth":{"jwtSecret":"old"}}\n', { mode: 0o644 });
    await writeFile(join(dir, 'credentials.json'), '{"passwords":[]}\n', { mode: 0o664 });
    const forced = await runCli(dir, ['init', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      auth: { jwtSecret: string };
    };
    assert.notEqual(config.auth.jwtSecret, 'old', 'init --force wrote a new secret');
    for (const name of ['config.json', 'credentials.json']) {
      const { mode } = await stat(join(dir, name));
      assert.equal(mode & OTHERS, 0, `${name} is ${bitsOf(mode)} after init --force`);
    }
  });

  it('never makes a file more open than it was (an owner-only db.json stays so)', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'db.json'), '{}\n', { mode: 0o600 });
    const forced = await runCli(dir, ['init', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(bitsOf((await stat(join(dir, 'db.json'))).mode), '600');
  });
});

describe("json-server's snapshots (s + Enter) of an owner-only db.json", () => {
  async function snapshotMode(dbJsonMode: number): Promise<string> {
    const t = await createTestApp({
      format: 'json-data-server',
      config: { rules: { posts: 777 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
    });
    try {
      // Where private records and the users' addresses are kept: its owner made it owner-only.
      await chmod(join(t.dir, 'db.json'), dbJsonMode);
      const post = await t.app.inject({ method: 'POST', url: '/posts', payload: { title: 'private' } });
      assert.equal(post.statusCode, 201, post.body);
      const said = await new Promise<string>((resolve) => {
        const keys = new PassThrough();
        snapshotOnKey(keys, t.dir, t.services.documents!, resolve, join(t.dir, 'db.json'));
        keys.write('s\n');
      });
      assert.match(said, /saved snapshot to/u);
      const [snapshot] = (await readdir(t.dir)).filter((name) => /^db-\d+\.json$/u.test(name));
      assert.ok(snapshot, 'a snapshot was written');
      const text = await readFile(join(t.dir, snapshot), 'utf8');
      assert.match(text, /"private"/u, 'the snapshot holds the record');
      return bitsOf((await stat(join(t.dir, snapshot))).mode);
    } finally {
      await t.close();
    }
  }

  it('the snapshot is owner-only too', async () => {
    assert.equal(await snapshotMode(0o600), '600');
  });

  it('a db.json others may read gives a snapshot as readable (json-server behaviour kept)', async () => {
    assert.equal(await snapshotMode(0o644), '644');
  });
});

describe('a secret kept in a file others may read is named at the start', () => {
  const SECRET = 'a-long-enough-secret-for-this-test-0123456789';
  const READABLE = /readable by other users: chmod 600 it/u;

  it("json-data-server's config.json, 0644, with its jwtSecret: warned, and no longer once owner-only", async () => {
    const dir = await cliTempDir();
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ auth: { jwtSecret: SECRET } }), { mode: 0o644 });
    const shown = await runCli(dir, ['config']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, READABLE);
    assert.ok(shown.stderr.includes(`${config} holds jwt.secret`), shown.stderr);
    assert.equal(shown.stderr.includes(SECRET), false, 'the secret itself is not printed');
    await chmod(config, 0o600);
    const quiet = await runCli(dir, ['config']);
    assert.doesNotMatch(quiet.stderr, READABLE);
  });

  it('a .env others may read, with RESTAUTH_JWT_SECRET and an SMTP password: both named', async () => {
    const dir = await cliTempDir();
    await writeFile(
      join(dir, '.env'),
      `RESTAUTH_JWT_SECRET=${SECRET}\nRESTAUTH_SMTP_URL=smtp://mailer:hunter2-pw@localhost:2525\n`,
      { mode: 0o640 },
    );
    const shown = await runCli(dir, ['config']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, READABLE);
    assert.match(shown.stderr, /\.env holds .*jwt\.secret/u);
    assert.match(shown.stderr, /\.env holds .*email\.url/u);
    assert.equal(shown.stderr.includes('hunter2-pw'), false, 'the password itself is not printed');
  });

  it('a config file others may read that holds no secret is no concern', async () => {
    const dir = await cliTempDir();
    await writeFile(join(dir, 'restauth.json'), JSON.stringify({ port: 3111 }), { mode: 0o644 });
    const shown = await runCli(dir, ['config'], { RESTAUTH_JWT_SECRET: SECRET });
    assert.equal(shown.code, 0, shown.stderr);
    assert.doesNotMatch(shown.stderr, READABLE);
  });
});

describe("the data files: users' records and hashes are not left to other users", () => {
  const READABLE = /holds password hashes and sessions and is readable by other users: chmod 600 it/u;

  /**
   * An app started on a folder with credentials.json made `credentialsMode` (null: none, restauth
   * makes it) and a user registered with an address: what the services warned of and the two files'
   * modes then.
   */
  async function startOn(credentialsMode: number | null): Promise<{ warned: string[]; modes: string[] }> {
    const warned: string[] = [];
    const t = await createTestApp({
      format: 'json-data-server',
      logger: { info() {}, warn: (message) => warned.push(message) },
      prepare: async (dir) => {
        if (credentialsMode !== null)
          await writeFile(join(dir, 'credentials.json'), '{"passwords":[]}\n', { mode: credentialsMode });
      },
    });
    try {
      const registered = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: 'carol', password: 'a long passphrase', email: 'carol@example.test' },
      });
      assert.ok(registered.statusCode < 300, registered.body);
      const modes = [];
      for (const name of ['db.json', 'credentials.json'])
        modes.push(bitsOf((await stat(join(t.dir, name))).mode));
      return { warned: warned.map((line) => line.replace(t.dir, '<dir>')), modes };
    } finally {
      await t.close();
    }
  }

  it('a db.json and credentials.json restauth makes are owner-only, as init makes them', async () => {
    const started = await startOn(null);
    assert.deepEqual(started.modes, ['600', '600']);
    assert.deepEqual(
      started.warned.filter((line) => READABLE.test(line)),
      [],
    );
    const initDir = await cliTempDir();
    const made = await runCli(initDir, ['init']);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(bitsOf((await stat(join(initDir, 'db.json'))).mode), '600');
  });

  it('a credentials.json others may read is named at the start, and keeps its mode', async () => {
    const started = await startOn(0o644);
    assert.deepEqual(
      started.warned.filter((line) => READABLE.test(line)),
      [
        'restauth: <dir>/credentials.json holds password hashes and sessions and is readable by other users: chmod 600 it',
      ],
    );
    assert.deepEqual(started.modes, ['600', '644']);
  });
});
