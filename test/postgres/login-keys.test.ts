import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import type { SchemaNames } from '../../src/stores/postgres/migrations.js';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import { migrateUpTo } from '../support/postgres-migrations.js';
import { useTestDatabase } from '../support/test-database.js';

const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'web_anon',
  authenticatedRole: 'normal_user',
};

/**
 * Migration 12: the stored user-name keys and addresses become core's login
 * keys (SQL's lower() left the Kelvin sign and full-width letters as they
 * were); users that become one login stop the upgrade, named, unmerged.
 */
describe('PostgreSQL: logins normalised by migration 12', () => {
  const db = useTestDatabase({ max: 4, migrateThrough: 0 });
  let pool: pg.Pool;

  before(async () => {
    ({ pool } = db);
    await migrateUpTo(pool, names, 11);
    // As restauth stored them before: username_lowercase = lower(username), email lower-cased by SQL.
    await pool.query(`INSERT INTO auth.users (username, username_lowercase, email, password) VALUES
      ('kate', 'kate', NULL, 'h1'),
      ('${'\u212A'}ate', '${'\u212A'}ate', NULL, 'h2'),
      ('Ｂob', 'ｂob', 'ｂob@corp.test', 'h3'),
      ('Erin', 'erin', 'erin@corp.test', 'h4')`);
  });
  it('refuses the upgrade while two users are one login, naming them, and changes nothing', async () => {
    await assert.rejects(migrate(pool, names), (error: Error) => {
      assert.match(error.message, /migration 12/u);
      assert.match(error.message, /users 1 and 2 share the user name "kate"/u);
      return true;
    });
    const { rows } = await pool.query<{ version: number }>(
      'SELECT max(version) AS version FROM auth.restauth_migrations',
    );
    assert.equal(rows[0]!.version, 11);
    const bob = await pool.query('SELECT username_lowercase, email FROM auth.users WHERE id = 3');
    assert.deepEqual(bob.rows[0], { username_lowercase: 'ｂob', email: 'ｂob@corp.test' });
  });

  it('once the operator renames one, stores login keys the store finds users by', async () => {
    await pool.query(`UPDATE auth.users SET username = 'kelvin', username_lowercase = 'kelvin' WHERE id = 2`);
    assert.ok((await migrate(pool, names)).includes(12));
    const { rows } =
      await pool.query(`SELECT a.id, a.username_lowercase, u.email FROM restauth.accounts a JOIN auth.users u ON u.id = a.uid
       ORDER BY a.id`);
    assert.deepEqual(rows, [
      { id: 1, username_lowercase: 'kate', email: null },
      { id: 2, username_lowercase: 'kelvin', email: null },
      { id: 3, username_lowercase: 'bob', email: 'bob@corp.test' },
      { id: 4, username_lowercase: 'erin', email: 'erin@corp.test' },
    ]);
    const store = new PostgresStore(pool, names, {
      preparedStatements: db.config.preparedStatements,
    });
    assert.equal((await store.findUserByUsername('BOB'))?.username, 'Ｂob');
    assert.equal((await store.findUserByEmail('ＢＯＢ@corp.test'))?.username, 'Ｂob');
    assert.equal((await store.findUserByUsername('\u212AATE'))?.username, 'kate');
    await assert.rejects(
      store.createUser(
        { username: ' KATE', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
        null,
      ),
      { code: 'user_already_exists' },
    );
  });
});
