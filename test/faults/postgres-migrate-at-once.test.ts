import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrations } from '../../src/stores/postgres/migrations.js';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import {
  dropDatabase,
  realServerOnly,
  testPostgres,
  testRoles,
  testStoreConfig,
} from '../support/postgres.js';

/**
 * Three instances started at once on an empty database (a deployment scaled
 * out, or restarted together): each migrates at its start. The advisory lock
 * must let one apply each migration once while the others wait, and every
 * instance must then serve, not fail on a schema half made by another.
 */
describe(
  'three instances migrating an empty database at once',
  // PGlite runs one session for every connection: a session advisory lock excludes no one there.
  { skip: realServerOnly() ?? false },
  () => {
    let serverUrl: string;
    let url: string;
    const apps: TestApp[] = [];

    before(async () => {
      const server = await testPostgres();
      serverUrl = server.url;
      url = await server.createDatabase();
    });
    after(async () => {
      for (const app of apps) await app.close();
      if (url) await dropDatabase(serverUrl, url);
    });

    it('all start, each migration is applied once, and each instance serves', async () => {
      const settled = await Promise.allSettled(
        Array.from({ length: 3 }, () =>
          createTestApp({
            format: 'restauth',
            config: {
              store: testStoreConfig(url),
              passwords: FAST_HASHING,
              signup: { confirmEmail: false },
              dialects: { gotrue: {} },
            },
          }),
        ),
      );
      for (const result of settled) if (result.status === 'fulfilled') apps.push(result.value);
      for (const result of settled)
        assert.equal(result.status, 'fulfilled', result.status === 'rejected' ? String(result.reason) : '');

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number; n: number }>(
          'SELECT version, count(*)::int AS n FROM restauth.restauth_migrations GROUP BY version ORDER BY version',
        );
        const known = migrations(schemaNames(testStoreConfig(url), testRoles)).map((m) => m.version);
        assert.deepEqual(
          rows.map((row) => row.version),
          known,
        );
        assert.ok(
          rows.every((row) => row.n === 1),
          'each applied once',
        );
      } finally {
        await client.end();
      }
      for (const [index, app] of apps.entries()) {
        const signUp = await app.app.inject({
          method: 'POST',
          url: '/auth/v1/signup',
          payload: { email: `instance${index}@acme.test`, password: 'correct horse battery' },
        });
        assert.equal(signUp.statusCode, 200, signUp.body);
      }
    });
  },
);
