import type { MailLogger, Mailer, MailMessage } from './mailer.js';
import type { MailQueue as LegacyMailQueue } from './mail-queue.js';
import type { MailOutboxStore } from './outbox-queue.js';
import { MailWorker as Worker, type MailWorkerOptions } from './worker.js';

/*
 * Deprecated: the first worker's constructor and `submit`, over the new
 * worker (./worker.ts), for code not yet moved to it (src/compose.ts,
 * test/postgres/mail-outbox.test.ts). A queue of the old shape is adapted to
 * the MailOutboxStore port.
 */

const MAX_ATTEMPTS = 8;

function isPort(queue: LegacyMailQueue | MailOutboxStore): queue is MailOutboxStore {
  return typeof (queue as MailOutboxStore).claimDue === 'function';
}

/** The old queue shape seen through the port; a dead mail is one with maxAttempts failures. */
export function portOfLegacyQueue(queue: LegacyMailQueue, maxAttempts = MAX_ATTEMPTS): MailOutboxStore {
  return {
    shared: queue.shared,
    enqueue: (message, now) => queue.enqueue(message, now),
    claimDue: (now, _limit, leaseMs) => queue.claim(now, maxAttempts, leaseMs),
    markSent: (id) => queue.remove(id),
    markFailed: async (id, error, nextAttemptAt) => {
      // The old queues know a dead mail by its attempt count, which failed() raises to maxAttempts.
      await queue.failed(id, error, nextAttemptAt ?? Date.now());
    },
    nextDueAt: () => queue.nextDue(maxAttempts),
  };
}

/** @deprecated use MailWorker from ./worker.js (enqueue instead of submit, options object). */
export class MailWorker extends Worker {
  constructor(
    queue: LegacyMailQueue | MailOutboxStore,
    mailer: Mailer,
    logger: MailLogger,
    retryBaseMs?: number,
    options: MailWorkerOptions = {},
  ) {
    super(isPort(queue) ? queue : portOfLegacyQueue(queue), mailer, logger, {
      maxAttempts: MAX_ATTEMPTS,
      ...(retryBaseMs === undefined ? {} : { retryBaseMs }),
      ...options,
    });
  }

  /** Queues durably and delivers; like the first worker, it needs no start() first. */
  async submit(message: MailMessage): Promise<void> {
    this.start();
    await this.enqueue(message);
  }
}
