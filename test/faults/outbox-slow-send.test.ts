import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import type { MailOutboxStore } from '../../src/core/ports/outbox.js';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { MailWorker } from '../../src/mail/worker.js';
import { openPostgresPool } from '../../src/stores/postgres/index.js';
import { PostgresMailQueue } from '../../src/stores/postgres/outbox.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../support/postgres.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * Two instances share the PostgreSQL outbox. An SMTP server answers one mail's DATA slowly (it
 * trickles, so nodemailer's idle timeout never ends the send) until long after the mail's lease
 * should have ended: the other instance claimed the mail and sent it again. The sending worker
 * renews the lease while the send lasts, so the other finds nothing due: one delivery. The workers'
 * wall clock is injected, so the test waits for no lease to end in real time. The lease is long all
 * the same: a send is not started once three quarters of its lease are gone on the real clock, and
 * with the injected clock still, a mail left unstarted by a slow claim was never due again (a hang).
 */
const LEASE_MS = 6000;
const quiet = { info: () => {}, warn: () => {} };

/** The outbox as the sending worker uses it, telling the test when a renewal moved a lease past a time. */
function observingRenewals(outbox: MailOutboxStore): {
  outbox: MailOutboxStore;
  renewedPast(at: number): Promise<void>;
} {
  let waiting: { at: number; resolve(): void } | null = null;
  const observed = Object.create(outbox) as MailOutboxStore;
  observed.renewLease = async (id, leasedUntil, until) => {
    const renewed = await outbox.renewLease(id, leasedUntil, until);
    if (renewed && waiting && until > waiting.at) waiting.resolve();
    return renewed;
  };
  return {
    outbox: observed,
    renewedPast: (at) => new Promise<void>((resolve) => (waiting = { at, resolve })),
  };
}

describe('a send that outlives its lease, with a shared outbox', () => {
  let sink: SmtpSink;
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;

  before(async () => {
    sink = await startSmtpSink();
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
  });

  // Without renewals the wait for one never ends: the timeout fails the test rather than hang the run.
  it('is not claimed and sent again by the other instance: one delivery', { timeout: 60_000 }, async () => {
    let now = Date.now();
    const clock = () => now;
    const mailer = () =>
      new SmtpMailer({ host: '127.0.0.1', port: sink.port, ignoreTLS: true, from: 'team@example.com' });
    // Each instance has its own queue object on the one table, as two processes have.
    const sending = observingRenewals(new PostgresMailQueue(pool, 'restauth.mail_outbox'));
    const other = new PostgresMailQueue(pool, 'restauth.mail_outbox');
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (line: string) => warnings.push(line) };
    const first = new MailWorker(sending.outbox, mailer(), logger, { clock, leaseMs: LEASE_MS });
    const second = new MailWorker(other, mailer(), quiet, { clock, leaseMs: LEASE_MS });
    const to = 'slow@example.com';
    const held = sink.holdNextReply();
    first.start();
    try {
      await first.enqueue({ to, subject: 'slow', text: 'body', html: '<p>body</p>' });
      await held.received;
      // Ten leases go by while the server holds its answer; the sending worker renews meanwhile.
      now += 10 * LEASE_MS;
      // (A renewal under way as the clock moved took the old time: the lease must end after now.)
      await sending.renewedPast(now);
      // The other instance looks: the mail is leased (to the renewed end), not due.
      second.start();
      await second.idle();
      held.release();
      await first.idle();
      await second.idle();
      assert.equal(sink.mails.filter((mail) => mail.to === to).length, 1, 'sent once');
      assert.equal(await other.depth(), 0, 'recorded as sent');
      assert.deepEqual(warnings, []);
    } finally {
      held.release();
      await first.stop();
      await second.stop();
    }
  });

  it(
    'says so when the lease was lost all the same (the renewal came too late)',
    { timeout: 60_000 },
    async () => {
      let now = Date.now();
      const outbox = new PostgresMailQueue(pool, 'restauth.mail_outbox');
      const other = new PostgresMailQueue(pool, 'restauth.mail_outbox');
      // The first renewal waits, as one stuck behind a busy database, until the other instance claimed.
      let renewalStarted!: () => void;
      const started = new Promise<void>((resolve) => (renewalStarted = resolve));
      let proceed!: () => void;
      const claimed = new Promise<void>((resolve) => (proceed = resolve));
      const late = Object.create(outbox) as MailOutboxStore;
      late.renewLease = async (id, leasedUntil, until) => {
        renewalStarted();
        await claimed;
        return outbox.renewLease(id, leasedUntil, until);
      };
      const warnings: string[] = [];
      const logger = { info: () => {}, warn: (line: string) => warnings.push(line) };
      const worker = new MailWorker(
        late,
        new SmtpMailer({ host: '127.0.0.1', port: sink.port, ignoreTLS: true, from: 'team@example.com' }),
        logger,
        { clock: () => now, leaseMs: LEASE_MS },
      );
      const to = 'late@example.com';
      const held = sink.holdNextReply();
      worker.start();
      try {
        await worker.enqueue({ to, subject: 'late', text: 'body', html: '<p>body</p>' });
        await held.received;
        now += 10 * LEASE_MS;
        await started;
        const [taken] = await other.claimDue(now, 10, LEASE_MS);
        assert.equal(taken?.message.to, to, 'the lease had ended: the other instance claims the mail');
        proceed();
        held.release();
        await worker.idle();
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.match(
          warnings[0]!,
          /the lease on the mail to late@example\.com ended while it was being sent/,
        );
      } finally {
        proceed();
        held.release();
        await worker.stop();
      }
    },
  );
});
