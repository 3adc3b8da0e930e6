import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { BenchConnections } from '../../bench/bench-connections.js';
import { dropDatabase, realServerOnly, testPostgres } from '../support/postgres.js';

/**
 * The bench's own connections outlive a phase that fails: its database's drop terminates their
 * backends (as DROP ... WITH (FORCE) does), and that must not end the run with an uncaught
 * "terminating connection due to administrator command", hiding the phase's error. The termination
 * is caused for real with pg_terminate_backend; an uncaught 'error' event fails this test.
 */
describe(
  "the bench's own connections when a failed phase's database goes",
  { skip: realServerOnly() ?? false },
  () => {
    it('survive their backends terminated, and endAll ends them after', async () => {
      const server = await testPostgres();
      const url = await server.createDatabase();
      const admin = new pg.Client({ connectionString: server.url });
      await admin.connect();
      const connections = new BenchConnections();
      try {
        const observer = connections.client(url);
        await observer.connect();
        const pool = connections.pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 });
        await pool.query('SELECT 1');
        // Not events.once: it rejects on the 'error' event that comes first.
        const observerEnded = new Promise((resolve) => observer.once('end', resolve));
        const pooledRemoved = new Promise((resolve) => pool.once('remove', resolve));
        const { rows } = await admin.query<{ terminated: boolean }>(
          `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = $1`,
          [new URL(url).pathname.slice(1)],
        );
        assert.deepEqual(
          rows.map((row) => row.terminated),
          [true, true],
        );
        // Each connection reads its termination, the observer's and the pooled one's.
        await Promise.all([observerEnded, pooledRemoved]);
        await connections.endAll();
      } finally {
        await admin.end();
        await dropDatabase(server.url, url);
      }
    });
  },
);
