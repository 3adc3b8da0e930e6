import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { credentialsJournalPathFor } from '../../src/stores/file/credentials-journal.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { journalPathFor } from '../../src/stores/file/record-journal.js';
import { newSession, seed } from '../support/credentials-seed.js';
import { durableCredentials, durableData } from '../support/durable.js';

/**
 * A transaction over the whole of db.json (transactDocument: the data API's DELETE with `_dependent`)
 * was committed as one that may change anything: credentials.json was stringified and hashed whole on
 * the event loop to learn whether it changed (23 MB at 50,000 users), and rewritten whole whenever its
 * journal held lines (it then differs from the file). Such a commit now rewrites db.json only, and
 * the credentials writes of the same commit are journaled. What is checked is the file itself
 * (credentials.json not rewritten, its journal kept), not a time: bench/file-store-stalls.ts has those.
 */
const USERS = 2000;
const quiet = { info() {}, warn() {} };

describe('a whole-document transaction of db.json', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('rewrites db.json only: credentials.json and its journal are left as they were, nothing acknowledged lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-document-transaction-'));
    dirs.push(dir);
    const seeded = seed(USERS);
    const data = JSON.parse(seeded.data) as { users: unknown[] };
    const posts = Array.from({ length: USERS }, (_, i) => ({ id: i, userId: `user${i}` }));
    const f = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    await writeFile(f.dataFile, JSON.stringify({ ...data, posts }));
    await writeFile(f.credentialsFile, seeded.credentials, { mode: 0o600 });
    const db = await FileDatabase.open({ ...f, logger: quiet });
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
      // db.json holds the transaction itself (rewritten), its journal nothing left over.
      const onDisk = JSON.parse(await readFile(f.dataFile, 'utf8')) as { posts: unknown[] };
      assert.equal(onDisk.posts.length, USERS - 1);
      assert.equal(await readFile(journalPathFor(f.dataFile), 'utf8').catch(() => ''), '');

      // What a restart would have: both sign-ins and the removal.
      const sessions = (await durableCredentials(f.credentialsFile)).sessions as Record<string, unknown>;
      assert.ok(sessions.before && sessions.beside, 'an acknowledged sign-in is not durable');
      assert.equal(((await durableData(f.dataFile)).posts as unknown[]).length, USERS - 1);
    } finally {
      await db.close();
    }
  });
});
