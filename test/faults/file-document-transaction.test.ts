import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { removeLeftoverTempFiles } from '../../src/lib/atomic-write.js';
import { credentialsJournalPathFor } from '../../src/stores/file/credentials-journal.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { journalPathFor } from '../../src/stores/file/record-journal.js';
import { exitOf } from '../support/child-waits.js';
import { requestAtFirstPiece } from '../support/answering-server.js';
import { newSession, seed } from '../support/credentials-seed.js';
import { durableCredentials, durableData } from '../support/durable.js';
import { killedWhileWriting } from '../support/killed-while-writing.js';

/**
 * A transaction over the whole of db.json (transactDocument: the data API's DELETE with `_dependent`)
 * was committed as one that may change anything: credentials.json was stringified and hashed whole on
 * the event loop to learn whether it changed (23 MB at 50,000 users), and rewritten whole whenever its
 * journal held lines (it then differs from the file). Such a commit now rewrites db.json only, and
 * the credentials writes of the same commit are journaled. db.json itself (that commit's rewrite, and
 * a compaction of its journal) is written in pieces of 500 records (dataPieces), requests answered
 * between them, where it was stringified whole (30 ms at 50,000 users and 10,000 posts). What is
 * checked is the files and the code's own count of pieces, not a time: bench/file-store-stalls.ts
 * has those.
 */
const USERS = 5000;
const quiet = { info() {}, warn() {} };
// The compactions these tests count are the ones they cause (a transaction, a close): the 0.2 s timer's,
// which a busy machine can bring first, is kept out of the way.
const NO_TIMER_COMPACTION = 3_600_000;

/** db.json with USERS users and a post of each, credentials.json with their credentials. */
async function files(dirs: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-document-transaction-'));
  dirs.push(dir);
  const seeded = seed(USERS);
  const data = JSON.parse(seeded.data) as { users: unknown[] };
  const posts = Array.from({ length: USERS }, (_, i) => ({ id: i, userId: `user${i}` }));
  const f = { dir, dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
  await writeFile(f.dataFile, JSON.stringify({ ...data, posts }));
  await writeFile(f.credentialsFile, seeded.credentials, { mode: 0o600 });
  return f;
}

/** What the code counted of db.json's pieces: many, none near the whole file (of `length` characters). */
function assertInPieces(pieces: number[], length: number): void {
  assert.ok(pieces.length >= 20, `db.json in ${pieces.length} pieces`);
  const longest = Math.max(...pieces);
  assert.ok(longest * 10 < length, `a piece of ${longest} of ${length} characters`);
}

describe('a whole-document transaction of db.json', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('rewrites db.json only: credentials.json and its journal are left as they were, nothing acknowledged lost', async () => {
    const f = await files(dirs);
    const pieces: number[] = [];
    const db = await FileDatabase.open({
      ...f,
      logger: quiet,
      compactAfterMs: NO_TIMER_COMPACTION,
      onCompactionPiece: (characters, file) => file === 'data' && pieces.push(characters),
    });
    try {
      const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
      // A sign-in journaled before: credentials.json now lacks it, as it does between compactions.
      await store.createSession(newSession('user7', 'before', new Date()));
      const credentialsBefore = await readFile(f.credentialsFile, 'utf8');
      const { ino } = await stat(f.credentialsFile);

      // The whole-document transaction and a sign-in sent together: one commit, most likely.
      const [removed] = await Promise.all([
        db.transactDocument((doc) => {
          const rows = doc.posts as Array<{ userId: string }>;
          doc.posts = rows.filter((row) => row.userId !== 'user7');
          return rows.length - (doc.posts as unknown[]).length;
        }),
        store.createSession(newSession('user8', 'beside', new Date())),
      ]);
      assert.equal(removed, 1);

      assert.equal((await stat(f.credentialsFile)).ino, ino, 'credentials.json was rewritten');
      assert.equal(await readFile(f.credentialsFile, 'utf8'), credentialsBefore);
      const journal = await readFile(credentialsJournalPathFor(f.credentialsFile), 'utf8');
      assert.match(journal, /"before"/);
      assert.match(journal, /"beside"/);
      // db.json holds the transaction itself (rewritten in pieces), its journal nothing left over.
      const dataText = await readFile(f.dataFile, 'utf8');
      assert.equal(dataText, `${JSON.stringify(db.data, null, 2)}\n`);
      assert.equal((JSON.parse(dataText) as { posts: unknown[] }).posts.length, USERS - 1);
      assertInPieces(pieces, dataText.length);
      assert.equal(await readFile(journalPathFor(f.dataFile), 'utf8').catch(() => ''), '');

      // What a restart would have: both sign-ins and the removal.
      const sessions = (await durableCredentials(f.credentialsFile)).sessions as Record<string, unknown>;
      assert.ok(sessions.before && sessions.beside, 'an acknowledged sign-in is not durable');
      assert.equal(((await durableData(f.dataFile)).posts as unknown[]).length, USERS - 1);
    } finally {
      await db.close();
    }
  });

  it("compacts db.json's journal in pieces, answers meanwhile, and the file is the document", async () => {
    const f = await files(dirs);
    // The first piece of db.json sends a request; it must be answered before the compaction (at close) ends.
    const { pieces, onPiece, answeredBefore } = await requestAtFirstPiece();
    const db = await FileDatabase.open({
      ...f,
      logger: quiet,
      compactAfterMs: NO_TIMER_COMPACTION,
      onCompactionPiece: (characters, file) => file === 'data' && onPiece(characters),
    });
    await db.transactRecords((data, changes) => {
      const record = { id: 'new', userId: 'user7' };
      (data.posts as unknown[]).push(record);
      changes.put('posts', 'id', record);
    });
    const expected = `${JSON.stringify(db.data, null, 2)}\n`;
    await db.close();
    assert.ok(await answeredBefore(), 'the request was answered only after the compaction');
    assert.equal(await readFile(f.dataFile, 'utf8'), expected);
    assertInPieces(pieces, expected.length);
  });

  it('killed (SIGKILL) while it writes db.json in pieces: a restart has every acknowledged write', async () => {
    const f = await files(dirs);
    // The child acknowledges a record write (journaled), then runs a whole-document transaction and kills
    // itself once the new db.json (writeFileAtomically's temp file, named by its pid) has content.
    const child = killedWhileWriting(
      f.dir,
      'db.json',
      `
      await db.transactRecords((data, changes) => {
        const record = { id: 'acknowledged', userId: 'user7' };
        data.posts.push(record);
        changes.put('posts', 'id', record);
      });
      await db.transactDocument((data) => {
        data.posts = data.posts.filter((post) => post.userId !== 'user8');
      });
      console.error('the transaction ended before the kill');
    `,
    );
    assert.deepEqual(await exitOf(child), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(await removeLeftoverTempFiles(f.dataFile), [`.db.json.${child.pid}.tmp`]);

    const db = await FileDatabase.open({ ...f, logger: quiet });
    try {
      const posts = db.data.posts as Array<{ id: unknown; userId: string }>;
      assert.ok(
        posts.some((post) => post.id === 'acknowledged'),
        'the acknowledged record is lost',
      );
      // Not acknowledged, and db.json not replaced: the removal did not happen.
      assert.equal(posts.length, USERS + 1);
    } finally {
      await db.close();
    }
    assert.ok((await readdir(f.dir)).every((name) => !name.endsWith('.journal')));
  });
});
