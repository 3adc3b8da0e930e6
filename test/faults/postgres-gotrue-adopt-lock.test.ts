import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { migrations, type SchemaNames } from '../../src/stores/postgres/migrations.js';
import { createGoTrueMadeDatabase } from '../postgres/gotrue-made-database.js';
import { realServerOnly } from '../support/postgres.js';
import { useDatabaseSessions } from '../support/database-sessions.js';

const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'anon',
  authenticatedRole: 'authenticated',
};

/**
 * restauth's first start on a database GoTrue made serves GoTrue's schema in one transaction that
 * alters GoTrue's tables (auth.users among them). A long transaction on auth.users (GoTrue itself
 * still serving, a report, a psql session left open) made that step wait for the table's lock with
 * no limit, and PostgreSQL queued every later statement on the table behind it: GoTrue's own
 * sign-ins stalled for as long as that transaction lasted. The step now takes its locks within the
 * migrations' lock_timeout and, refused, says so and tries again whole: writers get through between
 * attempts, and the schema is served once the lock is free.
 */
describe(
  'serving a GoTrue-made schema while a long transaction holds auth.users',
  { skip: realServerOnly() ?? false },
  () => {
    const database = useDatabaseSessions((url) => createGoTrueMadeDatabase(url));

    it(
      'lets writers of the table through while it waits, and serves the schema once the transaction ends',
      // A guard only: without the lock timeout the step's lock request blocks the second writer for ever.
      { timeout: 120_000 },
      async () => {
        const holder = await database.connected();
        await holder.query('BEGIN');
        // GoTrue signing Gail in: a row lock and the table's ROW EXCLUSIVE lock, which the step's
        // foreign keys, triggers and indexes on auth.users conflict with (a plain reader's would not).
        await holder.query(`UPDATE auth.users SET last_sign_in_at = now() WHERE email = 'gail@example.com'`);

        const waits = new EventEmitter();
        const migrating = migrate(database.pool, names, {
          onLockWait: (message) => waits.emit('wait', message),
        });
        const [message] = (await once(waits, 'wait')) as [string];
        assert.match(message, /serving the schema GoTrue made waits for a lock/u);

        // Hugo signing in: not queued behind the step's lock request, answered while the long
        // transaction goes on.
        const reader = await database.connected();
        const signedIn = await reader.query(
          `UPDATE auth.users SET last_sign_in_at = now() WHERE email = 'hugo@example.com'`,
        );
        assert.equal(signedIn.rowCount, 1);

        await holder.query('COMMIT');
        const applied = await migrating;
        // Every migration once, though the step was tried more than once.
        assert.deepEqual(
          applied,
          migrations(names).map((migration) => migration.version),
        );
        const accounts = await reader.query<{ count: string }>('SELECT count(*) FROM restauth.accounts');
        assert.equal(accounts.rows[0]?.count, '2');
      },
    );
  },
);
