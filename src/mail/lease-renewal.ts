import type { MailOutboxStore } from '../core/ports/outbox.js';

/** A claimed mail's lease: its end as stored (the fencing token) and on this process's monotonic clock. */
export interface MailLease {
  /** The lease end the claim or the last renewal stored, in epoch ms on the worker's clock. */
  until: number;
  /** The same end on performance.now(): when this worker must count the lease as gone. */
  ends: number;
}

/**
 * Keeps one mail's lease while it is being sent: an SMTP server that answers
 * slowly keeps a send alive past the lease (nodemailer's socket timeout counts
 * only silence), and another instance sharing the outbox would claim the mail
 * and send it again. Once two thirds of the lease remain, the lease is moved a
 * whole lease on, again and again until stop; each renewal succeeds only while
 * the stored lease is still the one this worker set (renewLease). A lost lease
 * is reported once and not renewed again.
 */
export class LeaseRenewal {
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private stopped = false;
  private failedOnce = false;
  /** True once the store said the lease is no longer this worker's. */
  lost = false;

  constructor(
    private readonly store: MailOutboxStore,
    private readonly id: string,
    readonly lease: MailLease,
    private readonly leaseMs: number,
    private readonly clock: () => number,
    private readonly report: { lost(): void; failed(error: Error): void },
  ) {
    this.plan();
  }

  private plan(delay = this.lease.ends - (this.leaseMs * 2) / 3 - performance.now()): void {
    if (this.stopped || this.lost) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.renewing = this.renew().finally(() => (this.renewing = null));
      },
      Math.max(delay, 0),
    );
    // A send in progress keeps the process alive; its lease's timer need not.
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const until = this.clock() + this.leaseMs;
    const started = performance.now();
    try {
      if (await this.store.renewLease(this.id, this.lease.until, until)) {
        this.lease.until = until;
        this.lease.ends = started + this.leaseMs;
        this.plan();
      } else {
        this.lost = true;
        this.report.lost();
      }
    } catch (error) {
      // The store failed for a moment: try again a third of a lease later. Said once per mail.
      if (!this.failedOnce) this.report.failed(error as Error);
      this.failedOnce = true;
      this.plan(this.leaseMs / 3);
    }
  }

  /** No more renewals; resolves once one under way has ended, so the lease read after is settled. */
  async stop(): Promise<MailLease> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.renewing;
    return this.lease;
  }
}
