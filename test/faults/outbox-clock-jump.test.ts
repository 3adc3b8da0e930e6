import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import type { MailOutboxStore } from '../../src/core/ports/outbox.js';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { MailWorker } from '../../src/mail/worker.js';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { openPostgresPool } from '../../src/stores/postgres/index.js';
import { PostgresMailQueue } from '../../src/stores/postgres/outbox.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../support/postgres.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * The wall clock is set back (an NTP step after the host ran fast, a VM restored) while mails wait
 * in the outbox: a lease taken by a worker that then died, and a retry scheduled after a failed
 * send, are dated ahead of the new now. Each waited the whole jump (a day here) before its mail
 * went out: a confirmation or a reset link a day late. A mail dated further ahead than any lease
 * or retry can be is due at once; a lease another live instance holds now is not taken. Over real
 * SMTP, on both outboxes, with the worker's clock injected.
 */
const DAY = 24 * 3600 * 1000;
const quiet = { info: () => {}, warn: () => {} };
const message = (to: string) => ({ to, subject: `to ${to}`, text: 'body', html: '<p>body</p>' });

describe('the mail outbox after the clock went back a day', () => {
  let sink: SmtpSink;
  let dir: string;
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;

  before(async () => {
    sink = await startSmtpSink();
    dir = await mkdtemp(join(tmpdir(), 'restauth-outbox-jump-'));
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    // Opening the pool migrates the database: the outbox table is there.
    pool = await openPostgresPool(testStoreConfig(url), testRoles);
  });
  after(async () => {
    await sink.close();
    await pool?.end();
    if (url) await dropDatabase(serverUrl, url);
    await rm(dir, { recursive: true, force: true });
  });

  const outboxes: Array<[string, () => MailOutboxStore]> = [
    ['file', () => new FileMailQueue(join(dir, 'queue.json'))],
    ['PostgreSQL', () => new PostgresMailQueue(pool, 'restauth.mail_outbox')],
  ];

  for (const [kind, open] of outboxes) {
    it(`${kind}: a lease and a retry dated before the jump are sent at once; a live lease is not taken`, async () => {
      const outbox = open();
      const now = Date.now();
      const leased = `leased-${kind}@example.com`;
      const retried = `retried-${kind}@example.com`;
      const live = `live-${kind}@example.com`;
      // A worker claimed a mail and died before sending it: leased until now + 60 s.
      await outbox.enqueue(message(leased), now);
      assert.equal((await outbox.claimDue(now, 10, 60_000)).length, 1);
      // A send failed: retried at the longest backoff, ten minutes on.
      const failed = await outbox.enqueue(message(retried), now);
      await outbox.markFailed(failed.id, '451 try later', now + 10 * 60_000);
      // The clock goes back a day. Another instance, whose clock is right, claims a mail just then:
      // its lease is live (a minute on that clock, a day and a minute ahead of this one).
      await outbox.enqueue(message(live), now - DAY);
      const [liveMail] = await outbox.claimDue(now - DAY, 10, 60_000);
      assert.equal(liveMail?.message.to, live);

      const worker = new MailWorker(
        outbox,
        new SmtpMailer({ host: '127.0.0.1', port: sink.port, ignoreTLS: true, from: 'team@example.com' }),
        quiet,
        { clock: () => now - DAY, leaseMs: 60_000 },
      );
      worker.start();
      try {
        // One pass sends what is due: the two mails dated before the jump, not the live lease.
        await worker.idle();
        for (const to of [leased, retried]) {
          assert.equal(sink.mails.filter((mail) => mail.to === to).length, 1, `${to} sent at once`);
        }
        assert.equal(sink.mails.filter((mail) => mail.to === live).length, 0, 'the live lease is kept');
        assert.equal(await outbox.depth(), 1);
      } finally {
        await worker.stop();
        await outbox.markSent(liveMail!.id);
      }
    });
  }
});
