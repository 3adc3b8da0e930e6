import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileDatabase } from '../../src/stores/file/index.js';
import { exitOf } from '../support/child-waits.js';
import { killedWhileWriting } from '../support/killed-while-writing.js';

type Posts = { posts: Array<{ id: number; title?: string }> };
const titles = (doc: Posts) => doc.posts.map((post) => post.title ?? post.id);

/**
 * A kill between a compaction's rename and the journal being emptied leaves db.json with every write
 * and the journal with them too. The replay at the restart was thought idempotent ("changes put and
 * delete whole entries by key"), but a delete by id is not once ids repeat: a db.json may hold two
 * posts with id 1 (json-server tolerates them; a hand-made or imported file has them), the data API's
 * DELETE removes the first, as json-server's does, and the same line replayed onto the compacted file
 * removed the second, which nobody deleted. The journal now names the file its lines apply to, and a
 * file rewritten with them is not that file.
 */
describe('db.json killed after a compaction renamed it, before its journal was emptied', () => {
  it('replays nothing the compacted file holds: the second record with a repeated id stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-replay-after-compaction-'));
    try {
      await writeFile(
        join(dir, 'db.json'),
        JSON.stringify({
          users: [],
          posts: [{ id: 1, title: 'first' }, { id: 1, title: 'second' }, { id: 2 }],
        }),
      );
      // The compaction at close, killed once db.json is in place (FileDatabase's onFileWritten).
      const child = killedWhileWriting(
        dir,
        'db.json',
        `
        const { appendFileSync } = await import('node:fs');
        // As the data API's DELETE /posts/1 (src/data/plural.ts): the first record with id 1 goes.
        await db.transactRecords((data, changes) => {
          const index = data.posts.findIndex((post) => String(post.id) === '1');
          const [current] = data.posts.splice(index, 1);
          changes.delete('posts', 'id', current.id);
        });
        appendFileSync(join(dir, 'acknowledged'), 'delete\\n');
        await db.close();
        console.error('the compaction ended before the kill');
      `,
        'after the rename',
      );
      assert.deepEqual(await exitOf(child), { code: null, signal: 'SIGKILL' });
      assert.equal((await readFile(join(dir, 'acknowledged'), 'utf8')).trim(), 'delete');
      // The moment: db.json holds the delete, and the journal still holds it too.
      assert.deepEqual(titles(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as Posts), [
        'second',
        2,
      ]);
      assert.match(await readFile(join(dir, '.db.json.journal'), 'utf8'), /"op":"delete"/);

      const warnings: string[] = [];
      for (const restart of [1, 2]) {
        const db = await FileDatabase.open({
          dataFile: join(dir, 'db.json'),
          credentialsFile: join(dir, 'credentials.json'),
          logger: { info() {}, warn: (message) => warnings.push(message) },
        });
        try {
          assert.deepEqual(
            titles(db.data as Posts),
            ['second', 2],
            `restart ${restart}: the delete was replayed a second time, removing a record nobody deleted`,
          );
        } finally {
          await db.close();
        }
      }
      // Not replayed, not deleted either: kept beside (a file edited by hand after a crash looks the same).
      const names = await readdir(dir);
      assert.ok(!names.includes('.db.json.journal'), names.join(' '));
      assert.equal(
        names.filter((name) => name.startsWith('.db.json.journal.stale-')).length,
        1,
        names.join(' '),
      );
      assert.match(warnings.join('\n'), /db\.json is not the file \.db\.json\.journal was written for/);
      assert.equal(warnings.length, 1, warnings.join('\n'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
