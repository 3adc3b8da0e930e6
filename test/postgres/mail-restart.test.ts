import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { messageIdFor, SmtpMailer } from '../../src/mail/mailer.js';
import { MailWorker } from '../../src/mail/worker.js';
import type pg from 'pg';
import { openPostgresPool, schemaNames } from '../../src/stores/postgres/index.js';
import { PostgresMailQueue } from '../../src/stores/postgres/outbox.js';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';
import { testRoles, testStoreConfig } from '../support/postgres.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';

/**
 * A mail the SMTP server accepted while the database went down (issue 11.3):
 * recording it as sent is retried while its lease lasts, so it is not sent
 * twice; and if it is sent again after all, it keeps its Message-ID.
 */
describe('the mail outbox across a PostgreSQL restart', { skip: ownClusterUnavailable() ?? false }, () => {
  let cluster: OwnCluster;
  let store: PostgresStore;
  let pool: pg.Pool;
  let sink: SmtpSink;
  const smtp = () => new SmtpMailer(sinkMailSettings(sink, 'auth@example.org'));
  /** A logger whose warnings a test can wait for. */
  const watchedLog = () => {
    const lines: string[] = [];
    const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
    return {
      lines,
      info: (line: string) => lines.push(line),
      warn: (line: string) => {
        lines.push(line);
        for (const waiter of waiters.filter((candidate) => candidate.pattern.test(line))) waiter.resolve();
      },
      seen: (pattern: RegExp) =>
        lines.some((line) => pattern.test(line))
          ? Promise.resolve()
          : new Promise<void>((resolve) => waiters.push({ pattern, resolve })),
    };
  };
  const outbox = async () =>
    (await pool.query<{ id: string }>('SELECT id::text FROM restauth.mail_outbox')).rows.map((row) => row.id);

  before(async () => {
    cluster = await startOwnCluster();
    const config = testStoreConfig(cluster.url);
    pool = await openPostgresPool(config, testRoles, { logger: { info() {}, warn() {} } });
    store = new PostgresStore(pool, schemaNames(config, testRoles), {
      preparedStatements: config.preparedStatements,
    });
    sink = await startSmtpSink();
  });
  after(async () => {
    await sink?.close();
    await store?.close();
    await cluster?.destroy();
  });
  beforeEach(async () => {
    await pool.query('DELETE FROM restauth.mail_outbox');
  });

  it('a mail sent while the database restarts is recorded as sent once it is back, and sent once', async () => {
    const log = watchedLog();
    // A long retry delay: the only retry of markSent is the one stop() asks for, after the restart.
    const worker = new MailWorker(new PostgresMailQueue(pool, 'restauth.mail_outbox'), smtp(), log, {
      retryBaseMs: 60_000,
      leaseMs: 600_000,
    });
    const hold = sink.holdNextReply();
    worker.start();
    await worker.enqueue({ to: 'once@example.com', subject: 'welcome', text: 'x', html: 'x' });
    await hold.received;
    await cluster.stop('fast');
    hold.release();
    await log.seen(/recording it failed/u);
    await cluster.start();
    await worker.stop();
    assert.deepEqual(await outbox(), [], log.lines.join('\n'));
    assert.equal(sink.mails.filter((mail) => mail.to === 'once@example.com').length, 1);
  });

  it('a mail sent again after its lease lapsed keeps its Message-ID', async () => {
    const queue = new PostgresMailQueue(pool, 'restauth.mail_outbox');
    const log = watchedLog();
    const first = new MailWorker(queue, smtp(), log, { retryBaseMs: 60_000, leaseMs: 600_000 });
    const hold = sink.holdNextReply();
    first.start();
    await first.enqueue({ to: 'twice@example.com', subject: 'welcome', text: 'x', html: 'x' });
    const [id] = await outbox();
    await hold.received;
    await cluster.stop('immediate');
    hold.release();
    await log.seen(/recording it failed/u);
    // Stopped while the database is still down: the last attempt fails too, and the mail stays.
    await first.stop();
    assert.match(log.lines.join('\n'), /will be sent again, with the same Message-ID/u);
    await cluster.start();
    assert.deepEqual(await outbox(), [id]);
    // Its lease lapses (as the existing outbox test moves time): another worker sends it again.
    await pool.query('UPDATE restauth.mail_outbox SET next_attempt_at = now()');
    const second = new MailWorker(queue, smtp(), log);
    second.start();
    await sink.waitForMail(
      (mail) => mail.to === 'twice@example.com' && sink.mails.filter((m) => m.to === mail.to).length === 2,
      10_000,
    );
    await second.stop();
    const sent = sink.mails.filter((mail) => mail.to === 'twice@example.com');
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.messageId, messageIdFor(id!, 'auth@example.org'));
    assert.equal(sent[1]!.messageId, sent[0]!.messageId);
    assert.deepEqual(await outbox(), []);
  });
});
