import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { faultAppConfig, poolEmptied, signUp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { roleDatabase, type RoleDatabase } from '../support/role-database.js';

/**
 * PostgreSQL refuses restauth's login while it runs: its password rotated on
 * the server, its role set NOLOGIN or dropped, or pg_hba.conf changed (SQLSTATE
 * class 28). Connections already open go on until they end; every new one is
 * refused. That is an outage until an operator mends it, not a bug of the
 * request: a sign-up answers 503 with Retry-After, /ready answers 503, and the
 * same process serves again once the login is allowed. At a start the same
 * refusal is a wrong setting and fails at once, without waiting
 * store.startupTimeout for a database that answers.
 *
 * Caused here by ALTER ROLE ... NOLOGIN (28000) on the test cluster's trust
 * authentication; a wrong password (28P01) is the same class.
 */
describe(
  "PostgreSQL refusing restauth's login (class 28)",
  // Terminating the app's backends would end PGlite's one session, the server itself.
  { skip: realServerOnly() ?? false },
  () => {
    let app: TestApp | undefined;
    let database: RoleDatabase;
    let admin: pg.Client;
    let url: string;
    const role = `restauth_login_${process.pid}`;
    before(async () => {
      // A role of its own, so the fault leaves the test's superuser alone.
      database = await roleDatabase(role);
      ({ admin, url } = database);
      app = await createTestApp({ config: faultAppConfig(url), format: 'restauth' });
    });
    after(async () => {
      await app?.close();
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await database.drop();
    });

    it('a running server answers 503 while it lasts, /ready says so, and serves again once allowed', async () => {
      assert.ok(app);
      assert.equal((await signUp(app, 'before@acme.test')).statusCode, 200);
      const emptied = poolEmptied(app);
      await admin.query(`ALTER ROLE ${role} NOLOGIN`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await emptied;

      const during = await signUp(app, 'during@acme.test');
      assert.equal(during.statusCode, 503, during.body);
      assert.ok(during.headers['retry-after']);
      assert.equal(during.json().error_code, 'store_unavailable');
      const ready = await app.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(ready.statusCode, 503, ready.body);
      assert.equal(ready.json().checks.database, 'unreachable');

      await admin.query(`ALTER ROLE ${role} LOGIN`);
      const after = await signUp(app, 'during@acme.test');
      assert.equal(after.statusCode, 200, after.body);
    });

    it(
      'a start fails at once, naming the cause, though store.startupTimeout would wait an hour',
      // Waiting, it would fail here rather than in an hour.
      { timeout: 120_000 },
      async () => {
        await admin.query(`ALTER ROLE ${role} NOLOGIN`);
        const config = faultAppConfig(url);
        await assert.rejects(
          createTestApp({
            config: { ...config, store: { ...config.store, startupTimeout: 3600 } },
            format: 'restauth',
          }),
          (error: Error & { code?: string }) => {
            assert.equal(error.code, '28000', String(error));
            assert.match(error.message, /not permitted to log in/u);
            return true;
          },
        );
      },
    );
  },
);
