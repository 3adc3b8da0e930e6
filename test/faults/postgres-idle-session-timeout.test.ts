import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseWithSetting, type DatabaseWithSetting } from '../support/database-with-setting.js';
import { spawnSync } from 'node:child_process';
import type pg from 'pg';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { createPool, inTransaction } from '../../src/stores/postgres/pool.js';
import { postgresReadiness } from '../../src/stores/postgres/readiness.js';
import { realServerOnly, testRoles, testStoreConfig } from '../support/postgres.js';

/**
 * Blocks this process's event loop until the server has ended the sessions `pids` (idle_session_timeout),
 * so their 57P05 waits unread on their sockets and the pool hands those connections out, as when the
 * two cross on a busy machine. A child polls pg_stat_activity from a connection of its own.
 */
function blockUntilEnded(url: string, pids: number[]): void {
  const waited = spawnSync(
    process.execPath,
    [
      '-e',
      `const pg = require('pg');
       (async () => {
         const admin = new pg.Client({ connectionString: process.env.URL });
         await admin.connect();
         for (;;) {
           const { rowCount } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [${JSON.stringify(pids)}]);
           if (rowCount === 0) break;
           await new Promise((resolve) => setTimeout(resolve, 20));
         }
         await admin.end();
       })().catch((error) => { console.error(error); process.exit(1); });`,
    ],
    { env: { ...process.env, URL: url }, encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(waited.status, 0, waited.stderr);
}

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
    let database: DatabaseWithSetting | undefined;
    let url: string;
    let pool: pg.Pool;
    const lines: string[] = [];

    before(async () => {
      database = await databaseWithSetting("idle_session_timeout = '1s'");
      url = database.url;
      pool = createPool(
        { url, poolMin: 0, poolMax: 4, connectTimeout: 10, queryTimeout: 10, keepAlive: 0 },
        { info: (line) => lines.push(`info ${line}`), warn: (line) => lines.push(`warn ${line}`) },
      );
    });
    after(async () => {
      await pool?.end();
      await database?.drop();
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

    it("a transaction handed a connection the server ended runs on another, where BEGIN's 57P05 answered 503", async () => {
      // A pool of one: the connection handed out is the one the server ends.
      const single = createPool(
        { url, poolMin: 0, poolMax: 1, connectTimeout: 10, queryTimeout: 10, keepAlive: 0 },
        { info: () => {}, warn: (line) => lines.push(`warn ${line}`) },
      );
      try {
        const client = await single.connect();
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const ended = rows[0]!.pid;
        client.release();
        blockUntilEnded(url, [ended]);
        const ranOn = await inTransaction(single, async (next) => {
          const answer = await next.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          return answer.rows[0]!.pid;
        });
        assert.notEqual(ranOn, ended);
      } finally {
        await single.end();
      }
    });

    it("a statement, a transaction and /ready's look, handed the first of several connections the server ended at once, run on a new one", async () => {
      const several = createPool(
        { url, poolMin: 0, poolMax: 3, connectTimeout: 10, queryTimeout: 10, keepAlive: 0 },
        { info: () => {}, warn: (line) => lines.push(`warn ${line}`) },
      );
      /** Three connections at once, idle since the same moment, then ended by the server together. */
      const threeEnded = async () => {
        const held = await Promise.all(
          [1, 2, 3].map(async () => {
            const client = await several.connect();
            const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
            return { client, pid: rows[0]!.pid };
          }),
        );
        for (const { client } of held) client.release();
        blockUntilEnded(
          url,
          held.map(({ pid }) => pid),
        );
      };
      try {
        // A second try was handed the next ended connection and answered 503.
        await threeEnded();
        const { rows } = await several.query<{ one: number }>('SELECT 1 AS one');
        assert.equal(rows[0]?.one, 1);
        // A transaction likewise.
        await threeEnded();
        assert.equal(
          await inTransaction(several, async (client) => (await client.query('SELECT 1')).rowCount),
          1,
        );
        // And /ready's look at the connection the pool hands out (is it read-only?).
        await threeEnded();
        const ready = await postgresReadiness(several, schemaNames(testStoreConfig(url), testRoles));
        assert.equal(ready.checks.database, 'ok', JSON.stringify(ready));
      } finally {
        await several.end();
      }
    });
  },
);
