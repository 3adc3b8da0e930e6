import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPostgresPool, PostgresStore, schemaNames } from '../../src/stores/postgres/index.js';
import {
  dropDatabase,
  realServerOnly,
  testPostgres,
  testRoles,
  testStoreConfig,
} from '../support/postgres.js';

/**
 * The hot paths run as named statements (planned once per connection), and
 * `store.preparedStatements: false` turns them off for a transaction-mode
 * pooler. Seen from the one pooled connection's own session.
 */
// PGlite runs with named statements off (see testStoreConfig): there is nothing to see there.
const skip = realServerOnly() ? 'named statements are off on PGlite (test/support/postgres.ts)' : false;

describe('named prepared statements', { skip }, () => {
  for (const preparedStatements of [true, false]) {
    it(`preparedStatements: ${preparedStatements}`, async () => {
      const server = await testPostgres();
      const url = await server.createDatabase();
      const config = { ...testStoreConfig(url), poolMax: 1, preparedStatements };
      const pool = await openPostgresPool(config, testRoles);
      const store = new PostgresStore(pool, schemaNames(config, testRoles), { preparedStatements });
      try {
        const user = await store.createUser(
          { username: 'prep', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
          null,
        );
        const session = await store.createSession({
          id: '00000000-0000-4000-8000-0000000000a1',
          userId: user.id,
          createdAt: new Date(),
          notAfter: new Date(Date.now() + 3_600_000),
          refreshSecret: 'secret',
          firstRefreshTokenHash: 'hash-0',
          maxPerUser: 10,
        });
        assert.ok(await store.findRefreshToken('hash-0'));
        assert.equal(await store.rotateRefreshToken('hash-0', 'hash-1', new Date()), true);
        assert.ok(await store.findSession(session.id));
        assert.ok(await store.findUserById(user.id));
        const { rows } = await pool.query<{ name: string }>(
          `SELECT name FROM pg_prepared_statements WHERE name LIKE 'restauth\\_%' ORDER BY name`,
        );
        // createSession (its insert and cap one call, migration 36), findRefreshToken, rotateRefreshToken,
        // findSession, findUserById.
        assert.equal(rows.length, preparedStatements ? 5 : 0);
      } finally {
        await store.close();
        await dropDatabase(server.url, url);
      }
    });
  }
});
