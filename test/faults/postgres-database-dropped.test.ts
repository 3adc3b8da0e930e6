import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { poolEmptied, useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';

/**
 * The database restauth serves is dropped under it (a wrong restore script, a
 * clean-up naming the wrong database). Its connections are terminated, and
 * every new one is refused with 3D000 ("database ... does not exist"): an
 * outage, not a bug of the request. Each request answers 503 with
 * Retry-After, /ready answers 503 (never a 500 of its own), the process lives,
 * and once the database is restored the same process serves again.
 */
describe(
  'the database dropped under a running app',
  // Dropping the database a PGlite test server is would end the server itself.
  { skip: realServerOnly() ?? false },
  () => {
    const t = useFaultApp();

    it('answers 503 while it is gone, /ready says so, and serves again once it is restored', async () => {
      assert.equal((await t.signUp('before@acme.test')).statusCode, 200);
      const emptied = poolEmptied(t.app);
      await t.admin.query(`DROP DATABASE ${t.database} WITH (FORCE)`);
      await emptied;

      const during = await t.signUp('during@acme.test');
      assert.equal(during.statusCode, 503, during.body);
      assert.ok(during.headers['retry-after']);
      assert.equal(during.json().error_code, 'store_unavailable');
      const ready = await t.app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 503, ready.body);
      assert.equal(ready.json().checks.database, 'unreachable');

      // Restored: made again and migrated (as a restore of a dump would bring the schema).
      await t.admin.query(`CREATE DATABASE ${t.database}`);
      const restorer = new pg.Pool({ connectionString: t.url });
      try {
        const { store, roles } = t.app.config;
        assert.equal(store.type, 'postgres');
        await migrate(restorer, schemaNames(store, roles));
      } finally {
        await restorer.end();
      }
      const after = await t.signUp('during@acme.test');
      assert.equal(after.statusCode, 200, after.body);
    });
  },
);
