import type pg from 'pg';
import type { PendingHits, SharedRateLimitCounter } from '../../core/ports/rate-limits.js';
import { quotedNames, type SchemaNames } from './migrations.js';

/** The table of shared rate-limit windows (migration 3), in restauth's schema since migration 16. */
export function rateLimitTable(names: SchemaNames): string {
  return `${quotedNames(names).restauth}.rate_limits`;
}

const SWEEP_EVERY = 500;

/** Rate-limit windows in a table, so every instance on the database shares them. */
export class PostgresRateLimitCounter implements SharedRateLimitCounter {
  private hits = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
  ) {}

  async hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }> {
    // One statement: a new window, or one more hit in the current one. A window ending more than two
    // of its lengths from now was opened by a clock set back since: a new one starts, or its client
    // would wait out the whole jump. Instances whose clocks differ by less than a window share windows.
    const { rows } = await this.pool.query<{ count: number; reset_at: Date }>(
      `${hitSql(this.table, '$1', '$2', '$3')} RETURNING count, reset_at`,
      [key, now, windowMs],
    );
    await this.sweepAfter(1, now);
    return { count: rows[0]!.count, resetAt: rows[0]!.reset_at };
  }

  async addHits(
    pending: readonly PendingHits[],
    now: Date,
  ): Promise<Map<string, { count: number; resetAt: Date }>> {
    // As `hit`, for many keys in one statement (one transaction) per window length: ON CONFLICT sees only
    // the inserted columns, so a length per key would cost a lookup per row. One today (refreshes only).
    const byWindow = new Map<number, PendingHits[]>();
    for (const p of pending) {
      const group = byWindow.get(p.windowMs);
      if (group) group.push(p);
      else byWindow.set(p.windowMs, [p]);
    }
    const after = new Map<string, { count: number; resetAt: Date }>();
    for (const [windowMs, group] of byWindow) {
      // Rows are locked in the input's order: every instance sorting alike, two writes never deadlock.
      group.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const { rows } = await this.pool.query<{ key: string; count: number; reset_at: Date }>(
        `INSERT INTO ${this.table} AS w (key, reset_at, count)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[])
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN ${staleWindow('w.reset_at', '$4', '$5')} THEN EXCLUDED.count ELSE w.count + EXCLUDED.count END,
           reset_at = CASE WHEN ${staleWindow('w.reset_at', '$4', '$5')} THEN EXCLUDED.reset_at ELSE w.reset_at END
         RETURNING key, count, reset_at`,
        [group.map((p) => p.key), group.map((p) => p.resetAt), group.map((p) => p.hits), now, windowMs],
      );
      for (const row of rows) after.set(row.key, { count: row.count, resetAt: row.reset_at });
    }
    await this.sweepAfter(
      pending.reduce((sum, p) => sum + p.hits, 0),
      now,
    );
    return after;
  }

  async counted(hits: number, now: Date): Promise<void> {
    await this.sweepAfter(hits, now);
  }

  /** Deletes ended windows once every SWEEP_EVERY hits. */
  private async sweepAfter(hits: number, now: Date): Promise<void> {
    const before = this.hits;
    this.hits += hits;
    if (Math.floor(this.hits / SWEEP_EVERY) > Math.floor(before / SWEEP_EVERY)) {
      await this.pool.query(`DELETE FROM ${this.table} WHERE reset_at < $1`, [now]);
    }
  }

  async peek(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date } | null> {
    const { rows } = await this.pool.query<{ count: number; reset_at: Date }>(
      `SELECT count, reset_at FROM ${this.table}
       WHERE key = $1 AND ${openWindow('reset_at', '$2', '$3')}`,
      [key, now, windowMs],
    );
    return rows[0] ? { count: rows[0].count, resetAt: rows[0].reset_at } : null;
  }

  async renew(key: string, resetAt: Date): Promise<void> {
    // As open_sign_in's call writes a known client (open-sign-in.ts).
    await this.pool.query(
      `INSERT INTO ${this.table} AS w (key, reset_at, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET reset_at = EXCLUDED.reset_at, count = 1`,
      [key, resetAt],
    );
  }
}

/**
 * One hit on the key `key` at `now` in a window of `windowMs` (SQL expressions): a new window, or one
 * more hit in the current one (RETURNING left to the caller).
 */
export function hitSql(table: string, key: string, now: string, windowMs: string): string {
  return `INSERT INTO ${table} AS w (key, reset_at, count) VALUES (${key}, ${now}::timestamptz + ${windowMs} * interval '1 millisecond', 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN ${staleWindow('w.reset_at', now, windowMs)} THEN 1 ELSE w.count + 1 END,
         reset_at = CASE WHEN ${staleWindow('w.reset_at', now, windowMs)} THEN EXCLUDED.reset_at ELSE w.reset_at END`;
}

/**
 * Whether the window ending at `resetAt` is open at `now`: not ended, and not opened by a clock since
 * set back (ending more than two of its lengths from now), as `hit` reads a window.
 */
export function openWindow(resetAt: string, now: string, windowMs: string): string {
  return `${resetAt} > ${now} AND ${resetAt} <= ${now}::timestamptz + 2 * ${windowMs} * interval '1 millisecond'`;
}

/** Whether the window ending at `resetAt` is no longer open at `now` (ended, or opened by a clock since set back). */
function staleWindow(resetAt: string, now: string, windowMs: string): string {
  return `(${resetAt} <= ${now} OR ${resetAt} > ${now}::timestamptz + 2 * ${windowMs} * interval '1 millisecond')`;
}
