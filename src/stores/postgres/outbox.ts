import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { MailOutboxStore, OutboxMail, OutgoingMail } from '../../core/ports/outbox.js';
import { quotedNames, type SchemaNames } from './migrations.js';

/** The mail outbox table (migration 4), in restauth's schema since migration 16. */
export function outboxTable(names: SchemaNames): string {
  return `${quotedNames(names).restauth}.mail_outbox`;
}

interface Row {
  id: string;
  message: OutgoingMail;
  attempts: number;
  next_attempt_at: Date | null;
  last_error: string | null;
}

const COLUMNS = 'id::text, message, attempts, next_attempt_at, last_error';

function toMail(row: Row): OutboxMail {
  return {
    id: row.id,
    message: row.message,
    attempts: row.attempts,
    // A dead mail (null) is never claimed, so it is never seen here as due.
    nextAttemptAt: row.next_attempt_at?.getTime() ?? Number.POSITIVE_INFINITY,
    lastError: row.last_error,
  };
}

/**
 * The one INSERT of mails into the outbox, for enqueue and for the store's
 * transactions: each element of the jsonb array `mails` (a parameter) becomes a
 * mail due at `due`, with 0 attempts. With `gate`, a FROM item (a CTE of the
 * token just stored), the mails go in only when it has a row.
 */
export function insertMailsSql(table: string, mails: string, due: string, gate?: string): string {
  return `INSERT INTO ${table} (id, message, attempts, next_attempt_at)
    SELECT gen_random_uuid(), mail, 0, ${due} FROM jsonb_array_elements(${mails}::jsonb) AS mail${gate === undefined ? '' : `, ${gate}`}`;
}

/**
 * The mail outbox as a table, shared by every instance on the database.
 * Claiming is one UPDATE over rows locked with SKIP LOCKED: two workers never
 * take the same mail, and a mail whose worker died is retried once its lease
 * runs out. A mail the worker gave up on stays with next_attempt_at NULL.
 */
export class PostgresMailQueue implements MailOutboxStore {
  readonly shared = true;
  private readonly events = new EventEmitter();

  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
  ) {}

  async enqueue(message: OutgoingMail, now: number): Promise<OutboxMail> {
    const { rows } = await this.pool.query<Row>(
      `${insertMailsSql(this.table, '$1', '$2')} RETURNING ${COLUMNS}`,
      [JSON.stringify([message]), new Date(now)],
    );
    this.queued();
    return toMail(rows[0]!);
  }

  async claimDue(
    now: number,
    limit: number,
    leaseMs: number,
    aheadMs = Infinity,
    excluding: readonly string[] = [],
  ): Promise<OutboxMail[]> {
    // $4 NULL (no bound) makes the second test NULL: only what is due by now.
    const { rows } = await this.pool.query<Row>(
      `UPDATE ${this.table} SET next_attempt_at = $3
       WHERE id IN (
         SELECT id FROM ${this.table} WHERE (next_attempt_at <= $1 OR next_attempt_at > $4) AND id <> ALL($5::uuid[])
         ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [
        new Date(now),
        limit,
        new Date(now + leaseMs),
        Number.isFinite(aheadMs) ? new Date(now + aheadMs) : null,
        excluding,
      ],
    );
    return rows.map(toMail);
  }

  async renewLease(id: string, leasedUntil: number, until: number): Promise<boolean> {
    // The lease end this worker set is its fencing token: another worker's claim moved it.
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.table} SET next_attempt_at = $3 WHERE id = $1::uuid AND next_attempt_at = $2`,
      [id, new Date(leasedUntil), new Date(until)],
    );
    return rowCount === 1;
  }

  async markSent(id: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.table} WHERE id = $1::uuid`, [id]);
  }

  async markFailed(id: string, error: string, nextAttemptAt: number | null): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1::uuid`,
      [id, error, nextAttemptAt === null ? null : new Date(nextAttemptAt)],
    );
  }

  async depth(): Promise<number> {
    const { rows } = await this.pool.query<{ depth: number }>(
      `SELECT count(*)::int AS depth FROM ${this.table} WHERE next_attempt_at IS NOT NULL`,
    );
    return rows[0]?.depth ?? 0;
  }

  onQueued(listener: () => void): void {
    this.events.on('queued', listener);
  }

  /** Tells the listeners that mails were committed: enqueue, and the store after a transaction with mails. */
  queued(): void {
    this.events.emit('queued');
  }

  async nextDueAt(excluding: readonly string[] = []): Promise<number | null> {
    const { rows } = await this.pool.query<{ due: Date | null }>(
      `SELECT min(next_attempt_at) AS due FROM ${this.table} WHERE id <> ALL($1::uuid[])`,
      [excluding],
    );
    return rows[0]?.due ? rows[0].due.getTime() : null;
  }
}
