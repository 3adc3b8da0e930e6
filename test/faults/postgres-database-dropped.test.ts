import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';

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
    let serverUrl: string;
    let url: string;
    let app: TestApp;
    let admin: pg.Client;
    const database = () => new URL(url).pathname.slice(1);

    before(async () => {
      const server = await testPostgres();
      serverUrl = server.url;
      url = await server.createDatabase();
      app = await createTestApp({
        format: 'restauth',
        config: {
          store: testStoreConfig(url),
          passwords: FAST_HASHING,
          signup: { confirmEmail: false },
          dialects: { gotrue: {} },
        },
      });
      admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
    });
    after(async () => {
      await admin?.end();
      await app?.close();
      if (url) await dropDatabase(serverUrl, url);
    });

    const signUp = (email: string) =>
      app.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email, password: 'correct horse battery' },
      });

    it('answers 503 while it is gone, /ready says so, and serves again once it is restored', async () => {
      assert.equal((await signUp('before@acme.test')).statusCode, 200);
      const { pool } = app.services.store as unknown as { pool: pg.Pool };
      const emptied = new Promise<void>((resolve) => {
        const onRemove = () => {
          if (pool.totalCount > 0) return;
          pool.off('remove', onRemove);
          resolve();
        };
        pool.on('remove', onRemove);
        onRemove();
      });
      await admin.query(`DROP DATABASE ${database()} WITH (FORCE)`);
      await emptied;

      const during = await signUp('during@acme.test');
      assert.equal(during.statusCode, 503, during.body);
      assert.ok(during.headers['retry-after']);
      assert.equal(during.json().error_code, 'store_unavailable');
      const ready = await app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 503, ready.body);
      assert.equal(ready.json().checks.database, 'unreachable');

      // Restored: made again and migrated (as a restore of a dump would bring the schema).
      await admin.query(`CREATE DATABASE ${database()}`);
      const restorer = new pg.Pool({ connectionString: url });
      try {
        const { store, roles } = app.config;
        assert.equal(store.type, 'postgres');
        await migrate(restorer, schemaNames(store, roles));
      } finally {
        await restorer.end();
      }
      const after = await signUp('during@acme.test');
      assert.equal(after.statusCode, 200, after.body);
    });
  },
);
