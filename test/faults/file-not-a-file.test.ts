import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDatabase, openFileStore } from '../../src/stores/file/index.js';

/**
 * Something that is no file put at a store file's name by hand: a FIFO (named pipe), or a link to a
 * device. Reading a FIFO waits for a writer that never comes, /dev/zero never ends: the start hung
 * on db.json, credentials.json or a journal, with no word of why, and under a running server the
 * next commit hung reading it to tell an edit from a touch, every write queued behind it. The start
 * now refuses naming the file and what it is; a running store sets it aside as any hand change
 * (`db.json.rejected-<time>`) and writes its own version back. A run without that hangs: the
 * timeout ends it as a failure.
 */
const quiet = { info() {}, warn() {} };
const TIMEOUT = { timeout: 30_000 };

describe('no file at a store file name', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function folder(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-not-a-file-'));
    dirs.push(dir);
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [] }));
    return dir;
  }
  const config = (dir: string) => ({
    type: 'file' as const,
    dataFile: join(dir, 'db.json'),
    credentialsFile: join(dir, 'credentials.json'),
    usersProp: 'users',
    userIdProp: 'id',
  });

  for (const [name, make, kind] of [
    ['db.json', (path: string) => execFileSync('mkfifo', [path]), /a FIFO/u],
    ['credentials.json', (path: string) => execFileSync('mkfifo', [path]), /a FIFO/u],
    ['.db.json.journal', (path: string) => execFileSync('mkfifo', [path]), /a FIFO/u],
    ['.credentials.json.journal', (path: string) => symlink('/dev/zero', path), /a character device/u],
  ] as const) {
    it(`at the start, ${name}: the start is refused naming it`, TIMEOUT, async () => {
      const dir = await folder();
      await rm(join(dir, name), { force: true });
      await make(join(dir, name));
      await assert.rejects(openFileStore(config(dir), quiet), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ENOTFILE');
        assert.ok(error.message.includes(join(dir, name)), error.message);
        assert.match(error.message, kind);
        return true;
      });
    });
  }

  it(
    'under a running store, db.json replaced by a FIFO: the next write sets it aside and is acknowledged',
    TIMEOUT,
    async () => {
      const dir = await folder();
      const files = config(dir);
      const db = await FileDatabase.open({ ...files, logger: quiet });
      try {
        await rm(files.dataFile);
        execFileSync('mkfifo', [files.dataFile]);
        await db.transactRecords((data, changes) => {
          const post = { id: 1, title: 'after the FIFO' };
          (data.posts as unknown[]).push(post);
          changes.put('posts', 'id', post);
        });
        assert.ok((await stat(files.dataFile)).isFile(), 'db.json is a file again');
        const aside = (await readdir(dir)).filter((entry) => entry.startsWith('db.json.rejected-'));
        assert.equal(aside.length, 1, 'the FIFO is kept beside');
        assert.ok((await stat(join(dir, aside[0]!))).isFIFO());
      } finally {
        await db.close();
      }
      const written = JSON.parse(await readFile(files.dataFile, 'utf8')) as { posts: Array<{ id: number }> };
      assert.deepEqual(
        written.posts.map((post) => post.id),
        [1],
      );
    },
  );
});
