import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';
import { openPostgresPool } from '../../src/stores/postgres/index.js';
import { replicaTriggersFix, replicaTriggersProblem } from '../../src/stores/postgres/replica-triggers.js';
import { testRoles } from '../support/postgres.js';
import { adoptedRole } from '../support/adopted-role.js';
import { preRequestVerdictOnClaims } from '../support/pre-request-verdict.js';
import { signedInUser } from '../support/signed-in-user.js';
import { useTestDatabase } from '../support/test-database.js';

const DAY = 86_400_000;
const role = testRoles.authenticated;

/**
 * Migration 58: PostgREST's pre-request refuses a soft-deleted user and a user of another GoTrue
 * instance at once, also when the write that made it so fired no trigger (session_replication_role =
 * replica: a sync tool's or a DBA's bulk write), and so every other write with the triggers off that
 * changes what a session's row vouches for; and its refusals tell a caller who sets the claims
 * itself nothing about the accounts.
 */
describe('the pre-request on users that no longer stand, and its one refusal (migration 58)', () => {
  const database = useTestDatabase({ max: 2 });
  let pool: pg.Pool;
  let store: PostgresStore;

  before(() => {
    ({ pool, store } = database);
  });

  async function signedIn(username: string) {
    const { user, session } = await signedInUser(store, username);
    const claims = { sub: user.id, role, session_id: session.id, token_version: 0, aud: 'authenticated' };
    return { user, session, claims: JSON.stringify(claims) };
  }

  /** Runs `sql` (with $1: the user's id) in a transaction with the triggers off, as a replica's apply does. */
  async function withTriggersOff(sql: string, userId: string): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL session_replication_role = replica`);
      await client.query(sql, [userId]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  }

  const verdict = (claims: string) => preRequestVerdictOnClaims(pool, claims, role);

  it('refuses a user soft-deleted with the triggers off, whose sessions were left as they were', async () => {
    const { user, session, claims } = await signedIn('soft-deleted');
    assert.equal(await verdict(claims), null);
    await withTriggersOff('UPDATE auth.users SET deleted_at = now() WHERE id = $1', user.id);
    const left = await pool.query('SELECT 1 FROM auth.sessions WHERE id = $1', [session.id]);
    assert.equal(left.rowCount, 1, 'no trigger ended the session');
    assert.equal(await verdict(claims), PRE_REQUEST_REFUSAL);
  });

  it('refuses a user moved to another instance, by a plain UPDATE or with the triggers off, until moved back', async () => {
    const { user, claims } = await signedIn('moved');
    const { user: other, claims: othersClaims } = await signedIn('moved-off');
    await pool.query('UPDATE auth.users SET instance_id = $2 WHERE id = $1', [user.id, randomUUID()]);
    assert.equal(await verdict(claims), PRE_REQUEST_REFUSAL);
    await pool.query(
      `UPDATE auth.users SET instance_id = '00000000-0000-0000-0000-000000000000' WHERE id = $1`,
      [user.id],
    );
    assert.equal(await verdict(claims), null, 'back in restauth: its live session passes again');

    await withTriggersOff(`UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1`, other.id);
    assert.equal(await verdict(othersClaims), PRE_REQUEST_REFUSAL);
  });

  it('refuses a ban, a password change, a sign-out and a deletion written with the triggers off', async () => {
    const writes: [string, string][] = [
      ['banned', `UPDATE auth.users SET banned_until = now() + interval '1 day' WHERE id = $1`],
      ['password changed', 'UPDATE restauth.accounts SET token_count = token_count + 1 WHERE uid = $1'],
      ['signed out', 'DELETE FROM auth.sessions WHERE user_id = $1'],
      // Foreign keys' cascades are triggers too: the sessions and the account stay behind.
      ['deleted', 'DELETE FROM auth.users WHERE id = $1'],
    ];
    for (const [name, sql] of writes) {
      const { user, claims } = await signedIn(`off-${name.replaceAll(' ', '-')}`);
      assert.equal(await verdict(claims), null, `${name}: before`);
      await withTriggersOff(sql, user.id);
      assert.equal(await verdict(claims), PRE_REQUEST_REFUSAL, name);
    }
  });

  it('answers a caller probing accounts with claims of its own one refusal, whatever the account', async () => {
    const { user } = await signedIn('probed');
    const { user: banned } = await signedIn('probed-banned');
    await store.updateUser(banned.id, { bannedUntil: new Date(Date.now() + DAY) });
    const number = async (uid: string) =>
      (await pool.query<{ id: number }>('SELECT id FROM restauth.accounts WHERE uid = $1', [uid])).rows[0]!
        .id;
    const [probed, bannedNumber] = [await number(user.id), await number(banned.id)];
    // An anonymous-role login sets the claims and calls the check: before, its messages told which
    // account numbers exist, then their role, ban and token count, one guess at a time.
    const probes = [
      { sub: String(probed), role, token_version: 0 },
      { sub: String(probed + 1000), role, token_version: 0 },
      { sub: String(probed), role, token_version: 7 },
      { sub: String(probed), role: 'service_role', token_version: 0 },
      { sub: String(bannedNumber), role, token_version: 0 },
      { sub: user.id, role, token_version: 0, session_id: randomUUID() },
      { sub: randomUUID(), role, token_version: 0, session_id: randomUUID() },
      { sub: 'not a user', role, token_version: 0 },
      { sub: user.id, role, token_version: 0, aud: 'another-app' },
    ];
    const answers = new Set<string | null>();
    for (const probe of probes) answers.add(await verdict(JSON.stringify(probe)));
    assert.deepEqual([...answers], [PRE_REQUEST_REFUSAL]);
    // As anonymous, with the anonymous role's claim: the same.
    const anonymous = await preRequestVerdictOnClaims(
      pool,
      JSON.stringify({ sub: String(probed + 1000), role: testRoles.anonymous, count: 0 }),
      testRoles.anonymous,
    );
    assert.equal(anonymous, PRE_REQUEST_REFUSAL);
  });

  it('checks a postgrest-auth role token only under its role: another caller cannot guess its count', async () => {
    const { user } = await signedIn('role-owner');
    // A role postgrest-auth handed out and restauth adopted; its tokens say the role and a count only.
    const { role: owned } = await adoptedRole(pool, user.id, 'standing_role');
    const token = (count: number) => JSON.stringify({ role: owned, count });
    assert.equal(
      await preRequestVerdictOnClaims(pool, token(0), owned),
      null,
      'under its role, as PostgREST runs it',
    );
    assert.equal(await preRequestVerdictOnClaims(pool, token(1), owned), PRE_REQUEST_REFUSAL);
    for (const caller of [testRoles.anonymous, role]) {
      for (const count of [0, 1]) {
        assert.equal(
          await preRequestVerdictOnClaims(pool, token(count), caller),
          PRE_REQUEST_REFUSAL,
          caller,
        );
      }
    }
  });

  it("names the replica-mode triggers left out on a table GoTrue's role owns, and its fix makes them catch a sign-out", async () => {
    // Migration 58 enables them only where restauth's role owns the table, and skipped the others: the
    // database as it leaves auth.sessions when another role (GoTrue's) owns it.
    const owner = `gotrue_owner_${process.pid}`;
    await pool.query(`DROP ROLE IF EXISTS ${owner}; CREATE ROLE ${owner} NOLOGIN`);
    await pool.query(`DROP TRIGGER restauth_session_checks_replica ON auth.sessions;
      DROP TRIGGER restauth_session_checks_replica_truncate ON auth.sessions;
      ALTER TABLE auth.sessions OWNER TO ${owner}; GRANT USAGE ON SCHEMA auth TO ${owner}`);
    const { claims, user } = await signedIn('unwatched');
    await withTriggersOff('DELETE FROM auth.sessions WHERE user_id = $1', user.id);
    assert.equal(await verdict(claims), null, 'the sign-out written in replica mode is not caught');

    const problem = await replicaTriggersProblem(pool, database.names);
    assert.match(
      problem ?? '',
      new RegExp(
        '^replica-mode triggers missing: restauth_session_checks_replica on "auth".sessions, ' +
          'restauth_session_checks_replica_truncate on "auth".sessions \\(restauth\'s role does not own ' +
          `the table\\).* Then as the tables' owner \\(${owner}\\): CREATE TRIGGER`,
      ),
    );
    // The start says so too (migrations already applied: it only looks).
    const warnings: string[] = [];
    const started = await openPostgresPool(database.config, testRoles, {
      logger: { info() {}, warn: (line: string) => warnings.push(line) },
    });
    await started.end();
    assert.deepEqual(warnings, [`schema auth: ${problem}`]);

    // Its fix, as it says: the grants as restauth's role, the triggers as the owner.
    const fix = (await replicaTriggersFix(pool, database.names))!;
    await pool.query(fix.grants);
    const client = await pool.connect();
    try {
      await client.query(`BEGIN; SET LOCAL ROLE ${owner}`);
      await client.query(fix.ownerSql);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    assert.equal(await replicaTriggersProblem(pool, database.names), null);
    const { claims: watched, user: watchedUser } = await signedIn('watched');
    await withTriggersOff('DELETE FROM auth.sessions WHERE user_id = $1', watchedUser.id);
    assert.equal(await verdict(watched), PRE_REQUEST_REFUSAL);
    // Roles are the cluster's: this one goes with what it was given.
    await pool.query(
      `REASSIGN OWNED BY ${owner} TO CURRENT_USER; DROP OWNED BY ${owner}; DROP ROLE ${owner}`,
    );
  });
});
