import { FileMailQueue as FileMailOutbox } from './file-mail-queue.js';
import type { OutboxMail } from './outbox-queue.js';

/*
 * Deprecated: the first shape of the mail queue, kept only so that the code
 * written against it (src/compose.ts, src/stores/postgres/mail-queue.ts)
 * keeps working until it moves to the port in ./outbox-queue.ts
 * (MailOutboxStore) and ./worker.ts. Then this file and ./mail-worker.ts go.
 */

/** @deprecated use OutboxMail from ./outbox-queue.js */
export type QueuedMail = OutboxMail;

/** @deprecated implement MailOutboxStore from ./outbox-queue.js instead */
export interface MailQueue {
  readonly shared: boolean;
  enqueue(message: OutboxMail['message'], now: number): Promise<QueuedMail>;
  /** Due mails with fewer than maxAttempts failures, leased for leaseMs. */
  claim(now: number, maxAttempts: number, leaseMs: number): Promise<QueuedMail[]>;
  nextDue(maxAttempts: number): Promise<number | null>;
  remove(id: string): Promise<void>;
  /** One more failed attempt (attempts + 1). */
  failed(id: string, error: string, nextAttemptAt: number): Promise<QueuedMail | undefined>;
}

/**
 * @deprecated use FileMailQueue from ./file-mail-queue.js: the same file
 * queue, with the old method names added.
 */
export class FileMailQueue extends FileMailOutbox implements MailQueue {
  claim(now: number, _maxAttempts: number, leaseMs: number): Promise<QueuedMail[]> {
    return this.claimDue(now, 50, leaseMs);
  }

  nextDue(): Promise<number | null> {
    return this.nextDueAt();
  }

  remove(id: string): Promise<void> {
    return this.markSent(id);
  }

  async failed(id: string, error: string, nextAttemptAt: number): Promise<QueuedMail | undefined> {
    await this.markFailed(id, error, nextAttemptAt);
    return (await this.pending()).find((mail) => mail.id === id);
  }
}
