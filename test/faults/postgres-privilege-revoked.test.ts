import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { asStoreError, isPrivilegeRefused } from '../../src/stores/postgres/faults.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { faultAppConfig, signUp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { roleDatabase, type RoleDatabase } from '../support/role-database.js';
import { linesLogger } from '../support/log-lines.js';

/**
 * An operator revokes a privilege restauth's role needs while it runs (REVOKE INSERT ON auth.users:
 * SQLSTATE 42501 insufficient_privilege for every sign-up). Connections still succeed, so nothing
 * else says so: sign-ups answered 500 while /ready answered 200. It is an outage until the privilege
 * is granted again: 503 store_unavailable with Retry-After, /ready 503 naming the missing privilege,
 * logged at most once a minute, and the same process signs up again once granted. A 42501 that a
 * PL/pgSQL function raises on purpose keeps its meaning. Also with postgrest-auth's users table named
 * otherwise (`store.table`): the check took the users' schema's tables by that table's owner, which
 * migration 14 moved away, and so checked none of them.
 */
for (const table of ['users', 'people'] as const)
  describe(
    `a privilege revoked from restauth's role under a running server (42501; store.table ${table})`,
    // PGlite runs every connection as its one superuser, whom no privilege can be revoked from.
    {
      skip:
        realServerOnly() === null
          ? false
          : 'roles and privileges do not apply on PGlite (one superuser session)',
    },
    () => {
      let app: TestApp | undefined;
      let database: RoleDatabase;
      let admin: pg.Client;
      let owner: pg.Client;
      let serverUrl: string;
      let url: string;
      const role = `restauth_privilege_${table}_${process.pid}`;
      const logged: string[] = [];
      const refusalsWarned = () => logged.filter((line) => line.includes('a privilege it needs')).length;

      before(async () => {
        // A role of its own that owns what it migrates; a superuser to migrate (it creates roles), then
        // not, since a superuser passes every privilege check.
        database = await roleDatabase(role);
        ({ admin, serverUrl, url } = database);
        app = await createTestApp({
          config: { ...faultAppConfig(url), store: { ...faultAppConfig(url).store, table } },
          format: 'restauth',
          log: linesLogger('warn', logged),
        });
        await admin.query(`ALTER ROLE ${role} NOSUPERUSER`);
        // The owner revokes its own right, as `REVOKE ... FROM <restauth's role>` does.
        owner = new pg.Client({ connectionString: url });
        await owner.connect();
      });
      after(async () => {
        await owner?.end();
        await app?.close();
        await database.drop();
      });

      it('sign-ups answer 503 while it lasts, /ready names it, one warning, served again once granted', async () => {
        assert.ok(app);
        assert.equal((await signUp(app, 'before@acme.test')).statusCode, 200);
        assert.equal((await app.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);

        await owner.query('REVOKE INSERT ON auth.users FROM CURRENT_USER');
        for (const email of ['during1@acme.test', 'during2@acme.test', 'during3@acme.test']) {
          const during = await signUp(app, email);
          assert.equal(during.statusCode, 503, during.body);
          assert.ok(during.headers['retry-after']);
          assert.equal(during.json().error_code, 'store_unavailable');
        }
        assert.equal(refusalsWarned(), 1, logged.join('\n'));
        const ready = await app.app.inject({ method: 'GET', url: '/ready' });
        assert.equal(ready.statusCode, 503, ready.body);
        assert.equal(ready.json().checks.database, 'missing privilege: INSERT on auth.users');

        await owner.query('GRANT INSERT ON auth.users TO CURRENT_USER');
        const after = await signUp(app, 'during1@acme.test');
        assert.equal(after.statusCode, 200, after.body);
        assert.equal((await app.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
      });

      it('/ready names a schema whose USAGE was revoked, and is ready again once granted', async () => {
        assert.ok(app);
        await owner.query('REVOKE USAGE ON SCHEMA restauth FROM CURRENT_USER');
        try {
          const ready = await app.app.inject({ method: 'GET', url: '/ready' });
          assert.equal(ready.statusCode, 503, ready.body);
          assert.match(ready.json().checks.database, /^missing privilege: USAGE on schema restauth/u);
        } finally {
          await owner.query('GRANT USAGE ON SCHEMA restauth TO CURRENT_USER');
        }
        assert.equal((await app.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
      });

      it("a table someone else keeps in restauth's schemas, which restauth never touches, leaves /ready ready", async () => {
        assert.ok(app);
        const other = `restauth_privilege_other_${table}_${process.pid}`;
        const asAdmin = new URL(url);
        asAdmin.username = new URL(serverUrl).username;
        const superuser = new pg.Client({ connectionString: asAdmin.toString() });
        await superuser.connect();
        try {
          await superuser.query(`CREATE ROLE ${other}`);
          await superuser.query(`CREATE TABLE auth.someone_elses (id int)`);
          await superuser.query(`ALTER TABLE auth.someone_elses OWNER TO ${other}`);
          const ready = await app.app.inject({ method: 'GET', url: '/ready' });
          assert.equal(ready.statusCode, 200, ready.body);
        } finally {
          await superuser.query('DROP TABLE IF EXISTS auth.someone_elses');
          await superuser.query(`DROP ROLE IF EXISTS ${other}`);
          await superuser.end();
        }
      });

      it('a 42501 raised on purpose by PL/pgSQL is not a revoked privilege; a real refusal is', async () => {
        const raised = await owner
          .query(`DO $$ BEGIN RAISE insufficient_privilege USING MESSAGE = 'refused on purpose'; END $$`)
          .catch((error: unknown) => error);
        assert.equal((raised as { code?: string }).code, '42501');
        assert.equal(isPrivilegeRefused(raised), false);
        assert.equal(asStoreError(raised), raised);

        await owner.query('REVOKE SELECT ON auth.users FROM CURRENT_USER');
        try {
          const refused = await owner.query('SELECT 1 FROM auth.users').catch((error: unknown) => error);
          assert.equal((refused as { code?: string }).code, '42501');
          assert.equal(isPrivilegeRefused(refused), true);
        } finally {
          await owner.query('GRANT SELECT ON auth.users TO CURRENT_USER');
        }
      });
    },
  );
