import type pg from 'pg';
import type { MailQueue, QueuedMail } from '../../mail/mail-queue.js';
import type { MailMessage } from '../../mail/mailer.js';

interface Row {
  id: string;
  message: MailMessage;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
}

function toMail(row: Row): QueuedMail {
  return {
    id: row.id,
    message: row.message,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at.getTime(),
    lastError: row.last_error,
  };
}

/**
 * The mail outbox as a table, shared by every instance on the database.
 * Claiming is one UPDATE over rows locked with SKIP LOCKED: two workers never
 * take the same mail, and a mail whose worker died is retried once its lease
 * runs out.
 */
export class PostgresMailQueue implements MailQueue {
  readonly shared = true;

  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
  ) {}

  async enqueue(message: MailMessage, now: number): Promise<QueuedMail> {
    const { rows } = await this.pool.query<Row>(
      `INSERT INTO ${this.table} (id, message, attempts, next_attempt_at)
       VALUES (gen_random_uuid(), $1, 0, $2) RETURNING id::text, message, attempts, next_attempt_at, last_error`,
      [message, new Date(now)],
    );
    return toMail(rows[0]!);
  }

  async claim(now: number, maxAttempts: number, leaseMs: number): Promise<QueuedMail[]> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET next_attempt_at = $3
       WHERE id IN (
         SELECT id FROM ${this.table} WHERE next_attempt_at <= $1 AND attempts < $2
         ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED)
       RETURNING id::text, message, attempts, next_attempt_at, last_error`,
      [new Date(now), maxAttempts, new Date(now + leaseMs)],
    );
    return rows.map(toMail);
  }

  async nextDue(maxAttempts: number): Promise<number | null> {
    const { rows } = await this.pool.query<{ due: Date | null }>(
      `SELECT min(next_attempt_at) AS due FROM ${this.table} WHERE attempts < $1`,
      [maxAttempts],
    );
    return rows[0]?.due ? rows[0].due.getTime() : null;
  }

  async remove(id: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.table} WHERE id = $1`, [id]);
  }

  async failed(id: string, error: string, nextAttemptAt: number): Promise<QueuedMail | undefined> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1
       RETURNING id::text, message, attempts, next_attempt_at, last_error`,
      [id, error, new Date(nextAttemptAt)],
    );
    return rows[0] ? toMail(rows[0]) : undefined;
  }
}
