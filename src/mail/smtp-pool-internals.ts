/**
 * The parts of nodemailer's SMTPPool (7.0) a pooled send's deadline reads: they are nodemailer's
 * internals, not its API. `poolInternals` checks at start that they are there, so a nodemailer that
 * renamed them stops restauth from starting with pool: true (loudly) instead of leaving a late mail's
 * connection open, or a late queued mail to be sent after all, without a word. A test pins each one
 * (test/mail/smtp-pool-internals.test.ts).
 */

/** A mail in the pool: waiting in `_queue`, or on a connection as its `queueEntry`. */
export interface PoolEntry {
  mail: { message: { getHeader(name: string): unknown } };
  callback(error: Error | null): void;
}

/** One connection of the pool (PoolResource): the mail it carries, if any; it emits 'error' to leave. */
export interface PoolConnection {
  queueEntry?: PoolEntry | false;
  emit(event: 'error', error: Error): boolean;
}

export interface PoolInternals {
  /** The mails waiting for a connection, in order. */
  _queue: PoolEntry[];
  /** The pool's connections, each carrying one mail at most. */
  _connections: PoolConnection[];
}

/** `transporter` (a nodemailer transport's), as the pool it must be; throws when it is not one. */
export function poolInternals(transporter: unknown): PoolInternals {
  const pool = transporter as Partial<PoolInternals> | null;
  if (!Array.isArray(pool?._queue) || !Array.isArray(pool._connections)) {
    throw new Error(
      "nodemailer's SMTP pool has no _queue or _connections (nodemailer 7.0's): with email.pool, " +
        "restauth needs them to end only a late mail's connection; use the nodemailer restauth ships with",
    );
  }
  return pool as PoolInternals;
}

/** The Message-ID a pooled mail carries (restauth gives each one: mailer.ts). */
export function messageIdOf(entry: PoolEntry): unknown {
  return entry.mail.message.getHeader('message-id');
}
