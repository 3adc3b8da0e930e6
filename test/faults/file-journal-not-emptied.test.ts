import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileDatabase } from '../../src/stores/file/index.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

type Posts = { posts: Array<{ id: number; title?: string }> };
const titles = (doc: unknown) => (doc as Posts).posts.map((post) => post.title ?? post.id);

/**
 * A journal that cannot be emptied after its file was rewritten with it keeps its lines, in memory
 * and on disk, and the next append goes on after them. They were replayed onto the rewritten file,
 * which holds them already: in memory by the reload after a failed commit, and on disk by the next
 * start. A delete by id is not idempotent once ids repeat (two posts with id 1: json-server tolerates
 * them, and the data API's DELETE removes the first), so the replay removed the second post, which
 * nobody deleted. The lines after the rewrite name the new file, and only they are replayed.
 *
 * Real faults, on a tmpfs: the journal made append-only (chattr +a: appends go on, the truncate that
 * empties it fails with EPERM even for root), and db.json immutable for the last compaction (chattr +i).
 */
const skip = tmpfsUnavailable() ?? false;

function chattr(flag: '+a' | '-a' | '+i' | '-i', path: string): void {
  assert.equal(spawnSync('chattr', [flag, path]).status, 0, `chattr ${flag} ${path}`);
}

describe('a journal that could not be emptied after db.json was rewritten with it', { skip }, () => {
  it('is not replayed onto the rewritten file, in memory nor at the next start; later writes are', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-journal-not-emptied-'));
    mountTmpfs(dir, '8m');
    try {
      const dataFile = join(dir, 'db.json');
      const journal = join(dir, '.db.json.journal');
      await writeFile(
        dataFile,
        JSON.stringify({
          posts: [{ id: 1, title: 'first' }, { id: 1, title: 'second' }, { id: 2 }],
        }),
      );
      const warnings: string[] = [];
      const open = () =>
        FileDatabase.open({
          dataFile,
          credentialsFile: join(dir, 'credentials.json'),
          logger: { info() {}, warn: (message) => warnings.push(message) },
          // No compaction on the timer: the test says when db.json is rewritten.
          compactAfterMs: 3_600_000,
        });
      const db = await open();
      let closed = false;
      /** A transaction that fails partway (a bug): memory goes back to the files and their journals. */
      const reload = () =>
        assert.rejects(
          db.transactRecords(() => {
            throw new Error('a fault partway through');
          }),
          /a fault partway through/,
        );
      try {
        // As the data API's DELETE /posts/1: the first record with id 1 goes.
        await db.transactRecords((data, changes) => {
          const posts = (data as Posts).posts;
          const [removed] = posts.splice(
            posts.findIndex((post) => post.id === 1),
            1,
          );
          changes.delete('posts', 'id', removed!.id);
        });
        chattr('+a', journal);
        // A whole-document write rewrites db.json with the delete; emptying the journal then fails.
        await db.transactDocument((data) => {
          data.comments = [];
        });
        assert.match(warnings.join('\n'), /could not empty \.db\.json\.journal/);
        assert.deepEqual(titles(JSON.parse(await readFile(dataFile, 'utf8'))), ['second', 2]);
        assert.match(await readFile(journal, 'utf8'), /"op":"delete"/);

        await reload();
        assert.deepEqual(
          titles(db.data),
          ['second', 2],
          'the reload replayed the delete onto the rewritten file',
        );

        // A write after the rewrite goes on after the old lines: replayed by a reload, and by a start.
        await db.transactRecords((data, changes) => {
          const record = { id: 3, title: 'third' };
          (data as Posts).posts.push(record);
          changes.put('posts', 'id', record);
        });
        await reload();
        assert.deepEqual(titles(db.data), ['second', 2, 'third']);

        // The compaction at close cannot replace db.json: both files stay as they are for the start.
        chattr('+i', dataFile);
        closed = true;
        await assert.rejects(db.close(), { code: 'EPERM' });
      } finally {
        if (!closed) await db.close();
      }
      chattr('-i', dataFile);
      chattr('-a', journal);
      assert.deepEqual(titles(JSON.parse(await readFile(dataFile, 'utf8'))), ['second', 2]);

      const restarted = await open();
      try {
        assert.deepEqual(
          titles(restarted.data),
          ['second', 2, 'third'],
          'the start replayed the delete onto the rewritten file',
        );
        assert.match(warnings.join('\n'), /1 acknowledged write\(s\) replayed from \.db\.json\.journal/);
      } finally {
        await restarted.close();
      }
      assert.deepEqual(titles(JSON.parse(await readFile(dataFile, 'utf8'))), ['second', 2, 'third']);
    } finally {
      // Whatever a failed assertion left append-only or immutable would stop the unmount's clean-up.
      spawnSync('chattr', ['-R', '-ai', dir]);
      unmount(dir);
      await rmdir(dir);
    }
  });
});
