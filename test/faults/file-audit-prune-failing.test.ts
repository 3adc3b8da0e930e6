import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AuditEvent } from '../../src/core/ports/store.js';
import { isStorageFailure } from '../../src/lib/storage-failure.js';
import { AuditFile } from '../../src/stores/file/audit-file.js';
import { fileReadiness } from '../../src/stores/file/readiness.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * The audit log is kept within its retention by an hourly prune, which rewrites the file (a copy,
 * then a rename over it). When that keeps failing while appends still work (the file made
 * append-only, chattr +a; a volume with room for lines but not for the copy), the log outgrew its
 * retention without bound. Now, while prunes fail, it takes events up to twice its size at the failed
 * prune (at least a floor, 64 MiB in the server; smaller here), then refuses them as storage (EFBIG),
 * /ready says `auditLog: full`, and the next prune that succeeds lifts the bound.
 *
 * Real fault: the log lives on a tmpfs and is made append-only (EPERM on the rename, even for root).
 */
const FLOOR = 64 * 1024;

function event(n: number, at: Date): AuditEvent {
  return { id: `e${n}`, at, action: 'sign_in', userId: 'ann', actorId: 'ann', ip: '192.0.2.1', data: {} };
}

describe('an audit log whose prune keeps failing', { skip: tmpfsUnavailable() ?? false }, () => {
  it('grows to its bound, refuses events as storage (/ready: auditLog full), and takes them again once pruned', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-audit-prune-'));
    mountTmpfs(dir, '4m');
    const path = join(dir, 'credentials.audit.jsonl');
    const log = new AuditFile(path, undefined, FLOOR);
    const paths = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    try {
      const old = new Date(Date.UTC(2020, 0, 1));
      for (let n = 0; n < 100; n++) await log.record(event(n, old));
      const before = (await stat(path)).size;

      assert.equal(spawnSync('chattr', ['+a', path]).status, 0);
      await assert.rejects(log.prune(new Date(Date.UTC(2025, 0, 1))), /EPERM|not permitted/);
      assert.equal(log.pruneFailing, true);
      assert.equal(log.full, false);

      // Events still go in, up to the bound, then are refused as storage (507 where a route waits on it).
      const now = new Date(Date.UTC(2026, 0, 1));
      let refusal: unknown = null;
      let taken = 100;
      for (; taken < 10_000 && refusal === null; taken++) {
        await log.record(event(taken, now)).catch((error: unknown) => (refusal = error));
      }
      assert.ok(refusal !== null, 'no event refused');
      assert.ok(isStorageFailure(refusal), String(refusal));
      assert.match(String(refusal), /audit log credentials\.audit\.jsonl has reached .*could not be pruned/);
      const size = (await stat(path)).size;
      assert.ok(size > before && size <= Math.max(FLOOR, 2 * before), `${size} bytes`);
      assert.equal(log.full, true);
      assert.deepEqual(await fileReadiness(paths, { journalsFull: false, auditLog: log }), {
        ready: false,
        checks: { dataFolder: 'ok', auditLog: 'full' },
      });

      // Fixed: the next prune applies the retention, and events are taken again.
      assert.equal(spawnSync('chattr', ['-a', path]).status, 0);
      assert.equal(await log.prune(new Date(Date.UTC(2025, 0, 1))), 100);
      assert.equal(log.pruneFailing, false);
      assert.equal(log.full, false);
      await log.record(event(taken, now));
      const ids = (await readFile(path, 'utf8')).split('\n').filter((line) => line.includes('"id"'));
      assert.ok(ids.every((line) => !line.includes('2020-')));
      assert.deepEqual((await fileReadiness(paths, { journalsFull: false, auditLog: log })).ready, true);
    } finally {
      spawnSync('chattr', ['-a', path]);
      await log.close();
      unmount(dir);
      await rmdir(dir);
    }
  });
});
