import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { openPostgresPool } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { testRoles } from '../support/postgres.js';
import { createGoTrueMadeDatabase, type GoTrueMadeDatabase } from '../postgres/gotrue-made-database.js';
import { useTestDatabase, type TestDatabase } from '../support/test-database.js';

/** A TOTP factor of `userId` as GoTrue's enroll (and, `verified`, its first verify) writes it. */
async function enrollTotp(pool: pg.Pool, userId: string, status: 'verified' | 'unverified'): Promise<void> {
  await pool.query(
    `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
     VALUES ($1, $2, 'phone app', 'totp', $3, now(), now(), 'JBSWY3DPEHPK3PXP')`,
    [randomUUID(), userId, status],
  );
}

/** Whether restauth took the schema over (its accounts table exists). */
async function adopted(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ present: boolean }>(
    `SELECT to_regclass('restauth.accounts') IS NOT NULL AS present`,
  );
  return rows[0]!.present;
}

/** A database for the suite as GoTrue leaves it (gotrue-made-database.ts), not yet migrated by restauth. */
function gotrueMadeDatabase(): { db: TestDatabase; made: () => GoTrueMadeDatabase } {
  const db = useTestDatabase({ migrateThrough: 0, max: 2 });
  let made: GoTrueMadeDatabase | undefined;
  before(async () => {
    made = await createGoTrueMadeDatabase(db.url);
  });
  return { db, made: () => made! };
}

/**
 * The attack: a Supabase project whose users protect their accounts with TOTP moves to restauth,
 * which has no MFA. Served as it was, a stolen password alone opened those accounts: the token said
 * aal1 and `user.factors` was missing, so supabase-js's getAuthenticatorAssuranceLevel() answered
 * nextLevel aal1 and the application never asked for the code. Refusing the whole database at start
 * (as before migration 47) locked every other user out for one user's factor, and missed a factor
 * verified after the start. Now the takeover goes ahead with a warning counting those users, and
 * each of them is refused per user: no session opens or refreshes for them, their GoTrue sessions
 * included (attack-mfa-verified-factor-users.test.ts covers every sign-in path).
 */
describe('attack: a GoTrue database whose users have MFA, taken over by restauth', () => {
  const { db, made } = gotrueMadeDatabase();
  const users = () => made().users;

  it('is taken over with a warning counting the users with a verified factor, not refused', async () => {
    // Gail passed her second factor in GoTrue (her session is aal2); Hugo never finished enrolling.
    await enrollTotp(db.pool, users()[0].id, 'verified');
    await db.pool.query(`UPDATE auth.sessions SET aal = 'aal2' WHERE user_id = $1`, [users()[0].id]);
    // And a session of hers that never passed it (signed in, never challenged): GoTrue would have
    // ended it when she verified her factor, and the takeover ends it too.
    const unchallenged = randomUUID();
    await db.pool.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES ($1, $2, now(), now(), 'aal1')`,
      [unchallenged, users()[0].id],
    );
    await enrollTotp(db.pool, users()[1].id, 'unverified');

    const warnings: string[] = [];
    const pool = await openPostgresPool(db.config, testRoles, {
      logger: { info() {}, warn: (line) => void warnings.push(line) },
    });
    await pool.end();
    assert.equal(await adopted(db.pool), true);
    const { rows: ended } = await db.pool.query(
      'SELECT id::text, reason FROM restauth.session_ends WHERE user_id = $1',
      [users()[0].id],
    );
    assert.deepEqual(ended, [{ id: unchallenged, reason: 'mfa_factor_verified' }]);
    assert.equal(
      (await db.pool.query('SELECT 1 FROM auth.sessions WHERE id = $1', [made().v1.sessionId])).rowCount,
      1,
    );
    // A factor GoTrue verifies later ends sessions too: the trigger is on GoTrue's own table.
    const { rows: triggers } = await db.pool.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'auth.mfa_factors'::regclass AND NOT tgisinternal`,
    );
    assert.deepEqual(triggers, [{ tgname: 'restauth_factor_verified_ends_sessions' }]);
    assert.deepEqual(
      warnings.filter((line) => /MFA/u.test(line)),
      [
        'schema auth: 1 users have a verified MFA factor (auth.mfa_factors), which restauth does not check: ' +
          'it opens and refreshes no session for them (403 insufficient_aal) until the factor is deleted ' +
          "(docs/postgres-schema.md, 'MFA factors')",
      ],
    );
  });

  describe('served', () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp({ format: 'restauth', config: { store: db.config, passwords: FAST_HASHING } });
    });
    after(() => t.close());

    const post = (url: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: `/auth/v1/token?grant_type=${url}`, payload });

    it("refuses the user with the factor by password and by her GoTrue session's token; serves the other", async () => {
      const [gail, hugo] = users();
      const refused = [
        await post('password', { email: gail.email, password: gail.password }),
        await post('refresh_token', { refresh_token: made().v1.token }),
      ];
      for (const answer of refused) {
        assert.equal(answer.statusCode, 403, answer.body);
        assert.equal(answer.json().error_code, 'insufficient_aal');
      }
      const signIn = await post('password', { email: hugo.email, password: hugo.password });
      assert.equal(signIn.statusCode, 200, signIn.body);
      const refreshed = await post('refresh_token', { refresh_token: signIn.json().refresh_token });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
    });
  });

  describe('a database an older restauth served, where GoTrue (beside it) verified a factor', () => {
    const older = useTestDatabase({ migrateThrough: 44, max: 2 });

    it("the upgrade ends that user's aal1 sessions, as GoTrue's verify would have", async () => {
      const user = randomUUID();
      const session = randomUUID();
      await older.pool.query(
        `INSERT INTO auth.users (id, aud, role) VALUES ($1, 'authenticated', 'authenticated')`,
        [user],
      );
      await older.pool.query(
        `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES ($1, $2, now(), now(), 'aal1')`,
        [session, user],
      );
      await enrollTotp(older.pool, user, 'verified');
      await migrate(older.pool, older.names);
      const { rows } = await older.pool.query(
        'SELECT id::text, reason FROM restauth.session_ends WHERE user_id = $1',
        [user],
      );
      assert.deepEqual(rows, [{ id: session, reason: 'mfa_factor_verified' }]);
    });
  });
});
