import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MailOutboxStore } from '../../src/core/ports/outbox.js';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { MailWorker } from '../../src/mail/worker.js';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * A real SMTP server holds its answer to one mail (a slow server): the worker's other mails go on
 * meanwhile, and a lease that cannot be renewed (the store failing) neither stops the send nor has
 * the worker send the mail a second time. Each wait is for an event (a mail at the sink, a log line,
 * a claim); without the behaviour under test it never comes and the test's timeout fails it.
 */
const smtp = (port: number) =>
  new SmtpMailer({ host: '127.0.0.1', port, ignoreTLS: true, from: 'team@example.com' });
const message = (to: string) => ({ to, subject: `to ${to}`, text: 'body', html: '<p>body</p>' });

/**
 * `queue` with some of its methods replaced, every other call made on `queue` itself: an
 * Object.create of it would keep a second copy of the queue's state (its mails, loaded lazily).
 */
function overriding(queue: FileMailQueue, overrides: Partial<MailOutboxStore>): MailOutboxStore {
  return new Proxy(queue, {
    get(target, key) {
      if (key in overrides) return overrides[key as keyof MailOutboxStore];
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function recordingLogger() {
  const lines: string[] = [];
  return { lines, info: (line: string) => lines.push(line), warn: (line: string) => lines.push(line) };
}

describe('MailWorker with a slow send', () => {
  let sink: SmtpSink;
  let dir: string;
  before(async () => {
    sink = await startSmtpSink();
    dir = await mkdtemp(join(tmpdir(), 'restauth-slow-send-'));
  });
  after(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'sends the rest of its batch while the server holds its answer to one',
    { timeout: 60_000 },
    async () => {
      const queue = new FileMailQueue(join(dir, 'batch.json'));
      const logger = recordingLogger();
      const worker = new MailWorker(queue, smtp(sink.port), logger, { leaseMs: 3000 });
      const addresses = ['one@batch.test', 'two@batch.test', 'three@batch.test'];
      // Queued before the start: one pass claims them in one batch.
      for (const to of addresses) await worker.enqueue(message(to));
      const held = sink.holdNextReply();
      worker.start();
      try {
        const slow = await held.received;
        // While the server still holds its answer to the first, the batch's other mails arrive.
        const others = addresses.filter((to) => to !== slow.to);
        assert.equal(others.length, 2);
        for (const to of others) await sink.waitForMail((mail) => mail.to === to, 30_000);
        held.release();
        await worker.idle();
        for (const to of addresses) {
          assert.equal(sink.mails.filter((mail) => mail.to === to).length, 1, `${to} sent once`);
        }
        assert.equal(await queue.depth(), 0, 'each recorded as sent');
        assert.deepEqual(logger.lines, []);
      } finally {
        held.release();
        await worker.stop();
      }
    },
  );

  it(
    'keeps sending through a renewal that keeps failing: said once, the mail not claimed again by the same worker',
    { timeout: 60_000 },
    async () => {
      const queue = new FileMailQueue(join(dir, 'renewal.json'));
      const to = 'renewal@slow.test';
      const later = 'later@slow.test';
      let renewals = 0;
      let renewedThrice!: () => void;
      const thrice = new Promise<void>((resolve) => (renewedThrice = resolve));
      let sendStarted = false;
      const claimedWhileSending: string[] = [];
      const failing = overriding(queue, {
        renewLease: async () => {
          if (++renewals === 3) renewedThrice();
          throw new Error('database unreachable');
        },
        claimDue: async (...args) => {
          const mails = await queue.claimDue(...args);
          if (sendStarted) claimedWhileSending.push(...mails.map((mail) => mail.message.to));
          return mails;
        },
      });
      const logger = recordingLogger();
      const worker = new MailWorker(failing, smtp(sink.port), logger, { leaseMs: 300 });
      const held = sink.holdNextReply();
      worker.start();
      try {
        await worker.enqueue(message(to));
        await held.received;
        sendStarted = true;
        // A renewal a third of a lease after another, each refused by the store: the lease has ended.
        await thrice;
        // A pass after the lease's end (woken by a new mail) claims the new mail, not the one being sent.
        await worker.enqueue(message(later));
        await sink.waitForMail((mail) => mail.to === later, 30_000);
        // The later mail may be claimed twice: a pass starts no send once most of its 300 ms lease is
        // gone (a slow claim on a loaded machine), and the next pass claims it again. Never the first.
        assert.ok(claimedWhileSending.includes(later), claimedWhileSending.join(', '));
        assert.ok(!claimedWhileSending.includes(to), claimedWhileSending.join(', '));
        held.release();
        await worker.idle();
        assert.equal(sink.mails.filter((mail) => mail.to === to).length, 1, 'sent once');
        assert.equal(await queue.depth(), 0, 'recorded as sent');
        // The later mail's own renewals may fail too, each said once; none is called lost.
        assert.deepEqual(
          logger.lines.filter((line) => !line.includes(later)),
          [
            `restauth: could not renew the lease on the mail to ${to} being sent (database unreachable); retrying`,
          ],
        );
      } finally {
        held.release();
        await worker.stop();
      }
    },
  );

  it(
    'keeps its lease across a clock jump forward when a pass comes before the renewal',
    { timeout: 60_000 },
    async () => {
      const queue = new FileMailQueue(join(dir, 'jump.json'));
      const to = 'jump@slow.test';
      const later = 'after-jump@slow.test';
      let now = Date.now();
      // The first renewal waits at a gate, as one behind a busy store, until a pass has run after the jump.
      let renewalStarted!: () => void;
      const started = new Promise<void>((resolve) => (renewalStarted = resolve));
      let openGate!: () => void;
      const gate = new Promise<void>((resolve) => (openGate = resolve));
      const renewed: boolean[] = [];
      const gated = overriding(queue, {
        renewLease: async (id, leasedUntil, until) => {
          if (renewed.length === 0) {
            renewalStarted();
            await gate;
          }
          const result = await queue.renewLease(id, leasedUntil, until);
          renewed.push(result);
          return result;
        },
      });
      const logger = recordingLogger();
      // The clock only moves when told: a mail whose send did not start within three quarters of its
      // lease (measured on the real monotonic clock: a pass stalled on a loaded machine) would never be
      // due again. The lease is long enough for any stall, its renewal still a third of it away.
      const leaseMs = 6000;
      const worker = new MailWorker(gated, smtp(sink.port), logger, { leaseMs, clock: () => now });
      const held = sink.holdNextReply();
      worker.start();
      try {
        await worker.enqueue(message(to));
        await held.received;
        await started;
        // The clock jumps past the lease: the mail being sent is due by the stored time.
        now += 10 * leaseMs;
        // A pass now (woken by a new mail) must not claim it: that would move the lease under the renewal.
        await worker.enqueue(message(later));
        await sink.waitForMail((mail) => mail.to === later, 30_000);
        openGate();
        held.release();
        await worker.idle();
        assert.equal(renewed[0], true, 'the renewal found its lease');
        assert.equal(sink.mails.filter((mail) => mail.to === to).length, 1, 'sent once');
        assert.equal(await queue.depth(), 0, 'recorded as sent');
        assert.deepEqual(logger.lines, []);
      } finally {
        openGate();
        held.release();
        await worker.stop();
      }
    },
  );
});
