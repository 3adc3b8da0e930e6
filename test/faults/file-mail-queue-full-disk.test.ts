import assert from 'node:assert/strict';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { readMailQueueFile } from '../support/mail-queue-file.js';
import { fillUp, mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

const mail = (to: string) => ({ to, subject: `to ${to}`, text: 'x', html: '<p>x</p>' });
const LEASE_MS = 60_000;

/**
 * The file mail queue on a real tmpfs that fills up: a write the disk refuses undoes only its own
 * change. What the queue keeps in memory only (a held mail released once its token committed)
 * survives the failure: reading the file back instead left that mail held, never sent until a
 * restart, although its reset link worked.
 */
describe('the file mail queue on a full disk', { skip: tmpfsUnavailable() ?? false }, () => {
  let dir: string;
  let queue: FileMailQueue;
  const filler = () => join(dir, 'filler');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-queue-full-'));
    mountTmpfs(dir, '512k');
    queue = await FileMailQueue.open(join(dir, 'mail-queue.json'));
  });
  after(async () => {
    await rm(filler(), { force: true });
    await queue?.close();
    unmount(dir);
    await rmdir(dir);
  });

  it('keeps a released mail due, and refuses only the write that failed', async () => {
    const now = Date.now();
    const [released] = await queue.hold([mail('reset@example.com')], now, { token: 'committed' });
    await queue.release([released!]);

    await fillUp(filler());
    await assert.rejects(queue.enqueue(mail('refused@example.com'), now), { code: 'ENOSPC' });
    // A claim writes its lease: refused too, and it leaves the mail unclaimed, not leased in memory.
    await assert.rejects(queue.claimDue(now, 10, LEASE_MS), { code: 'ENOSPC' });
    assert.equal(await queue.depth(), 1, 'the released mail, not the refused one');

    await rm(filler());
    const claimed = await queue.claimDue(now, 10, LEASE_MS);
    assert.deepEqual(
      claimed.map((claim) => [claim.id, claim.message.to]),
      [[released, 'reset@example.com']],
    );
    const onDisk = await readMailQueueFile(join(dir, 'mail-queue.json'));
    assert.deepEqual(
      onDisk.live.map((stored) => stored.message.to),
      ['reset@example.com'],
      'the refused mail was never written',
    );
  });
});
