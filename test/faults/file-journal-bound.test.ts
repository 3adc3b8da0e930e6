import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isAuthError } from '../../src/core/errors.js';
import { hashSecret } from '../../src/core/secrets.js';
import { isStorageFailure } from '../../src/lib/storage-failure.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { fileReadiness } from '../../src/stores/file/readiness.js';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * A journal is emptied only once its file is rewritten with it (and, for credentials.json's, once
 * its sign-ins' audit events are in the audit log). When that keeps failing while appends still
 * work (an audit log or a db.json made immutable; a volume with room for lines, not for a copy),
 * the journal took every write and grew without bound, and every commit rewrote the file again.
 * Now it takes writes up to four times its compaction point, then refuses them as storage (507),
 * /ready says `journals: full`, and once the file can be written the next retry empties it.
 *
 * Real faults: the files live on a tmpfs and are made immutable (chattr +i: EPERM even for root).
 */
const COMPACT_AT = 16 * 1024;
/** JOURNAL_CAP_FACTOR in file-database.ts. */
const CAP = 4 * COMPACT_AT;

const skip = tmpfsUnavailable() ?? false;

async function onTmpfs<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-journal-bound-'));
  mountTmpfs(dir, '8m');
  try {
    return await work(dir);
  } finally {
    // Whatever a failed assertion left immutable would stop the unmount's clean-up.
    spawnSync('chattr', ['-R', '-i', dir]);
    unmount(dir);
    await rmdir(dir);
  }
}

function chattr(flag: '+i' | '-i', path: string): void {
  assert.equal(spawnSync('chattr', [flag, path]).status, 0, `chattr ${flag} ${path}`);
}

async function open(dir: string) {
  const warnings: string[] = [];
  let compacted: () => void = () => {};
  let writeFailed: () => void = () => {};
  const db = await FileDatabase.open({
    dataFile: join(dir, 'db.json'),
    credentialsFile: join(dir, 'credentials.json'),
    logger: { info() {}, warn: (message) => warnings.push(message) },
    compactAtBytes: COMPACT_AT,
    onCompacted: () => compacted(),
    onWriteFailed: () => writeFailed(),
  });
  const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
  /** Resolves at the next successful compaction (the retry, every second, after the fault is gone). */
  const nextCompaction = () =>
    new Promise<void>((resolve) => {
      // The retry's timer is unref'd (a server keeps the process alive; a test must).
      const alive = setInterval(() => {}, 1000);
      compacted = () => {
        clearInterval(alive);
        compacted = () => {};
        resolve();
      };
    });
  /** Resolves once `count` more commits or compactions have failed (the retries, every second). */
  const failures = (count: number) =>
    new Promise<void>((resolve) => {
      const alive = setInterval(() => {}, 1000);
      let left = count;
      writeFailed = () => {
        if (--left > 0) return;
        clearInterval(alive);
        writeFailed = () => {};
        resolve();
      };
    });
  return { db, store, warnings, nextCompaction, failures };
}

function signInAs(store: FileStore, n: number) {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, n));
  return store.openSignIn({
    lastSignInAt: at,
    session: {
      id: `s${n}`,
      userId: 'ann',
      createdAt: at,
      notAfter: new Date(at.getTime() + 3_600_000),
      refreshSecret: `secret${n}`,
      firstRefreshTokenHash: hashSecret(`t${n}`),
      maxPerUser: 3,
    },
    audit: { id: `e${n}`, at, action: 'sign_in', userId: 'ann', actorId: 'ann', ip: null, data: {} },
    provenHash: 'hash',
  });
}

async function seed(dir: string): Promise<void> {
  const at = new Date(0).toISOString();
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'ann', bio: '' }] }));
  await writeFile(
    join(dir, 'credentials.json'),
    JSON.stringify({
      passwords: [{ sub: 'ann', password: 'hash' }],
      accounts: {
        ann: {
          username: 'ann',
          email: null,
          emailConfirmedAt: at,
          role: null,
          tokenVersion: 0,
          appMetadata: {},
          createdAt: at,
          updatedAt: at,
          lastSignInAt: null,
        },
      },
    }),
    { mode: 0o600 },
  );
}

/** Runs `write` until it is refused; returns how many were acknowledged and the refusal. */
async function writeUntilRefused(write: (n: number) => Promise<unknown>, most: number) {
  for (let n = 0; n < most; n++) {
    try {
      await write(n);
    } catch (error) {
      return { acknowledged: n, refusal: error };
    }
  }
  return { acknowledged: most, refusal: null };
}

const size = async (path: string) => (await stat(path).catch(() => null))?.size ?? 0;

describe('a journal whose compaction keeps failing', { skip }, () => {
  it('an audit log that cannot be written: the credentials journal stops at its bound (507, /ready full), and is emptied into it once it can be', async () => {
    await onTmpfs(async (dir) => {
      await seed(dir);
      const audit = join(dir, 'credentials.audit.jsonl');
      await writeFile(audit, '', { mode: 0o600 });
      const { db, store, warnings, nextCompaction } = await open(dir);
      try {
        chattr('+i', audit);
        const signIn = (n: number) => signInAs(store, n);
        const { acknowledged, refusal } = await writeUntilRefused(signIn, 2000);
        assert.ok(refusal !== null, `${acknowledged} sign-ins taken, none refused`);
        // Refused as storage (507 insufficient_storage with Retry-After, as a full disk).
        assert.ok(isStorageFailure(refusal), String(refusal));
        assert.match(
          String(refusal),
          /credentials\.json\.journal has reached .*audit log credentials\.audit\.jsonl cannot be written/,
        );
        const journal = join(dir, '.credentials.json.journal');
        // At its bound, plus at most the one commit that crossed it.
        assert.ok((await size(journal)) < CAP + 2048, `journal ${await size(journal)} bytes`);
        assert.deepEqual(
          await fileReadiness(
            { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') },
            db,
          ),
          {
            ready: false,
            checks: { dataFolder: 'ok', journals: 'full' },
          },
        );
        await assert.rejects(
          store.assertWritable(),
          (error) => isAuthError(error) && error.code === 'insufficient_storage',
        );
        // Logged once for the burst (at most once a minute), not at every commit.
        const compactionWarnings = warnings.filter((line) => line.includes('up to date with its journal'));
        assert.equal(compactionWarnings.length, 1, warnings.join('\n'));
        // So are the refused writes: once, not once each.
        for (let n = 1; n <= 5; n++) await assert.rejects(signIn(acknowledged + n), isStorageFailure);
        assert.equal(warnings.filter((line) => line.includes('write failed')).length, 1, warnings.join('\n'));
        assert.match(
          compactionWarnings[0]!,
          /credentials\.audit\.jsonl cannot be written.*writes are refused \(507\)/s,
        );

        const compacted = nextCompaction();
        chattr('-i', audit);
        await compacted;
        assert.equal(await size(journal), 0);
        assert.equal(db.journalsFull, false);
        await store.assertWritable();
        await signIn(acknowledged + 6);
        // Every acknowledged sign-in's event reached the audit log, once.
        const ids = (await readFile(audit, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((line) => (JSON.parse(line) as { id: string }).id);
        for (let n = 0; n < acknowledged; n++) assert.ok(ids.includes(`e${n}`), `e${n} missing`);
        assert.equal(new Set(ids).size, ids.length);
      } finally {
        spawnSync('chattr', ['-i', audit]);
        await db.close();
      }
    });
  });

  it('a db.json that cannot be rewritten: its journal stops at its bound, and the acknowledged writes are all in db.json once it can be', async () => {
    await onTmpfs(async (dir) => {
      await seed(dir);
      const dataFile = join(dir, 'db.json');
      const { db, store, warnings, nextCompaction } = await open(dir);
      let acknowledged = 0;
      try {
        // The rename over an immutable file fails (EPERM); the journal beside it takes appends.
        chattr('+i', dataFile);
        const edit = (n: number) =>
          store.updateUser('ann', { profile: { bio: `edit ${n} ${'x'.repeat(200)}` } });
        const result = await writeUntilRefused(edit, 5000);
        acknowledged = result.acknowledged;
        assert.ok(result.refusal !== null, `${acknowledged} edits taken, none refused`);
        assert.ok(isStorageFailure(result.refusal), String(result.refusal));
        assert.match(String(result.refusal), /\.json\.journal has reached/);
        for (const journal of ['.db.json.journal', '.credentials.json.journal'])
          assert.ok(
            (await size(join(dir, journal))) < CAP + 2048,
            `${journal}: ${await size(join(dir, journal))} bytes`,
          );
        assert.equal(db.journalsFull, true);
        assert.equal(
          warnings.filter((line) => line.includes('up to date with its journal')).length,
          1,
          warnings.join('\n'),
        );

        const compacted = nextCompaction();
        chattr('-i', dataFile);
        await compacted;
        assert.equal(await size(join(dir, '.db.json.journal')), 0);
        assert.equal(db.journalsFull, false);
        await edit(acknowledged);
      } finally {
        spawnSync('chattr', ['-i', dataFile]);
        await db.close();
      }
      const users = (JSON.parse(await readFile(dataFile, 'utf8')) as { users: Array<{ bio: string }> }).users;
      assert.match(users[0]!.bio, new RegExp(`^edit ${acknowledged} `));
    });
  });
});

describe('a compaction retried while db.json cannot be rewritten', { skip }, () => {
  it('retries db.json alone: credentials.json is neither rewritten nor put back at each retry', async () => {
    await onTmpfs(async (dir) => {
      await seed(dir);
      const dataFile = join(dir, 'db.json');
      const credentialsFile = join(dir, 'credentials.json');
      const { db, store, failures, nextCompaction } = await open(dir);
      try {
        chattr('+i', dataFile);
        // A sign-in journals credentials (and its audit event); a profile edit journals db.json,
        // whose compaction (due 0.2 s later) then fails, and is retried every second.
        await signInAs(store, 1);
        const failing = failures(4);
        await store.updateUser('ann', { profile: { bio: 'while db.json is immutable' } });
        await failing;
        // The first failure may have brought credentials.json up to date (it can be written);
        // the three retries after it, each a second apart, did not write it again.
        const settled = await stat(credentialsFile);
        const retried = failures(3);
        await retried;
        const after = await stat(credentialsFile);
        assert.equal(after.ino, settled.ino, 'credentials.json was replaced by a retry of db.json');
        assert.equal(after.mtimeMs, settled.mtimeMs);

        const compacted = nextCompaction();
        chattr('-i', dataFile);
        await compacted;
        assert.equal(await size(join(dir, '.db.json.journal')), 0);
        assert.equal(db.journalsFull, false);
      } finally {
        spawnSync('chattr', ['-i', dataFile]);
        await db.close();
      }
      const data = JSON.parse(await readFile(dataFile, 'utf8')) as { users: Array<{ bio: string }> };
      assert.equal(data.users[0]!.bio, 'while db.json is immutable');
      const credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as {
        sessions?: Record<string, unknown>;
      };
      assert.ok(JSON.stringify(credentials).includes('"s1"'), 'the sign-in is in credentials.json');
    });
  });
});

describe('the metrics of a compaction that keeps failing', { skip }, () => {
  it('a scrape shows the failing compaction, its failures, the journals growing, then full, then all clear', async () => {
    await onTmpfs(async (dir) => {
      await seed(dir);
      const dataFile = join(dir, 'db.json');
      const { db, store, failures, nextCompaction } = await open(dir);
      const outbox = await FileMailQueue.open(join(dir, 'state', 'mail-queue.json'));
      const metrics = new Metrics();
      metrics.watchBackend(outbox, { journals: () => db.journalState });
      const scrape = async () => {
        const { body } = await metrics.scrape();
        const value = (series: string) => {
          const line = body.split('\n').find((candidate) => candidate.startsWith(`${series} `));
          assert.ok(line, `${series} in the scrape`);
          return Number(line.slice(series.length + 1));
        };
        return {
          failing: value('restauth_file_compaction_failing'),
          failures: value('restauth_file_compaction_failures_total'),
          full: value('restauth_file_journals_full'),
          dataBytes: value('restauth_file_journal_bytes{journal="data"}'),
        };
      };
      try {
        assert.deepEqual(await scrape(), { failing: 0, failures: 0, full: 0, dataBytes: 0 });
        chattr('+i', dataFile);
        const failed = failures(1);
        await store.updateUser('ann', { profile: { bio: 'first' } });
        await failed;
        const failing = await scrape();
        assert.equal(failing.failing, 1);
        assert.equal(failing.failures, 1);
        assert.equal(failing.full, 0);
        assert.ok(failing.dataBytes > 0);

        const edit = (n: number) =>
          store.updateUser('ann', { profile: { bio: `edit ${n} ${'x'.repeat(200)}` } });
        const { refusal } = await writeUntilRefused(edit, 5000);
        assert.ok(isStorageFailure(refusal), String(refusal));
        const full = await scrape();
        assert.equal(full.full, 1);
        assert.ok(full.dataBytes >= CAP, `${full.dataBytes} bytes`);

        const compacted = nextCompaction();
        chattr('-i', dataFile);
        await compacted;
        const clear = await scrape();
        assert.equal(clear.failing, 0);
        assert.equal(clear.full, 0);
        assert.equal(clear.dataBytes, 0);
        // A counter: the failures stay counted.
        assert.ok(clear.failures >= failing.failures);
      } finally {
        spawnSync('chattr', ['-i', dataFile]);
        await db.close();
        // Its lock file is open until then: the folder could not be unmounted.
        await outbox.close();
      }
    });
  });
});

describe('db.json saved with an edit that is not valid JSON (json-server --watch)', () => {
  it('its journal takes writes up to its bound, then refuses them, and is folded in once the file is saved valid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-journal-bound-edit-'));
    const dataFile = join(dir, 'db.json');
    await writeFile(dataFile, JSON.stringify({ posts: [] }));
    const warnings: string[] = [];
    const db = await FileDatabase.open({
      dataFile,
      credentialsFile: join(dir, 'credentials.json'),
      logger: { info() {}, warn: (message) => warnings.push(message) },
      compactAtBytes: COMPACT_AT,
      adoptEdits: true,
    });
    let acknowledged = 0;
    try {
      const post = (n: number) =>
        db.transactRecords((data, changes) => {
          const record = { id: n, title: `post ${n} ${'x'.repeat(200)}` };
          (data.posts as unknown[]).push(record);
          changes.put('posts', 'id', record);
        });
      // An editor's half-saved file: held, not applied, and not overwritten by a compaction.
      await writeFile(dataFile, '{"posts": [');
      const result = await writeUntilRefused((n) => post(n + 1), 5000);
      acknowledged = result.acknowledged;
      assert.ok(result.refusal !== null, `${acknowledged} writes taken, none refused`);
      assert.ok(isStorageFailure(result.refusal), String(result.refusal));
      assert.match(String(result.refusal), /db\.json\.journal has reached .*not valid JSON/);
      assert.ok((await size(join(dir, '.db.json.journal'))) < CAP + 2048);
      assert.equal(await readFile(dataFile, 'utf8'), '{"posts": [');
      assert.equal(db.journalsFull, true);

      // Saved valid: the next write applies it, with the journal's writes on top, and empties the journal.
      await writeFile(dataFile, JSON.stringify({ posts: [], comments: [{ id: 1 }] }));
      await post(acknowledged + 1);
      assert.equal(db.journalsFull, false);
      assert.ok(
        warnings.some((line) => /not valid JSON/.test(line)),
        warnings.join('\n'),
      );
    } finally {
      await db.close();
    }
    const saved = JSON.parse(await readFile(dataFile, 'utf8')) as { posts: unknown[]; comments: unknown[] };
    // The acknowledged ones and the one after: none lost; the hand edit's collection kept.
    assert.equal(saved.posts.length, acknowledged + 1);
    assert.deepEqual(saved.comments, [{ id: 1 }]);
    await rm(dir, { recursive: true, force: true });
  });
});
