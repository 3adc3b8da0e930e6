import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { SchemaRefusedError } from '../../src/stores/postgres/gotrue-schema.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
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
function gotrueMadeDatabase(): { db: TestDatabase; users: () => GoTrueMadeDatabase['users'] } {
  const db = useTestDatabase({ migrateThrough: 0, max: 2 });
  let made: GoTrueMadeDatabase | undefined;
  before(async () => {
    made = await createGoTrueMadeDatabase(db.url);
  });
  return { db, users: () => made!.users };
}

/**
 * The attack: a Supabase project whose users protect their accounts with TOTP moves to restauth,
 * which has no MFA. Served as it was, a stolen password alone opened those accounts: the token said
 * aal1 and `user.factors` was missing, so supabase-js's getAuthenticatorAssuranceLevel() answered
 * nextLevel aal1 and the application never asked for the code. The takeover, and every start after
 * it, now refuses such a database before writing anything, and says how to accept the loss deliberately.
 */
describe('attack: a GoTrue database whose users have MFA, taken over by restauth', () => {
  describe('a user with a verified TOTP factor', () => {
    const { db, users } = gotrueMadeDatabase();

    it('is refused, writing nothing; served once the operator deletes the verified factors', async () => {
      await enrollTotp(db.pool, users()[0].id, 'verified');
      await assert.rejects(migrate(db.pool, db.names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        assert.match(error.message, /1 of its users have a verified MFA factor \(auth\.mfa_factors\)/u);
        assert.match(error.message, /DELETE FROM auth\.mfa_factors WHERE status = 'verified'/u);
        return true;
      });
      assert.equal(await adopted(db.pool), false);

      // The operator's deliberate choice, as the refusal words it.
      await db.pool.query(`DELETE FROM auth.mfa_factors WHERE status = 'verified'`);
      await migrate(db.pool, db.names);
      assert.equal(await adopted(db.pool), true);
    });
  });

  describe('a user with an unverified factor (an enrollment never finished)', () => {
    const { db, users } = gotrueMadeDatabase();

    it('never had its level raised by it: served', async () => {
      await enrollTotp(db.pool, users()[1].id, 'unverified');
      await migrate(db.pool, db.names);
      assert.equal(await adopted(db.pool), true);
    });
  });

  describe('a database restauth already serves, where GoTrue (still running beside it) verifies a factor', () => {
    const db = useTestDatabase({ max: 2 });

    it('refuses the next start', async () => {
      const user = randomUUID();
      await db.pool.query(
        `INSERT INTO auth.users (id, aud, role) VALUES ($1, 'authenticated', 'authenticated')`,
        [user],
      );
      await enrollTotp(db.pool, user, 'verified');
      await assert.rejects(migrate(db.pool, db.names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        assert.match(error.message, /^schema auth: 1 of its users have a verified MFA factor/u);
        return true;
      });
    });
  });
});
