import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { namedUser } from '../support/named-user.js';
import { useTestDatabase } from '../support/test-database.js';

/** Roles are cluster-wide: this file's have names of their own. */
const suffix = randomBytes(3).toString('hex');
const ALICE = `alice${suffix}`;
const BOB = `bob${suffix}`;
const REPORTER = `reporter_${suffix}`;

/**
 * postgrest-auth granted its anonymous role SELECT (username_lowercase, token_count) on the users
 * table, which restauth keeps as restauth.accounts: the anonymous role, every per-user role in it and
 * so anyone holding a login in one of them (or PostgREST, with restauth's schema exposed) read the
 * whole list of user names. The grant's one use, postgrest-auth's pre-request reading the token count
 * of the row named after the request's role, must keep working.
 */
describe("restauth.accounts under the anonymous role's grant", () => {
  let admin: pg.Client | undefined;
  // Before the database is dropped: the roles are the cluster's.
  const db = useTestDatabase({ beforeDrop: dropRoles });

  before(async () => {
    await db.store.createUser(namedUser(ALICE), null);
    await db.store.createUser(namedUser(BOB), null);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    // As postgrest-auth made its users' roles: each in both of its roles.
    await admin.query(`CREATE ROLE ${ALICE} NOLOGIN IN ROLE web_anon, normal_user`);
    await admin.query(`CREATE ROLE ${REPORTER} NOLOGIN`);
    await admin.query(`GRANT USAGE ON SCHEMA restauth TO ${REPORTER}`);
    await admin.query(`GRANT SELECT ON restauth.accounts TO ${REPORTER}`);
  });

  async function dropRoles(): Promise<void> {
    if (!admin) return;
    await admin.query(`DROP OWNED BY ${REPORTER}`);
    await admin.query(`DROP ROLE ${ALICE}, ${REPORTER}`);
    await admin.end();
  }

  /** The rows `sql` answers when run as `role`, in a transaction rolled back. */
  async function readAs(role: string, sql: string): Promise<Record<string, unknown>[]> {
    if (!admin) throw new Error('readAs before the before() hook connected');
    await admin.query('BEGIN');
    try {
      await admin.query(`SET LOCAL ROLE ${role}`);
      return (await admin.query(sql)).rows;
    } finally {
      await admin.query('ROLLBACK');
    }
  }

  it('the anonymous role reads no user name', async () => {
    const rows = await readAs('web_anon', 'SELECT username_lowercase FROM restauth.accounts');
    assert.deepEqual(rows, []);
  });

  it("a per-user role reads its own account's name and token count, as postgrest-auth's pre-request did", async () => {
    const all = await readAs(ALICE, 'SELECT username_lowercase, token_count FROM restauth.accounts');
    assert.deepEqual(all, [{ username_lowercase: ALICE, token_count: 0 }]);
    // postgrest-auth's check_token_count(), run as the request's role.
    const own = await readAs(
      ALICE,
      'SELECT token_count FROM restauth.accounts WHERE username_lowercase = current_user',
    );
    assert.deepEqual(own, [{ token_count: 0 }]);
  });

  it('a role granted the table outside the anonymous role reads every row, and restauth finds users by name', async () => {
    const rows = await readAs(
      REPORTER,
      `SELECT username_lowercase FROM restauth.accounts WHERE username_lowercase IN ('${ALICE}', '${BOB}')
        ORDER BY 1`,
    );
    assert.deepEqual(rows, [{ username_lowercase: ALICE }, { username_lowercase: BOB }]);
    assert.equal((await db.store.findUserByUsername(BOB))?.username, BOB);
  });
});
