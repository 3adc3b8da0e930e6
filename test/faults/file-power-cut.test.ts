import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDatabase } from '../../src/stores/file/file-database.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { cutPower, LoopExt4Folders, loopExt4Unavailable } from '../support/loop-ext4.js';

/**
 * A power cut (support/loop-ext4.ts: an ext4 shut down without flushing its journal, so only what
 * was synced is there at the next mount) right after a write acknowledged on top of a db.json
 * restauth did not write itself: one saved just before the start, or an edit applied under --watch.
 * restauth's journal holds the write, synced, but as a change of that db.json: while the file was
 * not on disk yet, the restart found it empty and refused to start (a damaged file), the
 * acknowledged write with it.
 */
/** A db.json holding `text` in `dir`, synced (on disk), and how to open the FileDatabase on it. */
async function onSyncedDataFile(dir: string, text: string, adoptEdits = false) {
  const dataFile = join(dir, 'db.json');
  await writeFile(dataFile, text);
  execFileSync('sync', [dataFile]);
  const open = () =>
    FileDatabase.open({
      dataFile,
      credentialsFile: join(dir, 'credentials.json'),
      logger: { info() {}, warn() {} },
      adoptEdits,
    });
  return { dataFile, open };
}

describe(
  'a power cut after a write on a db.json restauth did not write',
  { skip: loopExt4Unavailable() ?? false },
  () => {
    const folders = new LoopExt4Folders();
    const apps: TestApp[] = [];
    after(async () => {
      for (const app of apps) await app.close().catch(() => {});
      await folders.cleanUp();
    });

    it('saved just before the start: the restart has the file as saved and the acknowledged write', async () => {
      const { image, dir } = await folders.mount();
      // Saved as an editor without fsync saves it: in the page cache, not yet on the disk.
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [{ id: 1, title: 'one' }] }));
      const start = () =>
        createTestApp({ format: 'json-data-server', config: { rules: { posts: 777 } }, dir });
      const t = await start();
      apps.push(t);
      const post = await t.app.inject({ method: 'POST', url: '/posts', payload: { id: 2, title: 'two' } });
      assert.equal(post.statusCode, 201, post.body);

      await cutPower(image, dir, () => t.close());
      const restarted = await start();
      apps.push(restarted);
      const posts = await restarted.app.inject({ method: 'GET', url: '/posts' });
      assert.deepEqual(posts.json(), [
        { id: 1, title: 'one' },
        { id: 2, title: 'two' },
      ]);
    });

    it('under --watch: an edit applied as saved is on disk with the write acknowledged on top of it', async () => {
      const { image, dir } = await folders.mount();
      const { dataFile, open } = await onSyncedDataFile(dir, JSON.stringify({ posts: [] }), true);
      const db = await open();
      // Saved by an editor as a new file, without fsync; the next commit applies it as it is, then its own write.
      await rm(dataFile);
      await writeFile(dataFile, JSON.stringify({ posts: [], comments: [{ id: 1 }] }));
      await db.transactRecords((data, changes) => {
        const record = { id: 1, title: 'acknowledged' };
        (data.posts as unknown[]).push(record);
        changes.put('posts', 'id', record);
      });
      assert.deepEqual(db.data.comments, [{ id: 1 }]);

      await cutPower(image, dir, () => db.close());
      const reopened = await open();
      const expected = { posts: [{ id: 1, title: 'acknowledged' }], comments: [{ id: 1 }] };
      try {
        assert.deepEqual(reopened.data, expected);
      } finally {
        await reopened.close();
      }
      assert.deepEqual(JSON.parse(await readFile(dataFile, 'utf8')), expected);
    });

    // Deleted and saved again, ext4 gives the new file the old inode number: no new inode to tell by.
    const saves = {
      'deleted and saved again (its inode number reused)': async (dataFile: string, text: string) => {
        await rm(dataFile);
        await writeFile(dataFile, text);
      },
      'copied and renamed over it (a new inode)': async (dataFile: string, text: string) => {
        // Else ext4 starts writing the file out at the rename (auto_da_alloc): the cut would not lose it.
        execFileSync('mount', ['-o', 'remount,noauto_da_alloc', dirname(dataFile)]);
        await writeFile(`${dataFile}.copy`, text);
        await rename(`${dataFile}.copy`, dataFile);
      },
    };
    for (const [how, save] of Object.entries(saves)) {
      it(`the same bytes ${how}: on disk before a write is acknowledged on it`, async () => {
        const { image, dir } = await folders.mount();
        const text = JSON.stringify({ posts: [{ id: 1, title: 'one' }] });
        const { dataFile, open } = await onSyncedDataFile(dir, text);
        const db = await open();
        // An editor saves the file unchanged as a new file, without fsync: nothing to set aside, but the
        // journal's next line is a change of this file, which is only in the page cache.
        await save(dataFile, text);
        await db.transactRecords((data, changes) => {
          const record = { id: 2, title: 'acknowledged' };
          (data.posts as unknown[]).push(record);
          changes.put('posts', 'id', record);
        });

        await cutPower(image, dir, () => db.close());
        const reopened = await open();
        try {
          assert.deepEqual(reopened.data, {
            posts: [
              { id: 1, title: 'one' },
              { id: 2, title: 'acknowledged' },
            ],
          });
        } finally {
          await reopened.close();
        }
      });
    }
  },
);
