import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import pg from 'pg';
import { asStoreError, isSchemaChanged } from '../../src/stores/postgres/faults.js';
import { createPool, withClient } from '../../src/stores/postgres/pool.js';
import { SCHEMA_CHECK_INTERVAL_MS } from '../../src/stores/postgres/schema-watch.js';
import { waitForDatabase } from '../../src/stores/postgres/startup.js';
import { useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly, testStoreConfig } from '../support/postgres.js';
import { linesLogger } from '../support/log-lines.js';

/**
 * A DBA (or another tool's migration) drops or renames one of restauth's tables, or a column it uses,
 * under a running server (42P01 undefined_table, 42703 undefined_column). Connections still succeed,
 * so nothing else says so: every request needing it answered 500 while /ready answered 200. It is an
 * outage until the part is restored: 503 store_unavailable with Retry-After, /ready 503 naming what
 * is missing, logged at most once a minute, and the same process serves again once it is back. The
 * fault is made by renaming, which to restauth is the drop, and restored by renaming back.
 */
describe(
  "part of restauth's schema dropped or altered under a running server (42P01, 42703, 42804)",
  // The DBA's connection beside the app's pool stalled the before() hook on PGlite (one session behind
  // every connection; not looked into further): run on a real server only.
  { skip: realServerOnly() ?? false },
  () => {
    let owner: pg.Client | undefined;
    // Registered before useFaultApp's hooks, so it runs before that drops the database under it.
    after(async () => {
      await owner?.end();
    });
    const logged: string[] = [];
    const t = useFaultApp({ log: linesLogger('warn', logged) });
    const warned = () => logged.filter((line) => line.includes("lacks part of restauth's schema")).length;
    /** A connection to the app's database, as its owner, to change the schema under it. */
    const dba = (): pg.Client => {
      assert.ok(owner);
      return owner;
    };
    before(async () => {
      owner = new pg.Client({ connectionString: t.url });
      await owner.connect();
    });

    const ready = () => t.app.app.inject({ method: 'GET', url: '/ready' });

    /** Sign-ups answer 503 with Retry-After while `break` holds, then 200 once `mend` undid it. */
    async function outageWhile(breaks: string, mends: string, emails: string[]): Promise<string> {
      await dba().query(breaks);
      let named: string;
      try {
        for (const email of emails) {
          const during = await t.signUp(email);
          assert.equal(during.statusCode, 503, during.body);
          assert.ok(during.headers['retry-after']);
          assert.equal(during.json().error_code, 'store_unavailable');
        }
        const answer = await ready();
        assert.equal(answer.statusCode, 503, answer.body);
        named = answer.json().checks.database as string;
      } finally {
        await dba().query(mends);
      }
      // The same address: a sign-up that answered 503 left no user behind (sign-up-all-or-nothing).
      const served = await t.signUp(emails[0] ?? 'again@acme.test');
      assert.equal(served.statusCode, 200, served.body);
      return named;
    }

    it('a table renamed away: sign-ups answer 503, /ready names it, one warning, served once back', async () => {
      assert.equal((await t.signUp('before@acme.test')).statusCode, 200);
      assert.equal((await ready()).statusCode, 200);

      const named = await outageWhile(
        'ALTER TABLE auth.users RENAME TO users_away',
        'ALTER TABLE auth.users_away RENAME TO users',
        ['table1@acme.test', 'table2@acme.test', 'table3@acme.test'],
      );
      assert.match(named, /^schema changed: relation "[a-z.]*users" does not exist$/u);
      assert.equal(warned(), 1, logged.join('\n'));
      assert.match(logged.join('\n'), /restarting restauth does not remake it/u);

      // /ready is ready again as soon as the part is restored: it looks at the catalogue itself.
      const answer = await ready();
      assert.equal(answer.statusCode, 200, answer.body);
    });

    it('a column renamed away that no request met: /ready finds it itself, and is ready once it is back', async () => {
      assert.equal((await ready()).statusCode, 200);
      await dba().query('ALTER TABLE auth.users RENAME COLUMN phone TO phone_away');
      // Looked at again within 30 s only after a statement met a fault: a probe costs no catalogue scan.
      mock.timers.enable({ apis: ['Date'], now: Date.now() + SCHEMA_CHECK_INTERVAL_MS + 1000 });
      try {
        const found = await ready();
        assert.equal(found.statusCode, 503, found.body);
        assert.match(
          found.json().checks.database as string,
          /^schema changed: column auth\.users\.phone of type text is gone or changed$/u,
        );
      } finally {
        await dba().query('ALTER TABLE auth.users RENAME COLUMN phone_away TO phone');
        mock.timers.reset();
      }
      // A part found missing is looked for at every probe: ready as soon as it is back.
      const back = await ready();
      assert.equal(back.statusCode, 200, back.body);
    });

    it('a column renamed away: sign-ups answer 503 and /ready names it', async () => {
      const named = await outageWhile(
        'ALTER TABLE auth.users RENAME COLUMN email TO email_away',
        'ALTER TABLE auth.users RENAME COLUMN email_away TO email',
        ['column1@acme.test', 'column2@acme.test'],
      );
      assert.match(named, /^schema changed: column .*email.* does not exist$/u);
    });

    it("a column's type altered (22P02, 42804): sign-ups answer 503 and /ready names it", async () => {
      // The sign-in time, a timestamp parameter read as the column's new type (22P02), or a timestamp
      // expression assigned to it (42804), as the statement met first.
      const unreadable = await outageWhile(
        'ALTER TABLE auth.users ALTER COLUMN last_sign_in_at TYPE integer USING NULL',
        'ALTER TABLE auth.users ALTER COLUMN last_sign_in_at TYPE timestamptz USING NULL',
        ['retyped1@acme.test', 'retyped2@acme.test'],
      );
      assert.match(
        unreadable,
        /^schema changed: (invalid input syntax for type integer: |column "last_sign_in_at" is of type integer )/u,
      );
    });

    it('a column widened under it (benign): sign-ins and sign-ups go on, no plan prepared before fails', async () => {
      // Each sign-in on its own connection of the pool (they run at once), so that several prepare the
      // statements reading users; a widened column changes those statements' result type (0A000).
      const signIn = (email: string) =>
        t.app.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          payload: { email, password: 'correct horse battery' },
        });
      const emails = ['wide1@acme.test', 'wide2@acme.test', 'wide3@acme.test'];
      for (const email of emails) assert.equal((await t.signUp(email)).statusCode, 200);
      for (const answer of await Promise.all(emails.map(signIn))) assert.equal(answer.statusCode, 200);
      // Not aud: migration 35's trigger names it, and PostgreSQL refuses to retype such a column.
      await dba().query('ALTER TABLE auth.users ALTER COLUMN encrypted_password TYPE text');
      try {
        for (const answer of await Promise.all(emails.map(signIn)))
          assert.equal(answer.statusCode, 200, answer.body);
        for (const email of emails) assert.equal((await signIn(email)).statusCode, 200);
        assert.equal((await t.signUp('wide4@acme.test')).statusCode, 200);
      } finally {
        await dba().query('ALTER TABLE auth.users ALTER COLUMN encrypted_password TYPE varchar(255)');
      }
    });

    it('a column narrowed under it (22001): sign-ups answer 503 and /ready names it', async () => {
      const narrowed = await outageWhile(
        // Every address stored so far fits; the ones signing up meanwhile do not.
        'ALTER TABLE auth.users ALTER COLUMN email TYPE varchar(26)',
        'ALTER TABLE auth.users ALTER COLUMN email TYPE varchar(255)',
        ['narrowed-address-1@acme.test', 'narrowed-address-2@acme.test'],
      );
      assert.match(narrowed, /^schema changed: value too long for type character varying\(26\)$/u);
    });

    it('a 42P01 raised on purpose by PL/pgSQL is not a missing table; a real one is', async () => {
      const raised = await dba()
        .query(`DO $$ BEGIN RAISE undefined_table USING MESSAGE = 'refused on purpose'; END $$`)
        .catch((error: unknown) => error);
      assert.equal((raised as { code?: string }).code, '42P01');
      assert.equal(isSchemaChanged(raised), false);
      assert.equal(asStoreError(raised), raised);

      const missing = await dba()
        .query('SELECT 1 FROM auth.no_such_table')
        .catch((error: unknown) => error);
      assert.equal((missing as { code?: string }).code, '42P01');
      assert.equal(isSchemaChanged(missing), true);

      const mismatched = await dba()
        .query('SELECT CASE WHEN true THEN 1 ELSE now() END')
        .catch((error: unknown) => error);
      assert.equal((mismatched as { code?: string }).code, '42804');
      assert.equal(isSchemaChanged(mismatched), true);
    });

    it('at a start a missing part fails at once, where it is no outage that waiting mends', async () => {
      const quiet = { info: () => {}, warn: () => {} };
      const pool = createPool(testStoreConfig(t.url), quiet);
      // The deadline is past from the second reading on: a start that took the fault for an outage
      // would give up at once with DatabaseUnreachableError, not the driver's 42703.
      let readings = 0;
      try {
        await assert.rejects(
          waitForDatabase(
            () =>
              withClient(pool, (client) => client.query('SELECT no_such_column FROM pg_catalog.pg_class')),
            {
              database: 'test',
              timeoutSeconds: 60,
              logger: quiet,
              clock: () => (readings++ === 0 ? 0 : 1e12),
            },
          ),
          (error: { code?: string }) => error.code === '42703',
        );
      } finally {
        await pool.end();
      }
    });
  },
);
