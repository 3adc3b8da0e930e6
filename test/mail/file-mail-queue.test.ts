import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { readMailQueueFile } from '../support/mail-queue-file.js';

const message = (to: string) => ({ to, subject: `to ${to}`, text: 'x', html: '<p>x</p>' });

describe('FileMailQueue', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-mailq-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every enqueued mail on disk, owner-only, readable by a new instance', async () => {
    const path = join(dir, 'state', 'mail-queue.json');
    const queue = new FileMailQueue(path);
    const a = await queue.enqueue(message('a@example.com'), 1000);
    await queue.enqueue(message('b@example.com'), 2000);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(dir, 'state')), ['mail-queue.json'], 'no temp file left behind');
    const reopened = new FileMailQueue(path);
    const pending = (await readMailQueueFile(reopened.path)).live;
    assert.deepEqual(
      pending.map((m) => [m.id, m.message.to, m.attempts, m.nextAttemptAt]),
      [
        [a.id, 'a@example.com', 0, 1000],
        [pending[1]!.id, 'b@example.com', 0, 2000],
      ],
    );
    assert.equal(await reopened.nextDueAt(), 1000);
  });

  it('claims due mails oldest first, leases them, and forgets sent ones', async () => {
    const queue = new FileMailQueue(join(dir, 'claim.json'));
    const late = await queue.enqueue(message('late@example.com'), 500);
    const early = await queue.enqueue(message('early@example.com'), 100);
    await queue.enqueue(message('future@example.com'), 10_000);
    const claimed = await queue.claimDue(1000, 10, 60_000);
    assert.deepEqual(
      claimed.map((m) => m.id),
      [early.id, late.id],
    );
    assert.deepEqual(await queue.claimDue(1000, 10, 60_000), [], 'leased: not claimed twice');
    assert.deepEqual((await queue.claimDue(61_000, 1, 60_000)).length, 1, 'the limit holds; the lease ends');
    await queue.markSent(early.id);
    await queue.markSent('unknown-id');
    const reopened = new FileMailQueue(join(dir, 'claim.json'));
    assert.deepEqual((await readMailQueueFile(reopened.path)).live.map((m) => m.message.to).sort(), [
      'future@example.com',
      'late@example.com',
    ]);
  });

  it('counts failures, and a dead mail is kept but never claimed again', async () => {
    const queue = new FileMailQueue(join(dir, 'dead.json'));
    const mail = await queue.enqueue(message('dead@example.com'), 0);
    await queue.claimDue(0, 10, 1000);
    await queue.markFailed(mail.id, '451 later', 5000);
    let [pending] = (await readMailQueueFile(queue.path)).live;
    assert.deepEqual([pending!.attempts, pending!.lastError, pending!.nextAttemptAt], [1, '451 later', 5000]);
    await queue.markFailed(mail.id, '550 no such user', null);
    const reopened = new FileMailQueue(join(dir, 'dead.json'));
    assert.deepEqual(await reopened.claimDue(Number.MAX_SAFE_INTEGER, 10, 1), []);
    assert.equal(await reopened.nextDueAt(), null);
    [pending] = (await readMailQueueFile(reopened.path)).dead;
    assert.deepEqual([pending!.id, pending!.attempts, pending!.lastError], [mail.id, 2, '550 no such user']);
  });

  it('keeps only the newest 100 dead mails', async () => {
    const queue = new FileMailQueue(join(dir, 'many-dead.json'));
    for (let i = 0; i < 102; i++) {
      const mail = await queue.enqueue(message(`d${i}@example.com`), 0);
      await queue.markFailed(mail.id, 'no', null);
    }
    const dead = (await readMailQueueFile(join(dir, 'many-dead.json'))).dead;
    assert.equal(dead.length, 100);
    assert.deepEqual([dead[0]!.message.to, dead[99]!.message.to], ['d2@example.com', 'd101@example.com']);
  });

  it('reads the first format (a bare array)', async () => {
    const path = join(dir, 'legacy.json');
    const old = [
      { id: 'x1', message: message('old@example.com'), attempts: 2, nextAttemptAt: 7, lastError: 'e' },
    ];
    await writeFile(path, JSON.stringify(old));
    const queue = new FileMailQueue(path);
    assert.deepEqual(
      (await queue.claimDue(10, 5, 100)).map((m) => [m.id, m.attempts]),
      [['x1', 2]],
    );
    assert.equal(JSON.parse(await readFile(path, 'utf8')).version, 1, 'rewritten in the current format');
  });

  it('refuses a damaged file and never overwrites it', async () => {
    for (const [file, content] of [
      ['broken.json', '{"version": 1, "mails": [{"id": "'],
      ['foreign.json', '{"users": []}'],
    ] as const) {
      const path = join(dir, file);
      await writeFile(path, content);
      const queue = new FileMailQueue(path);
      await assert.rejects(
        queue.enqueue(message('x@example.com'), 0),
        new RegExp(`mail queue ${path}.*fix or move it`),
      );
      await assert.rejects(queue.claimDue(0, 1, 1), /fix or move it/);
      assert.equal(await readFile(path, 'utf8'), content);
    }
  });
});
