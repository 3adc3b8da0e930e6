import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { attemptsSpanning, MailWorker } from '../../src/mail/worker.js';
import { onFreePort, REFUSED_PORT } from '../support/free-port.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { readMailQueueFile } from '../support/mail-queue-file.js';
import { recordingLogger } from '../support/recording-logger.js';

const smtp = (port: number) =>
  new SmtpMailer({ host: '127.0.0.1', port, ignoreTLS: true, from: 'team@example.com' });
const message = (to: string) => ({ to, subject: `to ${to}`, text: 'body', html: '<p>body</p>' });

describe('MailWorker', () => {
  let sink: SmtpSink;
  let dir: string;
  before(async () => {
    sink = await startSmtpSink();
    dir = await mkdtemp(join(tmpdir(), 'restauth-worker-'));
  });
  after(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('retries with backoff while the server refuses (451 at RCPT), then delivers once', async () => {
    const queue = new FileMailQueue(join(dir, 'refused.json'));
    const logger = recordingLogger();
    const worker = new MailWorker(queue, smtp(sink.port), logger, { retryBaseMs: 20 });
    worker.start();
    const refusedBefore = sink.refused();
    sink.refuseNext(3, 'rcpt');
    await worker.enqueue(message('retry@example.com'));
    await sink.waitForMail((m) => m.to === 'retry@example.com', 10_000);
    await worker.stop();
    assert.equal(sink.refused() - refusedBefore, 3);
    assert.equal(sink.mails.filter((m) => m.to === 'retry@example.com').length, 1);
    const retries = logger.lines.filter((l) =>
      /mail to retry@example.com failed \(.*451.*\); retry \d in \d+ ms/.test(l),
    );
    assert.deepEqual(
      retries.map((l) => Number(/in (\d+) ms/.exec(l)![1])),
      [20, 40, 80],
      'the delay doubles',
    );
    assert.deepEqual((await readMailQueueFile(queue.path)).live, [], 'sent mails leave the queue');
  });

  it('delivers once a server that was down comes up', async () => {
    // The worker's port is fixed before the sink binds it: if another process takes that port in
    // between (its first send not refused, or the sink's bind EADDRINUSE), onFreePort runs this again
    // with a fresh worker and queue on another port.
    const { queue, worker, late } = await onFreePort(async (port) => {
      const queue = new FileMailQueue(join(dir, `down-${port}.json`));
      const logger = recordingLogger();
      const worker = new MailWorker(queue, smtp(port), logger, { retryBaseMs: 50, maxRetryMs: 200 });
      worker.start();
      await worker.enqueue(message('down@example.com'));
      const failed = /mail to down@example.com failed/;
      await logger.waitFor(failed);
      try {
        const first = logger.lines.find((line) => failed.test(line))!;
        if (!/ECONNREFUSED/.test(first))
          throw Object.assign(new Error(`port ${port} taken: ${first}`), { code: 'EADDRINUSE' });
        return { queue, worker, late: await startSmtpSink({ port }) };
      } catch (error) {
        await worker.stop();
        throw error;
      }
    });
    try {
      const mail = await late.waitForMail((m) => m.to === 'down@example.com', 10_000);
      assert.equal(mail.subject, 'to down@example.com');
    } finally {
      await worker.stop();
      await late.close();
    }
    assert.deepEqual((await readMailQueueFile(queue.path)).live, []);
  });

  it('a mail queued before a stop is delivered by the next worker on the same file', async () => {
    const path = join(dir, 'restart.json');
    const first = new MailWorker(new FileMailQueue(path), smtp(sink.port), recordingLogger());
    await first.enqueue(message('queued@example.com')); // not started: stored, not sent
    await first.stop();
    assert.equal(sink.mails.filter((m) => m.to === 'queued@example.com').length, 0);
    const second = new MailWorker(new FileMailQueue(path), smtp(sink.port), recordingLogger());
    second.start();
    await sink.waitForMail((m) => m.to === 'queued@example.com', 10_000);
    await second.stop();
    assert.deepEqual((await readMailQueueFile(path)).live, []);
  });

  it('a mail whose send failed before the stop is retried by the next worker when its backoff ends', async () => {
    const path = join(dir, 'restart-failed.json');
    const logger = recordingLogger();
    const first = new MailWorker(new FileMailQueue(path), smtp(REFUSED_PORT), logger, {
      retryBaseMs: 300,
    });
    first.start();
    await first.enqueue(message('failed-first@example.com'));
    await logger.waitFor(/mail to failed-first@example.com failed/);
    await first.stop();
    const [pending] = (await readMailQueueFile(path)).live;
    assert.equal(pending!.attempts, 1);
    const second = new MailWorker(new FileMailQueue(path), smtp(sink.port), recordingLogger());
    second.start();
    await sink.waitForMail((m) => m.to === 'failed-first@example.com', 10_000);
    await second.stop();
    assert.deepEqual((await readMailQueueFile(path)).live, []);
  });

  it('gives up after maxAttempts: logged, kept dead, not retried', async () => {
    const queue = new FileMailQueue(join(dir, 'give-up.json'));
    const logger = recordingLogger();
    const worker = new MailWorker(queue, smtp(REFUSED_PORT), logger, {
      retryBaseMs: 10,
      maxAttempts: 3,
    });
    worker.start();
    await worker.enqueue(message('never@example.com'));
    await logger.waitFor(/gave up mailing never@example.com \("to never@example.com"\) after 3 attempts/);
    await worker.stop();
    const dead = (await readMailQueueFile(queue.path)).dead;
    assert.deepEqual(
      dead.map((m) => [m.message.to, m.attempts]),
      [['never@example.com', 3]],
    );
    assert.equal(await queue.nextDueAt(), null);
  });

  it('without maxAttempts, retries for retryForMs (an hour by default: 16 attempts), at least 8 times', async () => {
    assert.equal(
      attemptsSpanning(3600 * 1000, 1000, 600 * 1000),
      16,
      '1 + 2 + ... + 512 s, then every 10 min',
    );
    assert.equal(attemptsSpanning(60 * 1000, 1000, 600 * 1000), 7, 'a minute: 1 + 2 + ... + 32 s');
    assert.equal(attemptsSpanning(100, 10, 10), 11);
    const queue = new FileMailQueue(join(dir, 'retry-for.json'));
    const logger = recordingLogger();
    // Ten 10 ms retries span the 100 ms window: the mail is given up at its 11th failed attempt.
    const worker = new MailWorker(queue, smtp(REFUSED_PORT), logger, {
      retryBaseMs: 10,
      maxRetryMs: 10,
      retryForMs: 100,
    });
    worker.start();
    await worker.enqueue(message('window@example.com'));
    await logger.waitFor(/gave up mailing window@example.com \("to window@example.com"\) after 11 attempts/);
    await worker.stop();
    assert.deepEqual(
      (await readMailQueueFile(queue.path)).dead.map((m) => m.attempts),
      [11],
    );

    // A window one retry spans still gets the 8 attempts of before.
    const shortLogger = recordingLogger();
    const short = new MailWorker(
      new FileMailQueue(join(dir, 'retry-for-short.json')),
      smtp(REFUSED_PORT),
      shortLogger,
      {
        retryBaseMs: 10,
        retryForMs: 1,
      },
    );
    short.start();
    await short.enqueue(message('short@example.com'));
    await shortLogger.waitFor(/gave up mailing short@example.com .* after 8 attempts/);
    await short.stop();
  });

  it('survives a queue it cannot read, and sends once the file is fixed', async () => {
    const path = join(dir, 'damaged.json');
    await writeFile(path, 'not json');
    const logger = recordingLogger();
    const worker = new MailWorker(new FileMailQueue(path), smtp(sink.port), logger, { retryBaseMs: 50 });
    worker.start();
    await logger.waitFor(/mail queue unavailable \(mail queue .* is not valid JSON/);
    const fixed = {
      version: 1,
      mails: [
        { id: 'f1', message: message('fixed@example.com'), attempts: 0, nextAttemptAt: 0, lastError: null },
      ],
    };
    await writeFile(path, JSON.stringify(fixed));
    await sink.waitForMail((m) => m.to === 'fixed@example.com', 10_000);
    await worker.stop();
  });
});
