import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isStorageFailure } from '../../src/lib/storage-failure.js';
import { AuditFile, auditLineText } from '../../src/stores/file/audit-file.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { newSession, seed } from '../support/credentials-seed.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * The disk fills up in the middle of the two jobs that now write a whole file in slices: the
 * compaction of credentials.json (in pieces) and the audit prune (read and written a slice at a
 * time). Each must fail as storage (ENOSPC), leave the file it was replacing byte for byte as it was
 * and no temp file behind, and lose no acknowledged write: the journal keeps the compaction's, the
 * log the prune's and those journaled while it ran. Real fault: a tmpfs filled by a filler file,
 * leaving room for appends but not for the copy.
 */
const skip = tmpfsUnavailable() ?? false;

async function onTmpfs(size: string, work: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-disk-full-slices-'));
  mountTmpfs(dir, size);
  try {
    await work(dir);
  } finally {
    // Lazily if a failed test left a file of it open: no mount outlives the test.
    try {
      unmount(dir);
    } catch {
      execFileSync('umount', ['-l', dir]);
    }
    await rmdir(dir);
  }
}

/** The files of `dir` this process holds open (its descriptors' targets). */
async function openIn(dir: string): Promise<string[]> {
  const targets = await Promise.all(
    (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  );
  return targets.filter((target) => target.startsWith(`${dir}/`));
}

/** Fills the volume with `filler`, then frees `room` bytes of it: room for appends, not for a copy. */
async function fill(filler: string, room: number): Promise<void> {
  const handle = await open(filler, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  let size = 0;
  try {
    for (;;) {
      const { bytesWritten } = await handle.write(block);
      size += bytesWritten;
      if (bytesWritten < block.length) break;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  await handle.truncate(Math.max(0, size - room));
  await handle.close();
}

const leftovers = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.tmp'));

describe('a disk that fills up during a sliced rewrite', { skip }, () => {
  it('a compaction of credentials.json: fails as storage, the file and journal kept, a restart has every write', async () => {
    await onTmpfs('6m', async (dir) => {
      const seeded = seed(3000);
      const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
      await writeFile(files.dataFile, seeded.data);
      await writeFile(files.credentialsFile, seeded.credentials, { mode: 0o600 });
      let pieces = 0;
      const db = await FileDatabase.open({
        ...files,
        logger: { info() {}, warn() {} },
        onCompactionPiece: () => pieces++,
      });
      const store = new FileStore(db, { usersProp: 'users', userIdProp: 'id' });
      await store.createSession(newSession('user7', 'acknowledged', new Date()));
      const before = await readFile(files.credentialsFile);
      await fill(join(dir, 'filler'), 256 * 1024);

      // At close the journal is compacted: the copy runs out of room some pieces in.
      const failure = await db.close().then(
        () => null,
        (error: unknown) => error,
      );
      assert.ok(isStorageFailure(failure), String(failure));
      assert.ok(pieces > 0, 'failed before writing a piece: not the sliced path');
      assert.deepEqual(await readFile(files.credentialsFile), before);
      assert.deepEqual(await leftovers(dir), []);
      // The close failed, yet released what it held: the journal it left is closed, not leaked.
      assert.deepEqual(await openIn(dir), []);

      await rm(join(dir, 'filler'));
      const reopened = await FileDatabase.open({ ...files, logger: { info() {}, warn() {} } });
      try {
        const sessions = reopened.credentials.sessions as Record<string, { userId: string }>;
        assert.equal(sessions.acknowledged?.userId, 'user7');
      } finally {
        await reopened.close();
      }
    });
  });

  it('an audit prune: fails as storage, the log kept as it was, events journaled meanwhile written after', async () => {
    await onTmpfs('4m', async (dir) => {
      const path = join(dir, 'credentials.audit.jsonl');
      const event = (n: number, at: number) =>
        auditLineText({
          id: `e${n}`,
          at: new Date(at),
          action: 'login',
          actorId: null,
          userId: null,
          ip: null,
          data: {},
        });
      const events = 12_000;
      const lines = Array.from({ length: events }, (_, n) =>
        event(n, n < events / 2 ? Date.UTC(2020, 0, 1) : Date.UTC(2026, 0, 1)),
      );
      await writeFile(path, lines.join(''), { mode: 0o600 });
      const before = await readFile(path);
      await fill(join(dir, 'filler'), 64 * 1024);

      let slices = 0;
      const log = new AuditFile(path, undefined, undefined, {
        // A sign-in's event, durable in the credentials journal, handed over while the prune runs.
        onSlice: () => log.journaled([event(events + slices++, Date.UTC(2026, 0, 2))]),
      });
      try {
        const failure = await log.prune(new Date(Date.UTC(2025, 0, 1))).then(
          () => null,
          (error: unknown) => error,
        );
        assert.ok(isStorageFailure(failure), String(failure));
        assert.equal(log.pruneFailing, true);
        assert.deepEqual(await readFile(path), before);
        assert.deepEqual(await leftovers(dir), []);

        // The events handed over meanwhile are still to be written: they go in once there is room.
        await rm(join(dir, 'filler'));
        await log.sync();
        const text = await readFile(path, 'utf8');
        for (let n = events; n < events + slices; n++) assert.ok(text.includes(`"id":"e${n}"`), `e${n} lost`);
        assert.equal(await log.prune(new Date(Date.UTC(2025, 0, 1))), events / 2);
        assert.equal(log.pruneFailing, false);
      } finally {
        await log.close();
      }
    });
  });
});
