import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { MailWorker } from '../../src/mail/worker.js';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { readMailQueueFile } from '../support/mail-queue-file.js';
import { recordingLogger } from '../support/recording-logger.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * An SMTP server that fails part of a delivery, for real (smtp-server in the test process): a
 * permanent refusal (5xx) of the recipient or of the message, and a connection cut after the DATA's
 * `.`, before the server's reply. The outbox must retry what may go later, give up at once (with a
 * log, the mail kept dead) what the server said it never takes, and never send in a loop.
 */
describe('SMTP partial failures', () => {
  let sink: SmtpSink;
  let dir: string;
  before(async () => {
    sink = await startSmtpSink();
    dir = await mkdtemp(join(tmpdir(), 'restauth-smtp-partial-'));
  });
  after(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A worker on a queue file of its own, retrying fast; stopped by the caller. */
  const worker = (name: string) => {
    const queue = new FileMailQueue(join(dir, `${name}.json`));
    const logger = recordingLogger();
    const mailer = new SmtpMailer({
      host: '127.0.0.1',
      port: sink.port,
      ignoreTLS: true,
      from: 'team@example.com',
    });
    const started = new MailWorker(queue, mailer, logger, {
      retryBaseMs: 20,
      maxRetryMs: 100,
      maxAttempts: 5,
    });
    started.start();
    return { queue, logger, worker: started };
  };
  const message = (to: string) => ({ to, subject: `to ${to}`, text: 'body', html: '<p>body</p>' });

  for (const stage of ['rcpt', 'data'] as const) {
    it(`a permanent refusal (550 at ${stage === 'rcpt' ? 'RCPT TO' : 'DATA'}) is given up at once, logged, kept dead`, async () => {
      const to = `permanent-${stage}@example.com`;
      const { queue, logger, worker: w } = worker(`permanent-${stage}`);
      const refusedBefore = sink.refused();
      // Refused however often it is tried: the worker must not be what ends the refusals.
      sink.refuseNext(1_000, stage, 'permanent');
      try {
        await w.enqueue(message(to));
        await logger.waitFor(new RegExp(`gave up mailing ${to}`));
      } finally {
        sink.refuseNext(0, stage);
        await w.stop();
      }
      assert.equal(sink.refused() - refusedBefore, 1, `tried once: ${logger.lines.join('\n')}`);
      const dead = (await readMailQueueFile(queue.path)).dead;
      assert.deepEqual(
        dead.map((m) => [m.message.to, m.attempts]),
        [[to, 1]],
      );
      assert.match(
        logger.lines.find((line) => line.includes('gave up'))!,
        /550/,
      );
    });
  }

  it('a connection cut after the DATA’s `.`: sent again with its Message-ID, then no more', async () => {
    const to = 'cut-after-data@example.com';
    const { queue, logger, worker: w } = worker('cut-after-data');
    sink.dropNextReply();
    try {
      await w.enqueue(message(to));
      await logger.waitFor(new RegExp(`mail to ${to} failed`));
      await sink.waitForMail(
        (mail) => mail.to === to && sink.mails.filter((m) => m.to === to).length === 2,
        10_000,
      );
      await w.idle();
    } finally {
      await w.stop();
    }
    const copies = sink.mails.filter((mail) => mail.to === to);
    assert.equal(copies.length, 2, 'the one the server took before the cut, and the retry');
    assert.equal(
      copies[0]!.messageId,
      copies[1]!.messageId,
      'a receiver can tell the second is the same mail',
    );
    const file = await readMailQueueFile(queue.path);
    assert.deepEqual([file.live, file.dead], [[], []], 'sent, and recorded so');
  });
});
