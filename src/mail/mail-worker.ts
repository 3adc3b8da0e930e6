import type { MailQueue } from './mail-queue.js';
import type { MailLogger, Mailer, MailMessage } from './mailer.js';

const MAX_ATTEMPTS = 8;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 10 * 60 * 1000;
/** How long a claimed mail stays this worker's before another may retry it (a crash mid-send). */
const LEASE_MS = 60 * 1000;
/** With a shared queue, how often to look for mails other instances left behind. */
const POLL_MS = 30 * 1000;

/**
 * Delivers queued mails: at once when one is queued, then again with
 * exponential backoff (1 s, 2 s, 4 s ... at most 10 min) after a failure,
 * giving up after 8 attempts with a log line. A queue of its own is not
 * polled: a timer is set only for the next retry; a shared queue (several
 * instances on one database) is also looked at every 30 s.
 */
export class MailWorker {
  private timer: NodeJS.Timeout | null = null;
  private poller: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly queue: MailQueue,
    private readonly mailer: Mailer,
    private readonly logger: MailLogger,
    private readonly retryBaseMs = FIRST_RETRY_MS,
  ) {}

  /** Queues durably, then wakes the worker. Resolves once the mail is on disk, not once sent. */
  async submit(message: MailMessage): Promise<void> {
    await this.queue.enqueue(message, Date.now());
    this.wake();
  }

  /** Sends what was left from an earlier run. */
  start(): void {
    if (this.queue.shared) {
      this.poller = setInterval(() => this.wake(), POLL_MS);
      this.poller.unref();
    }
    this.wake();
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async drain(): Promise<void> {
    for (const mail of await this.queue.claim(Date.now(), MAX_ATTEMPTS, LEASE_MS)) {
      if (this.stopped) return;
      try {
        await this.mailer.send(mail.message);
        await this.queue.remove(mail.id);
      } catch (error) {
        const delay = Math.min(this.retryBaseMs * 2 ** mail.attempts, MAX_RETRY_MS);
        const failed = await this.queue.failed(mail.id, (error as Error).message, Date.now() + delay);
        if (failed && failed.attempts >= MAX_ATTEMPTS) {
          this.logger.warn(
            `restauth: gave up mailing ${mail.message.to} after ${MAX_ATTEMPTS} attempts: ${failed.lastError}`,
          );
        } else {
          this.logger.warn(
            `restauth: mail to ${mail.message.to} failed (${(error as Error).message}); retrying in ${delay} ms`,
          );
        }
      }
    }
    const next = await this.queue.nextDue(MAX_ATTEMPTS);
    if (next !== null && !this.stopped) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.wake(), Math.max(next - Date.now(), 0));
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
    await this.running;
  }
}
