import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { faultAppConfig, signUp, useFaultApp } from '../support/postgres-faults.js';
import { realServerOnly } from '../support/postgres.js';
import { linesLogger } from '../support/log-lines.js';

/**
 * A DBA sets, on restauth's role in its database, what suits other applications: transactions
 * serializable by default, or a lock_timeout. restauth's statements are written for READ COMMITTED,
 * where a refresh racing a write of its session waits for the row and re-reads it; serializable made
 * that wait end in 40001 and the refresh answer 500, and a lock_timeout made it 55P03 and a 500.
 * The fault is made for real: the setting on the role, a DBA's transaction holding the session's
 * row, the refresh waiting for it.
 */
describe(
  "PostgreSQL settings on restauth's role (default_transaction_isolation, lock_timeout)",
  // Two sessions racing for a row: PGlite has one session behind every connection.
  { skip: realServerOnly() ?? false },
  () => {
    let dba: pg.Client | undefined;
    // Registered before useFaultApp's hooks, so it runs before that drops the database under it.
    after(async () => {
      await dba?.end();
    });
    // The app it makes migrates the database; the apps of each test are made after a setting.
    const t = useFaultApp();
    /** The app database's owner, to set its role's settings, hold a row and watch the locks. */
    async function owner(): Promise<pg.Client> {
      if (dba === undefined) {
        dba = new pg.Client({ connectionString: t.url });
        await dba.connect();
      }
      return dba;
    }

    const logged: string[] = [];

    /** An app whose connections all start with `setting` on its role (set before it connects). */
    async function appWithRoleSetting(setting: string): Promise<TestApp> {
      const dba = await owner();
      const database = pg.escapeIdentifier(t.database);
      await dba.query(`ALTER ROLE CURRENT_USER IN DATABASE ${database} RESET ALL`);
      await dba.query(`ALTER ROLE CURRENT_USER IN DATABASE ${database} SET ${setting}`);
      return createTestApp({
        config: faultAppConfig(t.url),
        format: 'restauth',
        log: linesLogger('warn', logged),
      });
    }

    const refresh = (app: TestApp, token: string) =>
      app.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=refresh_token',
        payload: { refresh_token: token },
      });

    /**
     * A refresh of a new user's session while a DBA's transaction holds the session's row, written:
     * the refresh starts, waits for the row, then the DBA commits. Its answer. With `commitAfterAnswer`
     * the DBA commits only once the refresh answered: seeing a backend wait does not mean its
     * lock_timeout has fired yet (on a busy machine it had not, and the commit let the refresh through).
     */
    async function refreshRacingAWrite(app: TestApp, email: string, commitAfterAnswer = false) {
      const signedUp = await signUp(app, email);
      assert.equal(signedUp.statusCode, 200, signedUp.body);
      const { refresh_token: token, user } = signedUp.json() as {
        refresh_token: string;
        user: { id: string };
      };
      const dba = await owner();
      await dba.query('BEGIN');
      try {
        await dba.query('UPDATE auth.sessions SET updated_at = now() WHERE user_id = $1', [user.id]);
        const refreshing = refresh(app, token);
        // Until it waits for the row, or answered already (a lock_timeout ends its wait at once). Polled
        // by lockWaiters, which sees a connection the app opened after this transaction first looked.
        const polling = new AbortController();
        await Promise.race([refreshing, lockWaiters(dba, 1, { signal: polling.signal })]).finally(() =>
          polling.abort(),
        );
        if (commitAfterAnswer) await refreshing;
        await dba.query('COMMIT');
        return await refreshing;
      } catch (error) {
        await dba.query('ROLLBACK');
        throw error;
      }
    }

    it('serializable by default: a refresh that lost the race for its session is run again, not a 500', async () => {
      const app = await appWithRoleSetting(`default_transaction_isolation = 'serializable'`);
      try {
        // The setting is in force on the app's connections.
        const { pool } = app.services.store as unknown as { pool: pg.Pool };
        const { rows } = await pool.query<{ transaction_isolation: string }>('SHOW transaction_isolation');
        assert.equal(rows[0]?.transaction_isolation, 'serializable');

        const answer = await refreshRacingAWrite(app, 'serial@acme.test');
        assert.equal(answer.statusCode, 200, answer.body);
        const rotated = (answer.json() as { refresh_token: string }).refresh_token;
        // The rotation happened once, whole: the new token refreshes on.
        const next = await refresh(app, rotated);
        assert.equal(next.statusCode, 200, next.body);
        // A race its rerun settled is no news: nothing was logged of it.
        assert.deepEqual(
          logged.filter((line) => line.includes('could not serialize')),
          [],
        );
      } finally {
        await app.close();
      }
    });

    it('a lock_timeout on the role: a refresh that waited past it answers 503 with Retry-After', async () => {
      const app = await appWithRoleSetting(`lock_timeout = '1ms'`);
      try {
        const answer = await refreshRacingAWrite(app, 'locked@acme.test', true);
        assert.equal(answer.statusCode, 503, answer.body);
        assert.ok(answer.headers['retry-after']);
        assert.equal(answer.json().error_code, 'store_unavailable');
        // Said in the log, where the 503 was all there was to see.
        const told = logged.filter(
          (line) => line.includes('cancelled or rolled back a statement') && line.includes('lock timeout'),
        );
        assert.equal(told.length, 1, logged.join('\n'));
      } finally {
        await app.close();
      }
    });
  },
);
