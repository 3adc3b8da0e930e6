import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { migrations, type SchemaNames } from '../../src/stores/postgres/migrations.js';
import { migrateUpTo } from '../support/postgres-migrations.js';
import { realServerOnly } from '../support/postgres.js';
import { useDatabaseSessions } from '../support/database-sessions.js';

const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'anon',
  authenticatedRole: 'authenticated',
};

/**
 * A migration at start meets a long transaction on the users table: a person's
 * psql session left open in a transaction, a report running, a backup's
 * lock. Its ALTER TABLE waits for the table's exclusive lock, and PostgreSQL
 * queues every later statement on the table behind that waiting request: the
 * instances still serving (a rolling upgrade) could no longer read a user,
 * so every sign-in and refresh stalled until the long transaction ended.
 * Each migration now takes its locks within a short lock_timeout and, refused,
 * says so and tries again: the others' statements run between attempts, and
 * the migration is applied once the lock is free.
 */
describe(
  'a migration waiting for a lock a long transaction holds on the users table',
  { skip: realServerOnly() ?? false },
  () => {
    const database = useDatabaseSessions();

    it(
      'lets readers of the table through while it waits, and is applied once the transaction ends',
      // A guard only: without the lock timeout the migration's lock request blocks the reader for ever.
      { timeout: 120_000 },
      async (context) => {
        // Migration 10 adds a column to the users table (ALTER TABLE: the table's exclusive lock).
        await migrateUpTo(database.pool, names, 9);
        const holder = await database.connected();
        await holder.query('BEGIN');
        await holder.query('SELECT count(*) FROM auth.users');

        const waits = new EventEmitter();
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
          .pid;
        const migrating = migrate(database.pool, names, {
          onLockWait: (message) => waits.emit('wait', message),
          // Told again at each refusal here, where a server says so once a minute.
          lockWaitReportMs: 0,
        });
        const [message] = (await once(waits, 'wait')) as [string];
        assert.match(message, /migration 10 .*waits for a lock/u);
        // It names the likely holder: the session whose transaction is older than the wait.
        assert.match(
          message,
          new RegExp(`pid ${holderPid} \\([^)]*idle in transaction; in a transaction for \\d+ s\\)`, 'u'),
        );
        // And says again how long it has waited, while it goes on, also after an NTP step back a day
        // (only Date is mocked): taken on the wall clock, the wait read as -86,400 s, unsaid, and the
        // next report was due a day later.
        context.mock.timers.enable({ apis: ['Date'], now: Date.now() - 24 * 3600 * 1000 });
        const [again] = (await once(waits, 'wait')) as [string];
        context.mock.timers.reset();
        assert.match(again, /migration 10 .*waits for a lock another session holds \(for \d+ s now\)/u);

        // Not queued behind the migration's lock request: answered while the long transaction goes on.
        const reader = await database.connected();
        const { rows } = await reader.query<{ count: string }>('SELECT count(*) FROM auth.users');
        assert.equal(rows[0]?.count, '0');

        await holder.query('COMMIT');
        const applied = await migrating;
        assert.deepEqual(
          applied,
          migrations(names)
            .map((migration) => migration.version)
            .filter((version) => version > 9),
        );
      },
    );
  },
);
