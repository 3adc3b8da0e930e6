import type pg from 'pg';

/** How long lockWaiters polls before it fails: what a test waits for comes in seconds, even on a busy machine. */
const MOST_WAITED_MS = 60_000;

/**
 * Resolves, with their pids, once `n` statements of the pool's database wait for a lock. Polled, each
 * poll after the one before answered: PostgreSQL signals no backend starting to wait.
 *
 * Each poll first discards the backend's snapshot of pg_stat_activity (pg_stat_clear_snapshot): a
 * transaction keeps the list of backends it read first until it ends (only their wait events are read
 * afresh), so a DBA's client polling inside the transaction that holds the lock never saw a backend
 * that connected after its first poll (pg-terminated-mid-batch polled for ever so on a busy machine,
 * the app's sign-ins on new connections). The poll stops when `signal` aborts (the race it was in is
 * decided: it must not poll on beside what the test does next) and fails after a minute, naming what
 * it waited for, rather than as the file's timeout with no word of where.
 */
export async function lockWaiters(
  client: pg.Pool | pg.ClientBase,
  n: number,
  options: { signal?: AbortSignal } = {},
): Promise<number[]> {
  const deadline = Date.now() + MOST_WAITED_MS;
  for (;;) {
    options.signal?.throwIfAborted();
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (rows.length >= n) return rows.map((row) => row.pid);
    if (Date.now() > deadline)
      throw new Error(
        `still waiting after ${MOST_WAITED_MS / 1000} s for ${n} lock waiters (${rows.length} now)`,
      );
    await new Promise((resolve) => setImmediate(resolve));
  }
}
