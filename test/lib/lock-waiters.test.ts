import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { lockWaiters } from '../support/lock-waiters.js';
import { realServerOnly } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * lockWaiters polled by the DBA's own client, inside the transaction that holds the lock (as a fault
 * test holds a table, then waits for the requests it holds). Its transaction keeps the list of backends
 * pg_stat_activity showed it first: a backend that connected after that poll (a new pooled
 * connection of the app's) was never seen waiting, and pg-terminated-mid-batch polled for ever on a
 * busy machine, where the app's sign-ins connected only after the first poll.
 */
describe('lockWaiters', { skip: realServerOnly() ?? false, timeout: 90_000 }, () => {
  const database = useTestDatabase({ migrateThrough: 0 });
  before(async () => {
    await database.pool.query('CREATE TABLE held (x int)');
  });

  it('sees, from inside the holding transaction, a waiter that connected after its first look', async () => {
    const holder = await database.pool.connect();
    const waiter = new pg.Client({ connectionString: database.url });
    let waiting: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
      // The holder's transaction reads pg_stat_activity before the waiter's backend exists.
      await holder.query('SELECT count(*) FROM pg_stat_activity');
      await waiter.connect();
      const { rows } = await waiter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      waiting = waiter.query('SELECT x FROM held');
      assert.deepEqual(await lockWaiters(holder, 1), [rows[0]!.pid]);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
      await waiting;
      await waiter.end();
    }
  });

  it('stops polling once its signal aborts', async () => {
    const stop = new AbortController();
    const polling = lockWaiters(database.pool, 1, { signal: stop.signal });
    stop.abort();
    await assert.rejects(polling, { name: 'AbortError' });
  });
});
