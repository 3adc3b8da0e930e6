import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPool } from '../../src/stores/postgres/pool.js';
import { dropDatabase, realServerOnly, testPostgres } from '../support/postgres.js';

/**
 * A DBA sets idle_session_timeout on restauth's database (or role): PostgreSQL ends every connection
 * idle outside a transaction for longer. The pool's idle connections are ended so (57P05) again and
 * again; each was logged as a connection that failed, a warning per connection and idle period (with
 * store.poolMin above 0, for ever). It is expected and harmless: the pool makes new connections, the
 * queries after it are answered, and it is said once, at info. Real fault: the setting on a real server.
 */
describe(
  'PostgreSQL ending idle connections (idle_session_timeout)',
  { skip: realServerOnly() ?? false },
  () => {
    let serverUrl: string;
    let url: string;
    let pool: pg.Pool;
    const lines: string[] = [];

    before(async () => {
      const server = await testPostgres();
      serverUrl = server.url;
      url = await server.createDatabase();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(
          `ALTER DATABASE ${new URL(url).pathname.slice(1)} SET idle_session_timeout = '200ms'`,
        );
      } finally {
        await admin.end();
      }
      pool = createPool(
        { url, poolMin: 0, poolMax: 4, connectTimeout: 10, queryTimeout: 10, keepAlive: 0 },
        { info: (line) => lines.push(`info ${line}`), warn: (line) => lines.push(`warn ${line}`) },
      );
    });
    after(async () => {
      await pool?.end();
      if (url) await dropDatabase(serverUrl, url);
    });

    it('serves on with new connections and says so once, at info, without a warning', async () => {
      for (let round = 0; round < 3; round++) {
        // Three connections at once, then idle until the server ends one of them.
        const removed = new Promise((resolve) => pool.once('remove', resolve));
        await Promise.all([1, 2, 3].map(() => pool.query('SELECT 1')));
        await removed;
        const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
        assert.equal(rows[0]?.one, 1);
      }
      assert.deepEqual(
        lines.filter((line) => line.startsWith('warn')),
        [],
      );
      const told = lines.filter((line) => line.includes('idle_session_timeout'));
      assert.equal(told.length, 1, lines.join('\n'));
      assert.match(told[0]!, /^info restauth: PostgreSQL .* ends idle connections/u);
    });
  },
);
