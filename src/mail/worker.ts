import { CLOCK_SKEW_MS } from '../core/clock-skew.js';
import type { OutgoingMail } from '../core/ports/outbox.js';
import type { MailLogger, Mailer } from './mailer.js';
import type { MailOutboxStore } from '../core/ports/outbox.js';
import { LeaseRenewal, type MailLease } from './lease-renewal.js';
import { isPermanentRefusal } from './permanent-refusal.js';

export interface MailWorkerOptions {
  /**
   * Attempts before a mail is given up as dead. Default: as many as span `retryForMs` with the
   * backoff below, and at least 8.
   */
  maxAttempts?: number;
  /**
   * How long a failing mail is retried (default 1 h: a mailed link's default lifetime): an SMTP
   * server down for minutes (a restart, a relay's maintenance) must not cost the mails queued
   * meanwhile. Used when `maxAttempts` is not given.
   */
  retryForMs?: number;
  /** Delay before the first retry; it doubles after each failure (default 1 s). */
  retryBaseMs?: number;
  /** The longest delay between two attempts (default 10 min). */
  maxRetryMs?: number;
  /** How long a claimed mail is this worker's before another may take it (default 60 s). */
  leaseMs?: number;
  /** With a shared store, how often to look for mails other instances queued (default 30 s). */
  pollMs?: number;
  /** Mails claimed at once (default 50). */
  batch?: number;
  /**
   * How long a send may take before it is slow and goes on beside the rest of its batch (default: a
   * third of the lease, at most 5 s).
   */
  slowSendMs?: number;
  /** The wall clock, in epoch milliseconds (tests set it back). */
  clock?: () => number;
}

/** What the rest of restauth uses to send a mail: queue it durably; it goes out soon. */
export interface MailQueue {
  /** Resolves once the mail is stored durably, not once it is sent. */
  enqueue(message: OutgoingMail): Promise<void>;
}

/** setTimeout cannot wait longer than this (about 24.8 days); a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A mail is given up after at least this many attempts, however short its retry window. */
const MIN_ATTEMPTS = 8;
/** How long a failing mail is retried by default: a mailed link's default lifetime (oneTimeTokens.ttl). */
const DEFAULT_RETRY_FOR_MS = 3600 * 1000;

/**
 * The attempts whose retries, `baseMs` doubling up to `maxMs` apart, span at least `windowMs` from
 * the first: with the defaults (1 s to 10 min) an hour is 16 attempts (1 + 2 + ... + 512 s, then
 * every 10 min).
 */
export function attemptsSpanning(windowMs: number, baseMs: number, maxMs: number): number {
  let attempts = 1;
  for (let waited = 0; waited < windowMs; attempts += 1)
    waited += Math.max(1, Math.min(baseMs * 2 ** (attempts - 1), maxMs));
  return attempts;
}

/** Slow sends going on beside a batch at most: more wait for one to end (a server slow for every mail). */
const MAX_SLOW_SENDS = 4;

/**
 * Delivers the queued mails through a Mailer: at once when one is queued,
 * then after a failure again with exponential backoff (1 s, 2 s, 4 s ... at
 * most 10 min by default) for an hour by default, then gives up with
 * a log line, leaving the mail dead in the store. There is no busy loop: with
 * a store of its own the worker sleeps until the next retry is due or until
 * `enqueue`/`wake` is called; a shared store is also looked at every
 * `pollMs`, for mails other instances queued.
 */
export class MailWorker implements MailQueue {
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryMs: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly slowSendMs: number;
  private readonly clock: () => number;
  /**
   * How far ahead of now a mail can be dated by this worker or another instance: no lease or retry
   * is longer, and instances' clocks differ by less than CLOCK_SKEW_MS. A mail dated further ahead
   * was dated before the clock went back (an NTP step): it is due, rather than waiting out the jump.
   */
  private readonly aheadMs: number;
  private timer: NodeJS.Timeout | null = null;
  private poller: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private stopped = false;
  /** True from a failed pass until the store answers again: its unavailability is logged once. */
  private storeDown = false;
  /** End the pauses under way (see recordSent) at once: a slow send may pause beside a pass. */
  private readonly endPauses = new Set<() => void>();
  /** Slow sends going on beside the passes (see pass), each settling when its mail is recorded. */
  private readonly slowSends = new Set<Promise<void>>();
  /** The ids of the mails being sent: a pass claiming one again (its renewals failed) leaves it. */
  private readonly sending = new Set<string>();

  constructor(
    private readonly store: MailOutboxStore,
    private readonly mailer: Mailer,
    private readonly logger: MailLogger,
    options: MailWorkerOptions = {},
  ) {
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.maxRetryMs = options.maxRetryMs ?? 10 * 60 * 1000;
    this.maxAttempts =
      options.maxAttempts ??
      Math.max(
        MIN_ATTEMPTS,
        attemptsSpanning(options.retryForMs ?? DEFAULT_RETRY_FOR_MS, this.retryBaseMs, this.maxRetryMs),
      );
    this.leaseMs = options.leaseMs ?? 60 * 1000;
    this.pollMs = options.pollMs ?? 30 * 1000;
    this.batch = options.batch ?? 50;
    this.slowSendMs = options.slowSendMs ?? Math.min(this.leaseMs / 3, 5000);
    this.clock = options.clock ?? (() => Date.now());
    this.aheadMs = Math.max(this.leaseMs, this.maxRetryMs) + CLOCK_SKEW_MS;
    store.onQueued(() => this.wake());
  }

  /** Stores the mail durably (the store then wakes the worker). Resolves once stored, not once sent. */
  async enqueue(message: OutgoingMail): Promise<void> {
    await this.store.enqueue(message, this.clock());
  }

  /** Starts delivering, the mails left from an earlier run first. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.store.shared) {
      this.poller = setInterval(() => this.wake(), this.pollMs);
      this.poller.unref();
    }
    this.wake();
  }

  /**
   * Looks at the store now. Called when the store says mails were queued
   * (onQueued), and by timers. Before start and after stop it does nothing:
   * the mail waits.
   */
  wake(): void {
    if (!this.started || this.stopped) return;
    if (this.running) {
      // A pass is under way: one more pass after it sees the new mail.
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /**
   * Resolves once no pass is under way: every mail that was due when it was
   * woken has been sent, or has failed and waits for its retry (tests await
   * this instead of sleeping for "no mail arrived").
   */
  async idle(): Promise<void> {
    while (this.running || this.slowSends.size > 0) await Promise.all([this.running, ...this.slowSends]);
  }

  /** One pass: send what is due, then sleep until the next mail is. Never rejects. */
  private async pass(): Promise<void> {
    try {
      let claimed: number;
      do {
        const claimedAt = this.clock();
        // The lease's length is measured on the monotonic clock: the wall clock may jump meanwhile, while
        // other instances, whose clocks did not, see the lease end that much later than it began.
        const leaseEnds = performance.now() + this.leaseMs;
        // Not the mails this worker is sending (slow sends beside the passes): a claim would move the lease
        // their renewals hold, and after a clock jump forward a pass could meet one due before its renewal.
        const mails = await this.store.claimDue(claimedAt, this.batch, this.leaseMs, this.aheadMs, [
          ...this.sending,
        ]);
        this.storeAvailable();
        claimed = mails.length;
        // A batch is sent one mail after another: a mail is not started once most of the lease is
        // gone, as another worker may claim it when the lease ends and send it too.
        const startBefore = leaseEnds - this.leaseMs / 4;
        for (const mail of mails) {
          while (this.slowSends.size >= MAX_SLOW_SENDS) await Promise.race(this.slowSends);
          // Unsent claimed mails come back when their lease ends.
          if (this.stopped || performance.now() >= startBefore) break;
          // Being sent already (a store that ignored `excluding`): not twice at once.
          if (this.sending.has(mail.id)) continue;
          const sending = this.deliver(mail.id, mail.message, mail.attempts, {
            until: mail.nextAttemptAt,
            ends: leaseEnds,
          });
          // A slow send (a server holding its answer) goes on beside the batch, its lease renewed,
          // where the batch's other mails waited for it and then for their lease's end.
          if (!(await settlesWithin(sending, this.slowSendMs))) this.aside(sending);
        }
        if (this.stopped) return;
      } while (claimed === this.batch && !this.stopped);
      // A mail being sent is left out: its lease may have lapsed (renewals refused by a failing store), and
      // a wake for it would find nothing to claim, again and again; its send's end wakes the worker.
      this.schedule(await this.store.nextDueAt([...this.sending]));
    } catch (error) {
      this.storeFailed(error as Error);
    }
  }

  /** The store itself failed (disk, database): try again later rather than crash or spin. */
  private storeFailed(error: Error): void {
    // Said once per outage, not at every retry.
    if (!this.storeDown) {
      this.storeDown = true;
      this.logger.warn(`restauth: mail queue unavailable (${error.message}); retrying`, error);
    }
    this.schedule(this.clock() + this.retryBaseMs);
  }

  /** Keeps a slow send going beside the passes (idle and stop wait for it), then looks at the store again. */
  private aside(sending: Promise<void>): void {
    const settled: Promise<void> = sending
      .catch((error: unknown) => this.storeFailed(error as Error))
      .finally(() => {
        this.slowSends.delete(settled);
        // A retry it set may be due sooner than the wake the pass planned.
        this.wake();
      });
    this.slowSends.add(settled);
  }

  private storeAvailable(): void {
    if (!this.storeDown) return;
    this.storeDown = false;
    // At the level of the outage's line, so that one is never seen without the other.
    this.logger.warn('restauth: mail queue available again');
  }

  private async deliver(
    id: string,
    message: OutgoingMail,
    attempts: number,
    lease: MailLease,
  ): Promise<void> {
    this.sending.add(id);
    try {
      await this.deliverHeld(id, message, attempts, lease);
    } finally {
      this.sending.delete(id);
    }
  }

  private async deliverHeld(
    id: string,
    message: OutgoingMail,
    attempts: number,
    lease: MailLease,
  ): Promise<void> {
    const renewal = new LeaseRenewal(this.store, id, lease, this.leaseMs, this.clock, {
      lost: () =>
        this.logger.warn(
          `restauth: the lease on the mail to ${message.to} ended while it was being sent; another instance may send it too, with the same Message-ID`,
        ),
      failed: (error) =>
        this.logger.warn(
          `restauth: could not renew the lease on the mail to ${message.to} being sent (${error.message}); retrying`,
        ),
    });
    try {
      // The outbox id names the mail: a second sending after a lapsed lease has the same Message-ID.
      await this.mailer.send(message, { key: id });
    } catch (error) {
      await renewal.stop();
      // Another worker holds the mail now: its attempt counts, not this one's.
      if (renewal.lost) return;
      const reason = (error as Error).message;
      const failures = attempts + 1;
      const refused = isPermanentRefusal(error);
      if (failures >= this.maxAttempts || refused) {
        await this.store.markFailed(id, reason, null);
        this.logger.warn(
          `restauth: gave up mailing ${message.to} ("${message.subject}") after ${failures} attempts` +
            `${refused ? ' (the server refused it for good)' : ''}: ${reason}`,
        );
        return;
      }
      const delay = Math.min(this.retryBaseMs * 2 ** attempts, this.maxRetryMs);
      await this.store.markFailed(id, reason, this.clock() + delay);
      this.logger.warn(
        `restauth: mail to ${message.to} failed (${reason}); retry ${failures} in ${delay} ms`,
      );
      return;
    }
    // markSent is retried while the lease, as last renewed, lasts.
    const { ends } = await renewal.stop();
    await this.recordSent(id, message, ends);
  }

  /**
   * markSent, retried while the mail's lease lasts: once the lease ends,
   * another worker (or this one) sends the mail again, so a store down for a
   * moment just after the SMTP server accepted the mail must not cost a
   * second sending. Never rejects: the mail is out, whatever the store says.
   * Stopping cuts the wait short for one last attempt.
   */
  private async recordSent(id: string, message: OutgoingMail, leaseEnds: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.markSent(id);
        return;
      } catch (error) {
        const reason = (error as Error).message;
        const wait = Math.min(this.retryBaseMs * 2 ** attempt, this.maxRetryMs);
        if (this.stopped || performance.now() + wait >= leaseEnds) {
          this.logger.warn(
            `restauth: mail to ${message.to} was sent but could not be recorded (${reason}); it will be sent again, with the same Message-ID, once its lease ends`,
          );
          return;
        }
        if (attempt === 0) {
          this.logger.warn(
            `restauth: mail to ${message.to} was sent; recording it failed (${reason}); retrying while its lease lasts`,
          );
        }
        await this.pause(wait);
      }
    }
  }

  /** Waits `ms`, or less if the worker is stopped meanwhile. */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.endPauses.delete(end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.endPauses.add(end);
    });
  }

  private schedule(at: number | null): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (at === null || this.stopped) return;
    const wait = at - this.clock();
    // Dated further ahead than any lease or retry: dated before the clock went back, due now (claimDue).
    const due = wait > this.aheadMs ? 0 : Math.max(wait, 0);
    this.timer = setTimeout(() => this.wake(), Math.min(due, MAX_TIMER_MS));
    // Waiting for a retry must not keep the process alive on its own.
    this.timer.unref();
  }

  /** Stops after the mail being sent, if any; queued mails stay for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const end of [...this.endPauses]) end();
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
    await this.running;
    await Promise.all(this.slowSends);
  }
}

/** Whether `sending` settles within `ms`; its rejection, when it comes first, is thrown. */
async function settlesWithin(sending: Promise<void>, ms: number): Promise<boolean> {
  const settled = sending.then(() => true);
  // Once the wait is over, a later failure is the caller's to handle on `sending` itself.
  settled.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const slow = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([settled, slow]);
  } finally {
    clearTimeout(timer);
  }
}
