import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { DataError } from '../../src/data/errors.js';
import { FileDatabase } from '../../src/stores/file/file-database.js';
import { RecordJournal } from '../../src/stores/file/record-journal.js';
import { spawnTsScript } from '../support/process.js';
import { changeLines } from '../support/journal-lines.js';

type Post = { id: number | string; title?: string };

/** db.json's journal: record writes acknowledged on one appended line, db.json rewritten shortly after. */
describe('FileDatabase journal of record writes', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'restauth-journal-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const files = async (posts: Post[] = []) => {
    const dir = await mkdtemp(join(root, 'db-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify({ posts, profile: { theme: 'dark' } }));
    return {
      dir,
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      journal: join(dir, '.db.json.journal'),
      readDb: async () => JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as { posts: Post[] },
    };
  };
  /**
   * Waits until the condition holds, looking again each time `emitter` says `event` (the listener is
   * added before each look, so an event between the look and the wait is not missed).
   */
  const until = async (emitter: EventEmitter, event: string, condition: () => Promise<boolean>) => {
    for (;;) {
      const next = once(emitter, event);
      if (await condition()) return;
      await next;
    }
  };

  /** Runs journaled writes in a child process that is then SIGKILLed before it can close anything. */
  const writeThenDie = (dataFile: string, credentialsFile: string, body: string) =>
    new Promise<void>((resolve, reject) => {
      const script = `
        import { FileDatabase } from ${JSON.stringify(new URL('../../src/stores/file/file-database.ts', import.meta.url).href)};
        // No compaction before the kill, however slow the machine: the journal is what is tested.
        const db = await FileDatabase.open({
          dataFile: process.argv[1],
          credentialsFile: process.argv[2],
          compactAfterMs: 3_600_000,
        });
        ${body}
        process.kill(process.pid, 'SIGKILL');
      `;
      const child = spawnTsScript(script, [dataFile, credentialsFile], 'inherit');
      child.on('exit', (code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}`)),
      );
    });

  it('acknowledges a record write once its line is on disk; db.json catches up and the journal empties', async () => {
    const f = await files([{ id: 1, title: 'one' }]);
    const commits: number[] = [];
    const compactions = new EventEmitter();
    const db = await FileDatabase.open({
      ...f,
      onCommit: (transactions) => commits.push(transactions),
      onCompacted: () => compactions.emit('compacted'),
    });
    try {
      const writes = Array.from({ length: 100 }, (_, i) =>
        db.transactRecords((data, changes) => {
          const record = { id: i + 2, title: `post ${i + 2}` };
          (data.posts as Post[]).push(record);
          changes.put('posts', 'id', record);
        }),
      );
      await Promise.all(writes);
      assert.ok(commits.length < 100, `expected grouped commits, got ${commits.length}`);
      // Acknowledged: the journal holds every write (db.json may not yet).
      const lines = changeLines(await readFile(f.journal, 'utf8'));
      assert.equal(lines.length, 100);
      assert.deepEqual(JSON.parse(lines[0]!), {
        op: 'put',
        collection: 'posts',
        key: 'id',
        record: { id: 2, title: 'post 2' },
      });
      // db.json catches up and the journal empties by compactions, which a timer starts.
      await until(
        compactions,
        'compacted',
        async () => (await f.readDb()).posts.length === 101 && (await readFile(f.journal, 'utf8')) === '',
      );
    } finally {
      await db.close();
    }
    await assert.rejects(stat(f.journal), { code: 'ENOENT' }, 'close leaves no journal behind');
  });

  it('a trickle of writes rewrites db.json once its journal is as large as the file, not once per write', async () => {
    // 200 KiB of db.json: past the journal's least size (64 KiB), so the file's size is the bound.
    const f = await files(Array.from({ length: 200 }, (_, i) => ({ id: i + 1, title: 'x'.repeat(1000) })));
    const fileSize = (await stat(f.dataFile)).size;
    let compactions = 0;
    const db = await FileDatabase.open({
      ...f,
      // No catch-up a while after a write during the test: what is tested is the journal's size.
      compactAfterMs: 3_600_000,
      onCompacted: () => compactions++,
    });
    try {
      let writes = 0;
      let journalSize = 0;
      while (compactions === 0) {
        assert.ok(writes < 1000, `db.json not rewritten with ${journalSize} bytes of journal`);
        // One write per commit, each awaited: a trickle, as sign-ups one at a time are.
        await db.transactRecords((data, changes) => {
          const record = { id: 1000 + writes, title: 'y'.repeat(1000) };
          (data.posts as Post[]).push(record);
          changes.put('posts', 'id', record);
        });
        writes++;
        // A compaction the write made due runs before the next commit of the queue.
        await db.transactRecords(() => undefined);
        if (compactions > 0) break;
        journalSize = (await stat(f.journal)).size;
        assert.ok(journalSize < fileSize, `db.json still not rewritten at ${journalSize} bytes of journal`);
      }
      // The write that took the journal past db.json's size made the rewrite: one for some 200 writes.
      assert.ok(journalSize + 1100 >= fileSize, `rewritten at ${journalSize} of ${fileSize} bytes`);
      assert.equal(await readFile(f.journal, 'utf8'), '');
      assert.equal((await f.readDb()).posts.length, 200 + writes);
    } finally {
      await db.close();
    }
  });

  it('a reader notices a hand edit of db.json after the clock went back (the once-a-second check goes on)', async (t) => {
    const f = await files([{ id: 1, title: 'one' }]);
    const db = await FileDatabase.open({ ...f, logger: { info: () => {}, warn: () => {} } });
    const now = Date.now();
    // Only Date is mocked: the file database's timers and the file system run as they do.
    t.mock.timers.enable({ apis: ['Date'], now });
    try {
      await db.beforeRead();
      // The clock is set back a day, then db.json is edited by hand.
      t.mock.timers.setTime(now - 24 * 3600 * 1000);
      await writeFile(f.dataFile, JSON.stringify({ posts: [{ id: 1, title: 'edited by hand' }] }));
      await db.beforeRead();
    } finally {
      // Close waits for the commit beforeRead queued, if it queued one (which sets the edit aside); with
      // nothing journaled it looks at no file itself.
      await db.close();
      t.mock.timers.reset();
    }
    const aside = (await readdir(f.dir)).filter((name) => name.includes('.rejected-'));
    assert.equal(aside.length, 1, 'the hand edit is noticed and set aside');
    assert.deepEqual((await f.readDb()).posts, [{ id: 1, title: 'one' }]);
  });

  it('a write that rewrites db.json anyway takes the journaled writes with it', async () => {
    const f = await files();
    const db = await FileDatabase.open(f);
    try {
      await db.transactRecords((data, changes) => {
        const record = { id: 1, title: 'journaled' };
        (data.posts as Post[]).push(record);
        changes.put('posts', 'id', record);
      });
      assert.equal((await f.readDb()).posts.length, 0);
      await db.transact(({ credentials }) => (credentials.touched = true));
      assert.deepEqual((await f.readDb()).posts, [{ id: 1, title: 'journaled' }]);
      assert.equal(await readFile(f.journal, 'utf8'), '');
    } finally {
      await db.close();
    }
  });

  it('after a SIGKILL, open replays every acknowledged write in order: put, replace, delete, set', async () => {
    const f = await files([
      { id: 1, title: 'one' },
      { id: 2, title: 'two' },
      { id: 3, title: 'three' },
    ]);
    await writeThenDie(
      f.dataFile,
      f.credentialsFile,
      `
      const put = (record) => db.transactRecords((data, changes) => {
        const rows = data.posts;
        const at = rows.findIndex((row) => row.id === record.id);
        if (at === -1) rows.push(record); else rows[at] = record;
        changes.put('posts', 'id', record);
      });
      const remove = (id) => db.transactRecords((data, changes) => {
        data.posts.splice(data.posts.findIndex((row) => row.id === id), 1);
        changes.delete('posts', 'id', id);
      });
      await put({ id: 4, title: 'four' });
      await put({ id: 2, title: 'two, edited' });
      await remove(1);
      await remove(3);
      await put({ id: 3, title: 'three again' });
      await db.transactRecords((data, changes) => {
        data.profile = { theme: 'light' };
        changes.set('profile', data.profile);
      });
      `,
    );
    assert.ok((await readFile(f.journal, 'utf8')).split('\n').length > 6, 'the kill left a journal');
    const warnings: string[] = [];
    const db = await FileDatabase.open({ ...f, logger: { info() {}, warn: (m) => warnings.push(m) } });
    try {
      const expected = {
        posts: [
          { id: 2, title: 'two, edited' },
          { id: 4, title: 'four' },
          { id: 3, title: 'three again' },
        ],
        profile: { theme: 'light' },
      };
      assert.deepEqual(db.data, expected);
      // Written to db.json at open: the journal is gone.
      assert.deepEqual(await f.readDb(), expected);
      await assert.rejects(stat(f.journal), { code: 'ENOENT' });
      assert.match(warnings.join('\n'), /6 acknowledged write\(s\) replayed from \.db\.json\.journal/);
    } finally {
      await db.close();
    }
  });

  it('a torn last line (never acknowledged) is dropped; an unreadable line before it stops the open', async () => {
    const f = await files();
    const put = JSON.stringify({ op: 'put', collection: 'posts', key: 'id', record: { id: 1 } });
    await writeFile(f.journal, `${put}\n{"op":"put","collection":"po`);
    const warnings: string[] = [];
    const db = await FileDatabase.open({ ...f, logger: { info() {}, warn: (m) => warnings.push(m) } });
    await db.close();
    assert.deepEqual((await f.readDb()).posts, [{ id: 1 }]);
    assert.match(warnings.join('\n'), /half-written last change dropped/);

    await writeFile(f.journal, `${put}\nnot json\n${put}\n`);
    await assert.rejects(FileDatabase.open(f), /\.db\.json\.journal line 2 is not valid JSON/);
    // Nothing was lost or rewritten: the journal is still there for a person to look at.
    assert.match(await readFile(f.journal, 'utf8'), /not json/);
  });

  it('an edit saved from a copy read before a compaction loses no acknowledged write, and is kept beside', async () => {
    const f = await files([{ id: 1, title: 'one' }]);
    const warnings: string[] = [];
    const db = await FileDatabase.open({ ...f, logger: { info() {}, warn: (m) => warnings.push(m) } });
    try {
      // The editor reads db.json, then restauth acknowledges writes and compacts them into db.json.
      const copy = await readFile(f.dataFile, 'utf8');
      for (let id = 2; id <= 20; id++) {
        await db.transactRecords((data, changes) => {
          const record = { id, title: `post ${id}` };
          (data.posts as Post[]).push(record);
          changes.put('posts', 'id', record);
        });
      }
      await db.transact(() => undefined); // the compaction a timer would run
      assert.equal((await f.readDb()).posts.length, 20);
      // The editor saves its stale copy with one change.
      const edit = copy.replace('"one"', '"one, by hand"');
      await writeFile(f.dataFile, edit);
      await db.transactRecords((data, changes) => {
        const record = { id: 21, title: 'after the edit' };
        (data.posts as Post[]).push(record);
        changes.put('posts', 'id', record);
      });
      await db.transact(() => undefined);
      const posts = (await f.readDb()).posts;
      assert.deepEqual(
        posts.map((post) => post.id),
        Array.from({ length: 21 }, (_, i) => i + 1),
      );
      assert.equal(posts[0]!.title, 'one');
      const aside = (await readdir(f.dir)).filter((name) => name.startsWith('db.json.rejected-'));
      assert.deepEqual(
        await Promise.all(aside.map((name) => readFile(join(f.dir, name), 'utf8'))),
        [edit],
        'the edit is kept, word for word',
      );
      assert.match(warnings.join('\n'), /the change is kept as db\.json\.rejected-/);
    } finally {
      await db.close();
    }
  });

  it('fast edits racing writes: every acknowledged write stays, every edit is set aside, none vanishes', async () => {
    const f = await files();
    const warnings = new EventEmitter();
    const db = await FileDatabase.open({
      ...f,
      logger: { info() {}, warn: () => warnings.emit('warn') },
    });
    const edits = 64;
    const acknowledged: number[] = [];
    let refused = 0;
    let editing = true;
    const writer = (async () => {
      for (let id = 1; editing; id++) {
        try {
          await db.transactRecords((data, changes) => {
            const record = { id, title: `post ${id}` };
            (data.posts as Post[]).push(record);
            changes.put('posts', 'id', record);
          });
          acknowledged.push(id);
          // Every fourth write rewrites db.json, as compactions do.
          if (id % 4 === 0) await db.transact(() => undefined);
        } catch (error) {
          // An editor saving faster than restauth can set its saves aside fails a commit, honestly.
          if (
            !/was changed by someone else|keeps being changed outside restauth/.test((error as Error).message)
          )
            throw error;
          refused++;
        }
      }
    })();
    try {
      for (let edit = 1; edit <= edits; edit++) {
        const marker = `edit-${edit}`;
        await writeFile(f.dataFile, JSON.stringify({ posts: [], marker }));
        // Wait until restauth has seen this edit (it sets it aside at its next commit) before the next one,
        // so that no edit is overwritten by the editor itself.
        // restauth warns each time it sets an edit aside.
        await until(warnings, 'warn', async () => {
          const names = (await readdir(f.dir)).filter((name) => name.startsWith('db.json.rejected-'));
          const texts = await Promise.all(names.map((name) => readFile(join(f.dir, name), 'utf8')));
          return texts.some((text) => text.includes(`"${marker}"`));
        });
      }
    } finally {
      editing = false;
      // A failed write stops the writer: its error, not the editor's time-out, is the one to see.
      await writer.finally(() => db.close());
    }
    const ids = new Set((await f.readDb()).posts.map((post) => post.id));
    assert.deepEqual(
      acknowledged.filter((id) => !ids.has(id)),
      [],
      `every acknowledged write is in db.json (${acknowledged.length} acknowledged, ${refused} refused)`,
    );
  });

  it('a failing journaled transaction is rejected alone and leaves no line', async () => {
    const f = await files();
    const db = await FileDatabase.open(f);
    try {
      const bad = db.transactRecords((_data, changes) => {
        changes.put('posts', 'id', { id: 'never' });
        throw new Error('refused');
      });
      const good = db.transactRecords((data, changes) => {
        (data.posts as Post[]).push({ id: 'kept' });
        changes.put('posts', 'id', { id: 'kept' });
      });
      await assert.rejects(bad, /refused/);
      await good;
      assert.doesNotMatch(await readFile(f.journal, 'utf8'), /never/);
    } finally {
      await db.close();
    }
    assert.deepEqual((await f.readDb()).posts, [{ id: 'kept' }]);
  });

  it("the data API's refusal (a DocumentRefusal) is rejected alone and leaves memory as it is; any other throw undoes memory", async () => {
    const f = await files([{ id: 1, title: 'one' }]);
    const db = await FileDatabase.open(f);
    let reloads = 0;
    db.onReload(() => reloads++);
    try {
      const refused = db.transactRecords(() => {
        throw new DataError('conflict', 'posts already has a record with id 1');
      });
      await assert.rejects(refused, DataError);
      assert.equal(reloads, 0, 'a refusal changed nothing: memory is not reloaded');
      const fault = db.transactRecords(() => {
        throw new Error('half done');
      });
      await assert.rejects(fault, /half done/);
      assert.equal(reloads, 1, 'a fault may have left a half-done change: memory goes back to disk');
    } finally {
      await db.close();
    }
  });
});

/**
 * A replay finds records through a map of ids (record-journal.ts) where it
 * scanned each collection per line: any sequence of puts, removals and sets
 * must leave what the scan left (the first row of an id replaced or removed).
 */
describe('record journal replay', () => {
  it('property: the replay by id map gives what a scan per change gives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-replay-'));
    try {
      const id = fc.constantFrom(1, 2, '2', 3, 'x');
      const change = fc.oneof(
        fc.record({
          op: fc.constant('put' as const),
          collection: fc.constantFrom('users', 'posts'),
          key: fc.constantFrom('id', 'id', 'id', 'slug'),
          record: fc.record({ id, slug: id, n: fc.nat(9) }),
        }),
        fc.record({
          op: fc.constant('delete' as const),
          collection: fc.constantFrom('users', 'posts'),
          key: fc.constantFrom('id', 'slug'),
          id,
        }),
        fc.record({
          op: fc.constant('set' as const),
          name: fc.constantFrom('users', 'profile'),
          value: fc.constantFrom(
            [
              { id: 1, n: 0 },
              { id: 1, n: 1 },
            ],
            { a: 1 },
          ),
        }),
      );
      type Change = typeof change extends fc.Arbitrary<infer C> ? C : never;
      const scanned = (doc: Record<string, unknown>, c: Change) => {
        if (c.op === 'set') {
          doc[c.name] = structuredClone(c.value);
          return;
        }
        if (c.op === 'put') doc[c.collection] ??= [];
        const rows = doc[c.collection];
        if (!Array.isArray(rows)) return;
        const wanted = String(c.op === 'put' ? c.record[c.key] : c.id);
        const at = rows.findIndex((row) => String(row[c.key]) === wanted);
        if (c.op === 'put') {
          if (at === -1) rows.push(structuredClone(c.record));
          else rows[at] = structuredClone(c.record);
        } else if (at !== -1) rows.splice(at, 1);
      };
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(change, { maxLength: 40 }), async (changes) => {
          const start = () => ({
            users: [
              { id: 2, slug: 1, n: 5 },
              { id: '2', slug: 3, n: 6 },
            ],
          });
          const expected: Record<string, unknown> = start();
          for (const c of changes) scanned(expected, c);
          const path = join(dir, `journal-${n++}`);
          await writeFile(path, changes.map((c) => `${JSON.stringify(c)}\n`).join(''));
          const replayed: Record<string, unknown> = start();
          await new RecordJournal(path).recover(replayed);
          assert.deepEqual(replayed, expected);
        }),
        { numRuns: 200 },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
