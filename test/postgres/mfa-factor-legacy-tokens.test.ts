import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { testRoles } from '../support/postgres.js';
import { adoptedRole } from '../support/adopted-role.js';
import { signedInUser } from '../support/signed-in-user.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The hole: postgrest-auth's tokens name their user by its role and carry its token_count, with no sub
 * and no session, so the pre-request never looked for a session. A factor verified for their user
 * (migration 47's trigger) ended the user's sessions, and such a token kept working until it expired.
 * Since migration 52 the trigger also bumps the user's token_count, as a password change does.
 */
describe("a verified MFA factor ends its user's postgrest-auth tokens (migration 52)", () => {
  // Migrated through 48 first: the test runs migration 52 on a database with a verified factor.
  const database = useTestDatabase({ max: 2, migrateThrough: 48 });
  let pool: pg.Pool;
  let store: PostgresStore;

  before(() => {
    ({ pool, store } = database);
  });

  /** check_token_count's verdict on `claims` as PostgREST sets them: null lets the request through. */
  async function verdict(claims: Record<string, string | number>): Promise<string | null> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      // As PostgREST: under the token's role (migration 58 checks a role token only under it).
      await client.query(`SELECT set_config('role', $1, true)`, [claims.role ?? testRoles.authenticated]);
      return await client.query('SELECT auth.check_token_count()').then(
        () => null,
        (error: Error) => error.message,
      );
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  /** A signed-in user whose postgrest-auth role restauth adopted: its id and a token of that era. */
  async function legacyUser(username: string) {
    const { user } = await signedInUser(store, username);
    const { role } = await adoptedRole(pool, user.id, 'legacy_mfa');
    // The role and a count, no sub and no session, as postgrest-auth signed them.
    return { id: user.id, claims: { role, count: 0 } };
  }

  const verifyFactor = (userId: string) =>
    pool.query(
      `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
       VALUES ($1, $2, 'phone app', 'totp', 'verified', now(), now(), 'JBSWY3DPEHPK3PXP')`,
      [randomUUID(), userId],
    );

  it("refuses a user's role-named token once a factor is verified, before or after migration 52", async () => {
    const before52 = await legacyUser('legacy-mfa-before');
    await verifyFactor(before52.id);
    // Migration 47's trigger ended the sessions: this token had none, and still passed.
    assert.equal(await verdict(before52.claims), null);
    await migrate(pool, database.names);
    assert.match((await verdict(before52.claims)) ?? 'passed', /token refused/u);

    const after52 = await legacyUser('legacy-mfa-after');
    const other = await legacyUser('legacy-mfa-other');
    assert.equal(await verdict(after52.claims), null);
    await verifyFactor(after52.id);
    assert.match((await verdict(after52.claims)) ?? 'passed', /token refused/u);
    assert.equal(await verdict(other.claims), null);
  });
});
