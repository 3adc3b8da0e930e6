import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createPool, inTransaction } from '../../src/stores/postgres/pool.js';
import { ownClusterUnavailable, startOwnCluster, type OwnCluster } from '../support/postgres-cluster.js';

/**
 * A transaction whose work fails is rolled back; when the server stalls at that moment (its backend
 * SIGSTOPped: a partition, an overloaded host swapping), the ROLLBACK times out at the client's
 * query_timeout. The connection was then returned to the pool as it was, the ROLLBACK still
 * outstanding on it, and the next caller's query queued behind it and timed out as well: a request
 * answered 503 for another's fault. Now a connection whose ROLLBACK failed is destroyed, and the next
 * caller gets a new one at once. Real fault: a cluster of the test's own, one backend stopped.
 */
describe(
  'a ROLLBACK the server never answers',
  { skip: ownClusterUnavailable() ?? false, timeout: 120_000 },
  () => {
    let cluster: OwnCluster;
    let pool: pg.Pool;
    const stopped: number[] = [];

    before(async () => {
      cluster = await startOwnCluster();
      pool = createPool(
        // One connection: the next caller would be handed the same one if it were kept.
        { url: cluster.url, poolMin: 0, poolMax: 1, connectTimeout: 10, queryTimeout: 1, keepAlive: 0 },
        { warn() {}, info() {} },
      );
    });
    after(async () => {
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
      await pool?.end();
      await cluster?.destroy();
    });

    it('destroys the connection, so the next caller is served on a new one', async () => {
      let stalledPid = 0;
      await assert.rejects(
        inTransaction(pool, async (client) => {
          const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          stalledPid = rows[0]!.pid;
          // The server stops answering this connection, then the work fails: its ROLLBACK times out.
          process.kill(stalledPid, 'SIGSTOP');
          stopped.push(stalledPid);
          throw new Error('the work failed');
        }),
        // The work's error, not the ROLLBACK's.
        /the work failed/,
      );
      // The stalled backend is still stopped: kept in the pool, its connection would time this query out.
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      assert.notEqual(rows[0]!.pid, stalledPid);
      assert.equal(pool.totalCount, 1);
    });
  },
);
