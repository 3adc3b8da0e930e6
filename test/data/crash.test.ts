import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileDatabase } from '../../src/stores/file/index.js';
import { exitOf } from '../support/child-waits.js';
import { killedWhileWriting } from '../support/killed-while-writing.js';
import { spawnRestauth } from '../support/process.js';

/**
 * SIGKILL during a storm of POSTs: every write answered 201 is in db.json
 * after restart, which parses (the restart replays the journal of writes
 * acknowledged but not yet rewritten into db.json).
 */
describe('data API crash during a write storm', () => {
  // Killed once this many writes were acknowledged: the same moment on a fast or a busy machine.
  for (const killAfter of [50, 300]) {
    it(`SIGKILL after ${killAfter} acknowledged writes loses no acknowledged write`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-data-crash-'));
      try {
        await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [] }));
        await writeFile(
          join(dir, 'config.json'),
          JSON.stringify({
            rules: { posts: 777 },
            auth: { jwtSecret: 'crash-secret-0123456789abcdefghijklmn-0123456789' },
          }),
        );
        const server = await spawnRestauth(dir);
        const acknowledged: number[] = [];
        let reachedCount = () => {};
        const enough = new Promise<void>((resolve) => (reachedCount = resolve));
        let stop = false;
        const worker = async (n: number) => {
          for (let i = 0; !stop; i++) {
            try {
              const res = await fetch(`${server.url}/posts`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ title: `w${n}-${i}` }),
              });
              if (res.status === 201) {
                acknowledged.push(((await res.json()) as { id: number }).id);
                if (acknowledged.length === killAfter) reachedCount();
              }
            } catch {
              return; // the process is gone
            }
          }
        };
        const workers = Array.from({ length: 16 }, (_, n) => worker(n));
        // (or the process dying first, which the checks below then report)
        await Promise.race([enough, new Promise((resolve) => server.child.once('exit', resolve))]);
        await server.kill();
        stop = true;
        await Promise.all(workers);
        const journal = await readFile(join(dir, '.db.json.journal'), 'utf8').catch(() => '');
        t.diagnostic(
          `${acknowledged.length} writes acknowledged before the kill, ` +
            `${journal.split('\n').length - 1} changes left in the journal`,
        );
        const restarted = await spawnRestauth(dir);
        try {
          const listed = (await (await fetch(`${restarted.url}/posts`)).json()) as Array<{ id: number }>;
          const served = new Set(listed.map((p) => p.id));
          for (const id of acknowledged)
            assert.ok(served.has(id), `post ${id} was acknowledged but is not served`);
        } finally {
          await restarted.stop();
        }
        const onDisk = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as {
          posts: Array<{ id: number }>;
        };
        const ids = new Set(onDisk.posts.map((p) => p.id));
        for (const id of acknowledged) assert.ok(ids.has(id), `post ${id} was acknowledged but is missing`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

/**
 * Killed once db.json's compaction is renamed into place and before its journal is emptied: the file
 * holds every write and the journal holds them too. Collections are arrays: a replay that appended an
 * insert again would serve the record twice. Each acknowledged write must be there exactly once.
 */
describe("killed between db.json's compaction rename and its journal being emptied", () => {
  it('a restart serves every acknowledged insert once and no deleted record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-data-rename-crash-'));
    try {
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [{ id: 1 }, { id: 2 }] }));
      const child = killedWhileWriting(
        dir,
        'db.json',
        `
        const { appendFileSync } = await import('node:fs');
        const acknowledged = (what) => appendFileSync(join(dir, 'acknowledged'), what + '\\n');
        for (let i = 0; i < 20; i++) {
          await db.transactRecords((data, changes) => {
            const post = { id: 100 + i, title: 'post ' + i };
            data.posts.push(post);
            changes.put('posts', 'id', post);
          });
          acknowledged('insert ' + i);
        }
        await db.transactRecords((data, changes) => {
          data.posts.splice(data.posts.findIndex((post) => post.id === 1), 1);
          changes.delete('posts', 'id', 1);
        });
        acknowledged('delete');
        await db.close();
        console.error('the compaction ended before the kill');
      `,
        'after the rename',
      );
      assert.deepEqual(await exitOf(child), { code: null, signal: 'SIGKILL' });
      const acknowledged = (await readFile(join(dir, 'acknowledged'), 'utf8')).trim().split('\n');
      assert.equal(acknowledged.length, 21);
      const expected = [2, ...Array.from({ length: 20 }, (_, i) => 100 + i)];
      const ids = (document: string) =>
        (JSON.parse(document) as { posts: Array<{ id: number }> }).posts.map((post) => post.id);
      // The moment: db.json already holds every write, and its journal still holds them.
      assert.deepEqual(ids(await readFile(join(dir, 'db.json'), 'utf8')), expected);
      assert.match(await readFile(join(dir, '.db.json.journal'), 'utf8'), /"post 19"/u);

      for (const restart of [1, 2]) {
        const db = await FileDatabase.open({
          dataFile: join(dir, 'db.json'),
          credentialsFile: join(dir, 'credentials.json'),
          logger: { info() {}, warn() {} },
        });
        try {
          assert.deepEqual(ids(JSON.stringify(db.data)), expected, `restart ${restart}`);
        } finally {
          await db.close();
        }
      }
      assert.deepEqual(ids(await readFile(join(dir, 'db.json'), 'utf8')), expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
