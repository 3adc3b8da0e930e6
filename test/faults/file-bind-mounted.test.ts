import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * db.json mounted on its own (Docker's `-v ./db.json:/data/db.json`, a Kubernetes subPath), or made
 * read-only that way under a running server: every rewrite renames a new file over it, and a rename
 * onto a mount point fails (EBUSY) whoever runs it, root too, while the folder stays writable and
 * the journal still takes appends. The tests run as root, whom chmod does not stop; a bind mount does.
 */
describe(
  'db.json bind-mounted on its own under a running server',
  { skip: tmpfsUnavailable() ?? false },
  () => {
    const dirs: string[] = [];
    const apps: TestApp[] = [];
    after(async () => {
      for (const app of apps) await app.close().catch(() => {});
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    });

    it('a write that rewrites it answers 507, /ready names the file, acknowledged writes are kept', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-bind-mounted-'));
      dirs.push(dir);
      const dataFile = join(dir, 'db.json');
      await writeFile(
        dataFile,
        JSON.stringify({ users: [], posts: [{ id: 1, title: 'one' }], comments: [{ id: 1, postId: 1 }] }),
      );
      const t = await createTestApp({
        format: 'json-data-server',
        config: { rules: { posts: 777, comments: 777 } },
        dir,
      });
      apps.push(t);
      const request = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
        t.app.inject({ method, url, ...(payload && { payload }) });
      assert.equal((await request('GET', '/ready')).statusCode, 200);

      execFileSync('mount', ['--bind', dataFile, dataFile]);
      execFileSync('mount', ['-o', 'remount,bind,ro', dataFile]);
      try {
        const ready = await request('GET', '/ready');
        assert.equal(ready.statusCode, 503, ready.body);
        assert.deepEqual(ready.json().checks, {
          dataFolder: 'ok',
          dataFile: 'mounted on its own, cannot be replaced',
        });
        // Journaled: acknowledged once on disk in .db.json.journal, which is still writable.
        const post = await request('POST', '/posts', { id: 2, title: 'two' });
        assert.equal(post.statusCode, 201, post.body);
        // Deleting dependants rewrites db.json whole: refused as storage, never a 500, and undone.
        const refused = await request('DELETE', '/posts/1?_dependent=comments');
        assert.equal(refused.statusCode, 507, refused.body);
        assert.equal(refused.json().error, 'insufficient_storage');
        assert.ok(refused.headers['retry-after']);
        const posts = await request('GET', '/posts');
        assert.deepEqual(posts.json(), [
          { id: 1, title: 'one' },
          { id: 2, title: 'two' },
        ]);
      } finally {
        unmount(dataFile);
      }
      assert.equal((await request('GET', '/ready')).statusCode, 200);
      // Immutable (chattr +i: EPERM even for root) is named too; a mode alone (chmod 444) is not, as the
      // rename needs only the folder (root ignores modes: that part is not exercised here).
      const credentialsFile = join(dir, 'credentials.json');
      execFileSync('chattr', ['+i', credentialsFile]);
      try {
        assert.deepEqual((await request('GET', '/ready')).json().checks, {
          dataFolder: 'ok',
          credentialsFile: 'not writable',
        });
      } finally {
        execFileSync('chattr', ['-i', credentialsFile]);
      }
      assert.equal((await request('DELETE', '/posts/1?_dependent=comments')).statusCode, 200);
      await t.close();
      // The write acknowledged while the file could not be replaced is in it, and the delete after.
      assert.deepEqual(JSON.parse(await readFile(dataFile, 'utf8')), {
        users: [],
        posts: [{ id: 2, title: 'two' }],
        comments: [],
      });
    });
  },
);
