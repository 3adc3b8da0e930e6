import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { AuthError } from '../../src/core/errors.js';
import { createPool, inTransaction } from '../../src/stores/postgres/pool.js';
import { databaseWithSetting, type DatabaseWithSetting } from '../support/database-with-setting.js';
import { realServerOnly, testStoreConfig } from '../support/postgres.js';

/**
 * A DBA sets idle_in_transaction_session_timeout on restauth's database (to protect the server from
 * a client that leaves transactions open). restauth's event loop, busy with other requests on a
 * loaded host, can leave a transaction idle past it between two statements: the server then ends
 * the connection with FATAL 25P03. When Node's next statement was already written as the FATAL came,
 * the driver gives the FATAL to that statement as its error, not to the connection: a DatabaseError
 * coded 25P03, which was no connection fault, so the request answered 500, the dead connection went
 * back to the pool, and the outage monitor heard nothing. The fault is made for real: the event loop
 * blocked inside a transaction (as a long task blocks it) until the server has ended the backend,
 * seen from another process, and the next statement sent before the FATAL is read.
 */
describe(
  'idle_in_transaction_session_timeout ends a transaction restauth left idle',
  { skip: realServerOnly() ?? false },
  () => {
    let database: DatabaseWithSetting;
    let pool: pg.Pool;
    const warnings: string[] = [];

    before(async () => {
      database = await databaseWithSetting('idle_in_transaction_session_timeout = 100');
      pool = createPool(
        { ...testStoreConfig(database.url), poolMax: 1 },
        { warn: (message) => warnings.push(message), info() {} },
      );
    });
    after(async () => {
      await pool?.end();
      await database?.drop();
    });

    /**
     * Blocks the event loop until the backend `pid` has gone: the loop reads no FATAL meanwhile. Bounded
     * (a minute; the server ends it 100 ms idle): with the loop blocked, the test's timeout cannot fire.
     */
    const blockUntilGone = (pid: number) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const alive = execFileSync(
          'psql',
          [database.url, '-Atc', `SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`],
          { encoding: 'utf8', timeout: 60_000 },
        );
        if (alive.trim() === '0') return;
        if (Date.now() > deadline) throw new Error(`backend ${pid} still there after a minute`);
      }
    };

    it('answers the 503 with Retry-After, and the next transaction runs on a new connection', async () => {
      let endedPid = 0;
      const failed = await inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        endedPid = rows[0]!.pid;
        blockUntilGone(endedPid);
        await client.query('SELECT 1');
      }).then(
        () => null,
        (error: unknown) => error,
      );
      assert.ok(failed instanceof AuthError, `an AuthError, not ${String(failed)}`);
      assert.equal(failed.code, 'store_unavailable');
      assert.equal((failed.cause as { code?: string }).code, '25P03');
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      assert.notEqual(rows[0]!.pid, endedPid);
      // Logged once, naming the setting: not as an outage (the database is there all along).
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /idle_in_transaction_session_timeout/);
    });
  },
);
