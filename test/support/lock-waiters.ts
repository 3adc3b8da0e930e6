import type pg from 'pg';

/**
 * Resolves once `n` statements of the pool's database wait for a lock. Polled, each poll after the
 * one before answered: PostgreSQL signals no backend starting to wait.
 */
export async function lockWaiters(pool: pg.Pool | pg.ClientBase, n: number): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n >= n) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
