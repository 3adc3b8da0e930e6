import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openFileBackendIn } from '../support/file-backend.js';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { readMailQueueFile } from '../support/mail-queue-file.js';

const mail = (to: string) => ({ to, subject: `to ${to}`, text: 'x', html: '<p>x</p>' });

/**
 * The file backend keeps a token and its mails in two files: the mails are
 * written first, held, and released once the token is committed. A crash
 * between the two leaves held mails on disk, exactly as written here; the
 * next start sends those whose token or account committed and drops the
 * others, whose links would open nothing.
 */
describe('file backend: mails a crash left before their token', () => {
  let dir: string;
  const warnings: string[] = [];
  const logger = { info: () => {}, warn: (line: string) => void warnings.push(line) };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-holds-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('sends the held mails whose token or account committed, and drops the others', async () => {
    const first = await openFileBackendIn(dir, { logger });
    const ada = await first.store.createUser(
      { username: 'ada', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
      null,
    );
    const now = new Date();
    const expiresAt = new Date(now.getTime() + 3_600_000);
    const token = {
      codeHash: null,
      userId: ada.id,
      purpose: 'recovery',
      createdAt: now,
      expiresAt,
      data: {},
    };
    await first.store.createOneTimeToken({ ...token, hash: 'committed' });
    await first.close();

    // What the process had written when it died: mails held for a committed token and account, and
    // for a token and an account it never committed.
    const queue = await FileMailQueue.open(join(dir, '.restauth', 'mail-queue.json'));
    const at = Date.now();
    await queue.hold([mail('reset@example.com')], at, { token: 'committed' });
    await queue.hold([mail('welcome@example.com')], at, {
      user: ada.id,
      createdAt: ada.createdAt.toISOString(),
    });
    await queue.hold([mail('lost-reset@example.com')], at, { token: 'never-committed' });
    await queue.hold([mail('lost-welcome@example.com')], at, { user: 'bob', createdAt: now.toISOString() });
    // The dead process's lock went with it.
    await queue.close();

    const second = await openFileBackendIn(dir, { logger });
    try {
      const claimed = await second.outbox.claimDue(Date.now() + 1000, 10, 60_000);
      assert.deepEqual(claimed.map((m) => m.message.to).sort(), ['reset@example.com', 'welcome@example.com']);
      const onDisk = await readMailQueueFile(join(dir, '.restauth', 'mail-queue.json'));
      assert.deepEqual(onDisk.live.map((m) => m.message.to).sort(), [
        'reset@example.com',
        'welcome@example.com',
      ]);
      assert.ok(
        warnings.some((line) => /2 sent now .*, 2 dropped/u.test(line)),
        `one line says what was settled: ${warnings.join(' | ')}`,
      );
    } finally {
      await second.close();
    }
  });
});
