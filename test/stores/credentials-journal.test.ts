import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSecret } from '../../src/core/secrets.js';
import { credentialsText } from '../../src/stores/file/credentials-dates.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { newSession, seed } from '../support/credentials-seed.js';
import { durableCredentials } from '../support/durable.js';
import { changeLines } from '../support/journal-lines.js';

/** The in-memory credentials as credentials.json holds them (dates as ISO strings: credentials-dates.ts). */
function asWritten(credentials: Record<string, unknown>): unknown {
  return JSON.parse(credentialsText(credentials));
}

/** credentials.json as a restart would read it (file plus journal), as plain JSON. */
const durable = async (credentialsFile: string) =>
  JSON.parse(JSON.stringify(await durableCredentials(credentialsFile))) as unknown;

const quiet = { info() {}, warn() {} };
/** credentials.json's journal: sessions and tokens acknowledged on appended lines, the file rewritten later. */
describe('FileDatabase journal of credentials writes', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'restauth-credentials-journal-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const files = async (users = 3) => {
    const dir = await mkdtemp(join(root, 'store-'));
    const seeded = seed(users);
    await writeFile(join(dir, 'db.json'), seeded.data);
    await writeFile(join(dir, 'credentials.json'), seeded.credentials, { mode: 0o600 });
    return {
      dir,
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      journal: join(dir, '.credentials.json.journal'),
    };
  };
  const open = async (f: Awaited<ReturnType<typeof files>>, options: { compactAtBytes?: number } = {}) => {
    const warnings: string[] = [];
    const db = await FileDatabase.open({
      ...f,
      logger: { info() {}, warn: (m) => warnings.push(m) },
      ...options,
    });
    const store = new FileStore(db, {
      usersProp: 'users',
      userIdProp: 'id',
    });
    return { db, store, warnings };
  };
  const identity = async (path: string) => {
    const { ino, mtimeMs, size } = await stat(path);
    return { ino, mtimeMs, size };
  };

  it('a sign-in, a refresh and a logout append the same lines at 10 users as at 5,000, and never rewrite a file', async () => {
    const appended: number[][] = [];
    for (const users of [10, 5000]) {
      const f = await files(users);
      const { db, store } = await open(f);
      try {
        const before = { data: await identity(f.dataFile), credentials: await identity(f.credentialsFile) };
        const lines = async () => changeLines(await readFile(f.journal, 'utf8').catch(() => '')).length;
        const counts: number[] = [];
        const now = new Date();
        // A sign-in: lastSignInAt and a new session, as AuthService.signIn writes them.
        await Promise.all([
          store.updateUser('user7', { lastSignInAt: now }),
          store.createSession(newSession('user7', 'signed-in', now)),
        ]);
        counts.push(await lines());
        assert.ok(await store.rotateRefreshToken(hashSecret('first-signed-in'), hashSecret('second'), now));
        counts.push((await lines()) - counts.reduce((a, b) => a + b, 0));
        await store.revokeSession('signed-in', 'logout', now);
        counts.push((await lines()) - counts.reduce((a, b) => a + b, 0));
        appended.push(counts);
        assert.deepEqual(await identity(f.dataFile), before.data, 'db.json was rewritten');
        assert.deepEqual(
          await identity(f.credentialsFile),
          before.credentials,
          'credentials.json was rewritten',
        );
      } finally {
        await db.close();
      }
    }
    // sign-in: the account and the session with its token; refresh: both tokens and the session; logout: the session.
    assert.deepEqual(appended, [
      [3, 3, 1],
      [3, 3, 1],
    ]);
  });

  it('after a crash, open replays every acknowledged change onto credentials.json and removes the journal', async () => {
    const f = await files();
    const { db, store } = await open(f);
    const now = new Date();
    await store.createSession(newSession('user1', 'replayed', now));
    await store.rotateRefreshToken(hashSecret('first-replayed'), hashSecret('rotated'), now);
    await store.revokeUserSessions('user2', null, 'logout', now);
    await store.updateUser('user0', { lastSignInAt: now });
    const memory = asWritten(db.credentials);
    // What a SIGKILL leaves now (every change is acknowledged, none compacted): a copy of the folder.
    const image = await mkdtemp(join(root, 'image-'));
    for (const name of await readdir(f.dir))
      if (!name.endsWith('.lock')) await copyFile(join(f.dir, name), join(image, name));
    await db.close();
    const copy = {
      dir: image,
      dataFile: join(image, 'db.json'),
      credentialsFile: join(image, 'credentials.json'),
      journal: join(image, '.credentials.json.journal'),
    };
    const reopened = await open(copy);
    try {
      assert.deepEqual(asWritten(reopened.db.credentials), memory);
      assert.deepEqual(
        JSON.parse(await readFile(copy.credentialsFile, 'utf8')),
        memory,
        'written to the file',
      );
      await assert.rejects(stat(copy.journal), { code: 'ENOENT' });
      assert.match(
        reopened.warnings.join('\n'),
        /credentials\.json was not closed cleanly; 7 acknowledged write\(s\) replayed from \.credentials\.json\.journal/,
      );
      assert.equal((await reopened.store.findSession('replayed'))?.refreshedAt.getTime(), now.getTime());
      assert.equal((await reopened.store.findSession('s-user2'))?.revokedReason, 'logout');
    } finally {
      await reopened.db.close();
    }
  });

  it('every credentials write of the store survives a crash: the files and journal hold what memory holds', async () => {
    const f = await files(4);
    const { db, store } = await open(f);
    const now = new Date();
    try {
      // Every Store method that writes credentials.json, journaled or not.
      const user = await store.createUser(
        {
          username: 'carol',
          email: 'carol@example.com',
          emailConfirmedAt: null,
          role: null,
          profile: {},
          appMetadata: {},
        },
        'carol-hash',
        { session: newSession('carol', 'carol-first', now) },
      );
      await store.createSession({ ...newSession(user.id, 'carol-second', now), maxPerUser: 1 });
      let token = 'first-carol-second';
      for (let i = 0; i < 25; i++) {
        assert.ok(await store.rotateRefreshToken(hashSecret(token), hashSecret(`carol-${i}`), now));
        token = `carol-${i}`;
      }
      await store.updateUser(user.id, {
        email: 'carol2@example.com',
        emailConfirmedAt: now,
        lastSignInAt: now,
      });
      await store.updateUser('user0', { profile: { bio: 'profile' } });
      await store.revokeSession('s-user1', 'logout', now);
      await store.revokeUserSessions('user2', null, 'logout', now);
      const ott = (hash: string, codeHash: string | null, purpose: string) => ({
        hash,
        codeHash,
        recipient: 'carol2@example.com',
        userId: user.id,
        purpose,
        createdAt: now,
        expiresAt: new Date(now.getTime() + 3600_000),
        data: { n: hash },
      });
      await store.createOneTimeToken(ott('link-1', null, 'recovery'));
      await store.createOneTimeToken(ott('link-2', null, 'recovery'));
      await store.createOneTimeToken(ott('code-token', 'code-1', 'confirmation'));
      assert.equal((await store.consumeOneTimeToken('link-2', 'recovery', now))?.hash, 'link-2');
      const miss = {
        recipient: 'carol2@example.com',
        candidates: [{ purpose: 'confirmation', codeHash: 'x' }],
        now,
        maxFailures: 5,
      };
      assert.equal(await store.consumeOneTimeCode(miss), null);
      await store.createOneTimeToken({ ...ott('code-token-2', 'code-2', 'email_change'), userId: 'user3' });
      assert.ok(
        await store.consumeOneTimeCode({
          ...miss,
          candidates: [{ purpose: 'email_change', codeHash: 'code-2' }],
        }),
      );
      await store.changePassword('user3', 'new-hash', null, now);
      await store.deleteUser('user1');
      await store.pruneSessions(new Date(now.getTime() + 1));
      const memory = asWritten(db.credentials);
      assert.deepEqual(await durable(f.credentialsFile), memory);
    } finally {
      await db.close();
    }
  });

  it('compacts credentials.json once its journal is as large as the file, then starts the journal over', async () => {
    const f = await files(3);
    const fileSize = (await stat(f.credentialsFile)).size;
    const { db, store } = await open(f, { compactAtBytes: 1 });
    try {
      const before = await identity(f.credentialsFile);
      const now = new Date();
      let sessions = 0;
      let journalBefore = 0;
      let rewritten = false;
      while (!rewritten && sessions < 500) {
        journalBefore = (await stat(f.journal).catch(() => null))?.size ?? 0;
        await store.createSession(newSession('user0', `s${sessions++}`, now));
        // The next transaction runs after any compaction the last commit made due.
        await db.transactCredentials(() => undefined);
        rewritten = (await identity(f.credentialsFile)).ino !== before.ino;
      }
      assert.ok(rewritten, 'credentials.json was rewritten');
      assert.ok(sessions > 1 && journalBefore < fileSize, 'not before the journal reached the file size');
      const onDisk = JSON.parse(await readFile(f.credentialsFile, 'utf8')) as {
        sessions: Record<string, unknown>;
      };
      assert.ok(Object.hasOwn(onDisk.sessions, 's0'));
      assert.ok((await stat(f.journal)).size < fileSize, 'the journal started over');
      assert.equal(((await stat(f.credentialsFile)).mode & 0o777).toString(8), '600');
      assert.deepEqual(await durable(f.credentialsFile), asWritten(db.credentials));
    } finally {
      await db.close();
    }
  });

  it('a torn last line (never acknowledged) is dropped; a damaged line before it stops the start naming file and line', async () => {
    const f = await files(1);
    const put = JSON.stringify({ op: 'put', map: 'accounts', key: 'user0', value: { username: 'renamed' } });
    await writeFile(f.journal, `${put}\n{"op":"put","map":"sess`);
    const first = await open(f);
    await first.db.close();
    const onDisk = JSON.parse(await readFile(f.credentialsFile, 'utf8')) as {
      accounts: Record<string, unknown>;
    };
    assert.deepEqual(onDisk.accounts.user0, { username: 'renamed' });
    assert.match(
      first.warnings.join('\n'),
      /1 acknowledged write\(s\) replayed .*half-written last change dropped/,
    );

    await writeFile(f.journal, `${put}\nnot json\n${put}\n`);
    await assert.rejects(FileDatabase.open({ ...f, logger: quiet }), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'EDAMAGED');
      assert.match(error.message, /\.credentials\.json\.journal line 2 is not valid JSON/);
      return true;
    });
    // A line that parses but is no change restauth writes (here one that would reach a prototype).
    await writeFile(
      f.journal,
      `${put}\n${JSON.stringify({ op: 'put', map: '__proto__', key: 'x', value: {} })}\n`,
    );
    await assert.rejects(
      FileDatabase.open({ ...f, logger: quiet }),
      /\.credentials\.json\.journal line 2 is not a change/,
    );
    // Nothing was rewritten: the journal is there for a person to look at.
    assert.match(await readFile(f.journal, 'utf8'), /__proto__/);
    assert.equal(Object.getPrototypeOf({}).x, undefined);
  });
});
