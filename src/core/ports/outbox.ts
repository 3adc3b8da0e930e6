/**
 * The durable mail queue: the port every backend provides to the mail worker
 * (src/mail/worker.ts): a JSON file in file mode (src/stores/file/outbox.ts),
 * a table with PostgreSQL (src/stores/postgres/outbox.ts). See docs/mail.md.
 *
 * A mail is written down *before* anyone tries to send it, so a crash, a
 * restart or an SMTP server that is down loses nothing: the worker retries
 * with exponential backoff and gives up ("dead") after a bounded number of
 * attempts, keeping the dead mail for inspection.
 */

/**
 * A rendered mail, ready to queue (src/mail renders it; the outbox keeps it until it is sent):
 * the one shape of a mail from the notifier to the SMTP transport.
 */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** One queued mail as the persistence keeps it. Times are epoch milliseconds. */
export interface OutboxMail {
  /** Unique, chosen by the persistence (a UUID). */
  id: string;
  message: OutgoingMail;
  /** Failed attempts so far (a claim is not an attempt; markFailed counts one). */
  attempts: number;
  /** Not before this time; a claimed mail's lease end. */
  nextAttemptAt: number;
  lastError: string | null;
}

/**
 * The persistence port: what the worker needs from a store, and nothing
 * else. Implementations:
 *
 * - keep every mail until markSent (deleting it then is fine) or until it is
 *   dead (markFailed with `nextAttemptAt: null`: never claimed again);
 * - make `enqueue` durable before it resolves (fsync, or a committed row);
 * - make `claimDue` exclusive for the lease: a mail it returns is not
 *   returned again, to this or another worker, before `now + leaseMs`, unless
 *   markFailed has set a new time. A worker that dies mid-send therefore
 *   leaves the mail to be retried after the lease: delivery is at least once;
 * - never throw for an unknown id in markSent/markFailed (the mail may have
 *   been handled by another instance after its lease ran out).
 *
 * A mail that carries a token (a reset link, a code) is written by the
 * backend's store with that token, both or neither (see
 * Store.createOneTimeToken): PostgreSQL inserts the row in the token's
 * transaction, the file backend holds the mail until the token's commit. Once
 * such mails are committed the outbox tells its `onQueued` listeners, so the
 * worker wakes; it never needs to know who queued.
 */
export interface MailOutboxStore {
  /**
   * True when several processes use it (one table for every instance): the
   * worker then also polls, since another instance's enqueue cannot wake it.
   */
  readonly shared: boolean;
  /** Stores a new mail due at `now`, with 0 attempts; resolves once it is durable. */
  enqueue(message: OutgoingMail, now: number): Promise<OutboxMail>;
  /**
   * Up to `limit` live mails with `nextAttemptAt <= now`, oldest due first,
   * each leased until `now + leaseMs` (its nextAttemptAt moves there). A mail
   * dated further ahead than `now + aheadMs` (no lease or retry is that long)
   * was dated before the clock went back: it is due too, where it would wait
   * the whole jump. The mails `excluding` names (the ones this worker is
   * sending) are never claimed: a claim would move the lease their renewals
   * hold, so the next renewal would find the lease gone and stop.
   */
  claimDue(
    now: number,
    limit: number,
    leaseMs: number,
    aheadMs?: number,
    excluding?: readonly string[],
  ): Promise<OutboxMail[]>;
  /**
   * Moves a claimed mail's lease end from `leasedUntil` (what the claim or the
   * last renewal set) to `until`, only if it is still `leasedUntil`: the lease
   * is still this worker's. False when it is not (the lease ended and another
   * worker claimed the mail, or it was sent or failed meanwhile).
   */
  renewLease(id: string, leasedUntil: number, until: number): Promise<boolean>;
  /** The mail went out: it leaves the queue. */
  markSent(id: string): Promise<void>;
  /**
   * One more failed attempt, with its error. `nextAttemptAt` is when to try
   * again; null means the worker gives up: the mail is dead and stays only
   * for inspection.
   */
  markFailed(id: string, error: string, nextAttemptAt: number | null): Promise<void>;
  /**
   * The earliest nextAttemptAt of a live mail (leased ones included, but not those `excluding` names:
   * claimDue would not return them), or null when none waits.
   */
  nextDueAt(excluding?: readonly string[]): Promise<number | null>;
  /** How many live mails wait to be sent (leased ones included, dead ones not): the queue depth metric. */
  depth(): Promise<number>;
  /** Calls `listener` each time this process has queued mails (enqueue, or the store with a token). */
  onQueued(listener: () => void): void;
}
