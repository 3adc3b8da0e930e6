import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDatabase } from '../../src/stores/file/index.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * A whole-document commit rewrote db.json whatever its transactions did: a DELETE with `_dependent`
 * of a missing id, or of a record nothing depends on, wrote all of db.json (in pieces, with an fsync
 * and a rename) for no change or for one record. Now a whole-document transaction that changed
 * nothing says so (`unchanged`) and nothing is written, and the data API takes that path only when
 * dependants exist: otherwise the record's removal is journaled as any DELETE's. What counts writes is
 * the store's own signals (a piece of db.json written, a commit that wrote) and, over HTTP, a folder
 * made immutable (chattr +i): a rewrite needs a new file there and is refused (507), a journal
 * already open is appended to.
 */
const quiet = { info() {}, warn() {} };

describe('a whole-document commit that changes nothing', () => {
  const dirs: string[] = [];
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    for (const dir of dirs) {
      spawnSync('chattr', ['-i', dir]);
      unmount(dir);
      await rmdir(dir);
    }
  });

  it('writes nothing: no piece of db.json, no commit that wrote, the file as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-unchanged-'));
    const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    await writeFile(files.dataFile, JSON.stringify({ users: [], posts: [{ id: 1 }] }));
    let pieces = 0;
    let commits = 0;
    const db = await FileDatabase.open({
      ...files,
      logger: quiet,
      onCompactionPiece: (_characters, file) => file === 'data' && pieces++,
      onCommit: () => commits++,
    });
    try {
      const before = await stat(files.dataFile);
      const value = await db.transactDocument((data, unchanged) => {
        unchanged();
        return (data.posts as unknown[]).length;
      });
      assert.equal(value, 1);
      assert.equal(pieces, 0, 'db.json was written');
      assert.equal(commits, 0, 'a commit wrote');
      const now = await stat(files.dataFile);
      assert.deepEqual([now.ino, now.mtimeMs], [before.ino, before.mtimeMs]);

      // One that changed db.json is written, in pieces, as before.
      await db.transactDocument((data) => {
        data.posts = [];
      });
      assert.ok(pieces > 0, 'a change was not written');
      assert.equal(commits, 1);
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it(
    'the data API: a DELETE with _dependent of a missing id, or of a record nothing depends on, does not rewrite db.json',
    { skip: tmpfsUnavailable() ?? false },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-unchanged-api-'));
      mountTmpfs(dir, '4m');
      dirs.push(dir);
      const comments = [
        { id: 1, postId: 1 },
        // An orphan: the whole-document path was taken for the missing post 999 it names.
        { id: 2, postId: 999 },
      ];
      await writeFile(
        join(dir, 'db.json'),
        JSON.stringify({ users: [], posts: [{ id: 1 }, { id: 2 }], comments }),
      );
      const t = await createTestApp({
        format: 'json-data-server',
        config: { rules: { posts: 777, comments: 777 } },
        dir,
      });
      apps.push(t);
      // db.json's journal is made and held open: appending to it needs no new file in the folder.
      const post = await t.app.inject({ method: 'POST', url: '/posts', payload: { title: 'journaled' } });
      assert.equal(post.statusCode, 201, post.body);

      const immutable = spawnSync('chattr', ['+i', dir]);
      assert.equal(immutable.status, 0, immutable.stderr.toString());
      const remove = (id: number) =>
        t.app.inject({ method: 'DELETE', url: `/posts/${id}?_dependent=comments` });
      try {
        const missing = await remove(999);
        assert.equal(missing.statusCode, 404, `a DELETE of a missing id rewrote db.json: ${missing.body}`);
        const alone = await remove(2);
        assert.equal(alone.statusCode, 200, `a DELETE without dependants rewrote db.json: ${alone.body}`);
        // With a dependant, the collection is rewritten, which the folder refuses: what the two above did not try.
        const withDependant = await remove(1);
        assert.equal(withDependant.statusCode, 507, withDependant.body);
      } finally {
        spawnSync('chattr', ['-i', dir]);
      }
      const posts = await t.app.inject({ method: 'GET', url: '/posts' });
      assert.deepEqual(
        (posts.json() as Array<{ id: number }>).map((row) => row.id),
        [1, (post.json() as { id: number }).id],
      );
      const kept = await t.app.inject({ method: 'GET', url: '/comments' });
      assert.deepEqual(kept.json(), comments);
    },
  );
});
