import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { LoopExt4Folders, loopExt4Unavailable, remountLoopExt4, shutDownExt4 } from '../support/loop-ext4.js';
import { unmount } from '../support/tmpfs.js';

/**
 * A device that fails (EIO) under a running server, for real: the data folder is an ext4 file
 * system on a loop device, shut down (support/loop-ext4.ts: from then on it answers EIO to every
 * write and open, as a disk gone bad does), without flushing its journal. Every write must answer
 * 507 (the storage refuses, as on a full disk) and be undone, never a 500, /ready must say so, and
 * what was acknowledged before must be there after a remount.
 */
describe('file store on a device that fails (EIO)', { skip: loopExt4Unavailable() ?? false }, () => {
  const folders = new LoopExt4Folders();
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    await folders.cleanUp();
  });

  it('writes answer 507 and are undone; acknowledged writes are there after a remount', async () => {
    const { image, dir } = await folders.mount();
    await writeFile(
      join(dir, 'db.json'),
      JSON.stringify({ users: [], posts: [{ id: 1, title: 'one' }], comments: [{ id: 1, postId: 1 }] }),
    );
    // On disk before the start, as a file saved long ago is.
    execFileSync('sync', [join(dir, 'db.json')]);
    const start = () =>
      createTestApp({ format: 'json-data-server', config: { rules: { posts: 777, comments: 777 } }, dir });
    const t = await start();
    apps.push(t);
    const request = (app: TestApp, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      app.app.inject({ method, url, ...(payload && { payload }) });
    assert.equal((await request(t, 'POST', '/posts', { id: 2, title: 'two' })).statusCode, 201);

    shutDownExt4(dir);
    const journaled = await request(t, 'POST', '/posts', { id: 3, title: 'three' });
    assert.equal(journaled.statusCode, 507, journaled.body);
    assert.equal(journaled.json().error, 'insufficient_storage');
    // What happened, not a full or read-only disk an operator would look for in vain.
    assert.match(journaled.json().message, /storage device is failing: an I\/O error/u);
    assert.equal(journaled.headers['retry-after'], '60');
    const rewrite = await request(t, 'DELETE', '/posts/1?_dependent=comments');
    assert.equal(rewrite.statusCode, 507, rewrite.body);
    const ready = await request(t, 'GET', '/ready');
    assert.equal(ready.statusCode, 503, ready.body);
    assert.equal(ready.json().checks.device, 'failing writes (EIO)');
    // Reads go on from memory, without the refused writes.
    const ids = (await request(t, 'GET', '/posts')).json().map((post: { id: number }) => post.id);
    assert.deepEqual(ids, [1, 2]);
    // Its last compaction fails too, and says so; closing ends anyway, its files closed (or the unmount fails).
    await assert.rejects(t.close(), { code: 'EIO' });
    apps.splice(apps.indexOf(t), 1);

    unmount(dir);
    remountLoopExt4(image, dir);
    const restarted = await start();
    apps.push(restarted);
    const kept = (await request(restarted, 'GET', '/posts')).json().map((post: { id: number }) => post.id);
    assert.deepEqual(kept, [1, 2]);
    assert.equal((await request(restarted, 'GET', '/comments')).json().length, 1);
  });
});
