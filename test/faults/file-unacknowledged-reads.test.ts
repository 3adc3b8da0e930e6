import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { snapshotOnKey } from '../../src/cli/snapshots.js';
import { isStorageFailure } from '../../src/lib/storage-failure.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { seed } from '../support/credentials-seed.js';
import { fillUp, mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * A commit changes memory first and writes after: from its first change to the disk's answer, memory
 * held writes a full disk then undid, and a read meanwhile answered them (a password a failed change
 * did not keep let a sign-in in; a record a POST answered 507 for was served). Reads now wait out a
 * commit under way (FileDatabase.settled) and see only what was acknowledged. Each read here is issued
 * at the store's own signal that the commit is between its change and its answer (a change told to
 * readers, a piece of db.json written), on a real tmpfs that is full.
 */
const quiet = { info() {}, warn() {} };

describe(
  'reads while a commit a full disk refuses is under way',
  { skip: tmpfsUnavailable() ?? false },
  () => {
    const mounts: string[] = [];
    const apps: TestApp[] = [];
    after(async () => {
      for (const app of apps) await app.close().catch(() => {});
      for (const dir of mounts) {
        unmount(dir);
        await rmdir(dir);
      }
    });

    async function tmpfs(size: string): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-unacknowledged-'));
      mountTmpfs(dir, size);
      mounts.push(dir);
      return dir;
    }

    async function openOn(dir: string, users: number, extra: Record<string, unknown> = {}) {
      const seeded = seed(users);
      const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
      await writeFile(files.dataFile, JSON.stringify({ ...JSON.parse(seeded.data), ...extra }));
      await writeFile(files.credentialsFile, seeded.credentials, { mode: 0o600 });
      return files;
    }

    const posts = Array.from({ length: 5000 }, (_, i) => ({ id: i, title: `post ${i}` }));

    /** 3,000 users and 5,000 posts on a tmpfs; `onDataPiece` is told after each piece of db.json written. */
    async function withPosts(onDataPiece: () => void): Promise<{ dir: string; db: FileDatabase }> {
      const dir = await tmpfs('8m');
      const files = await openOn(dir, 3000, { posts });
      const db = await FileDatabase.open({
        ...files,
        logger: quiet,
        // Between two pieces, the next not yet asked for: the commit is under way.
        onCompactionPiece: (_characters, file) => file === 'data' && onDataPiece(),
      });
      return { dir, db };
    }

    /** A whole-document commit as large as db.json: its copy needs as much room as the file. */
    const retitle = (db: FileDatabase) =>
      db.transactDocument((data) => {
        data.posts = posts.map((post) => ({ ...post, title: 'retitled' }));
      });

    it('a password change (credentials journal): a sign-in looking up the password meanwhile finds the old one', async () => {
      const dir = await tmpfs('1m');
      const files = await openOn(dir, 3);
      const db = await FileDatabase.open({ ...files, logger: quiet });
      try {
        const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
        const before = await store.getPasswordHash('user1');
        const lookups: Array<Promise<string | null>> = [];
        // Told synchronously as the second transaction of the commit runs: after the password changed in
        // memory, before the journal's write is answered.
        db.onChange(() => lookups.push(store.getPasswordHash('user1')));
        await fillUp(join(dir, 'filler'));

        const change = store.replacePasswordHash('user1', 'the new hash', before);
        const marker = db.transactRecords((data, changes) => {
          data.marker = 1;
          changes.set('marker', 1);
        });
        const outcomes = await Promise.allSettled([change, marker]);
        for (const outcome of outcomes) {
          assert.equal(outcome.status, 'rejected');
          assert.ok(isStorageFailure(outcome.reason), String(outcome.reason));
        }
        assert.equal(lookups.length, 1, 'the read was issued inside the commit');
        assert.equal(
          await lookups[0],
          before,
          'the lookup found the password the failed change did not keep',
        );
        assert.equal(await store.getPasswordHash('user1'), before);
      } finally {
        await rm(join(dir, 'filler'), { force: true });
        await db.close();
      }
    });

    it('a whole-document commit written in pieces: a read between the pieces sees the document as acknowledged', async () => {
      const reads: Array<Promise<string>> = [];
      const { dir, db } = await withPosts(() => {
        if (reads.length > 0) return;
        reads.push(db.settled().then(() => (db.data.posts as Array<{ title: string }>)[0]!.title));
      });
      try {
        // Room for a few pieces of the copy, not for the whole of it.
        await fillUp(join(dir, 'filler'), 256 * 1024);
        await assert.rejects(retitle(db), (error: unknown) => isStorageFailure(error));
        assert.equal(reads.length, 1, 'a piece was written before the disk was full');
        assert.equal(await reads[0], 'post 0', 'the read saw a title the failed commit did not keep');
        assert.equal((db.data.posts as Array<{ title: string }>)[0]!.title, 'post 0');
      } finally {
        await rm(join(dir, 'filler'), { force: true });
        await db.close();
      }
    });

    it("a read of the other file does not wait: a session lookup is answered between db.json's pieces", async () => {
      let pieces = 0;
      let lookup: Promise<number> | null = null;
      const { db } = await withPosts(() => {
        pieces++;
        // The pieces written when the lookup is answered: a commit of db.json alone holds no session.
        lookup ??= store.findSession('s-user1').then((session) => {
          assert.equal(session?.userId, 'user1');
          return pieces;
        });
      });
      const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
      try {
        await retitle(db);
        assert.ok(pieces > 2, `db.json in ${pieces} pieces`);
        assert.equal(await lookup, 1, 'the lookup waited for the rewrite of db.json');
      } finally {
        await db.close();
      }
    });

    /**
     * An app on a full tmpfs and a POST /posts it refuses (507): `duringCommit`, made once the app is up,
     * is told with the record as the POST's transaction puts it, so what it asks for is read during the
     * commit. The filler is removed once the POST is answered.
     */
    async function refusedPost(during: (t: TestApp) => (id: unknown) => void): Promise<void> {
      const dir = await tmpfs('2m');
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [] }));
      const t = await createTestApp({ format: 'json-data-server', config: { rules: { posts: 777 } }, dir });
      apps.push(t);
      const duringCommit = during(t);
      t.services.documents!.onChange((change) => {
        if (change.op === 'put' && change.collection === 'posts') duringCommit(change.record.id);
      });
      await fillUp(join(dir, 'filler'));
      try {
        const post = await t.app.inject({ method: 'POST', url: '/posts', payload: { title: 'refused' } });
        assert.equal(post.statusCode, 507, post.body);
      } finally {
        await rm(join(dir, 'filler'), { force: true });
      }
    }

    type Answer = Promise<{ statusCode: number; body: string }>;

    it('the data API: a GET sent while a POST is being refused does not answer the record refused', async () => {
      const gets: Answer[] = [];
      await refusedPost(
        (t) => (id) => gets.push(t.app.inject({ method: 'GET', url: `/posts/${String(id)}` })),
      );
      assert.equal(gets.length, 1, 'the GET was sent inside the commit');
      const get = await gets[0]!;
      assert.equal(get.statusCode, 404, `the refused record was served: ${get.body}`);
    });

    it('a snapshot (s + Enter) taken while a POST is being refused does not hold the record refused', async () => {
      // Snapshots go to a folder that has room: only db.json's commit is refused.
      const snapshots = await mkdtemp(join(tmpdir(), 'restauth-unacknowledged-snapshots-'));
      try {
        const said: string[] = [];
        let saved: () => void = () => {};
        const savedOnce = new Promise<void>((resolve) => (saved = resolve));
        await refusedPost((t) => {
          const keys = new PassThrough();
          snapshotOnKey(
            keys,
            snapshots,
            t.services.documents!,
            (line) => {
              said.push(line);
              saved();
            },
            join(t.dir, 'db.json'),
          );
          return () => keys.write('s\n');
        });
        await savedOnce;
        assert.match(said[0]!, /saved snapshot to/u);
        const [file] = await readdir(snapshots);
        const snapshot = JSON.parse(await readFile(join(snapshots, file!), 'utf8')) as { posts: unknown[] };
        assert.deepEqual(snapshot.posts, [], 'the snapshot holds the record the disk refused');
      } finally {
        await rm(snapshots, { recursive: true, force: true });
      }
    });

    it('the home page: GET / sent while a POST is being refused does not count the record refused', async () => {
      const pages: Answer[] = [];
      await refusedPost((t) => () => pages.push(t.app.inject({ method: 'GET', url: '/' })));
      assert.equal(pages.length, 1, 'the home page was asked for inside the commit');
      const page = await pages[0]!;
      assert.equal(page.statusCode, 200);
      assert.match(
        page.body,
        /<a href="\/posts">\/posts<\/a> <sup>0x<\/sup>/,
        'the refused record was counted',
      );
    });
  },
);
