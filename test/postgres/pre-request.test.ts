import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { quotedNames } from '../../src/stores/postgres/migrations.js';
import { preRequestQuery } from '../../src/stores/postgres/pre-request.js';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { testRoles } from '../support/postgres.js';
import { insertSessionFromBefore, insertUserFromBefore } from '../support/sessions-before.js';
import { useTestDatabase } from '../support/test-database.js';
import { keepPreRequestOfBefore, refusedAsBefore } from '../support/pre-request-verdict.js';

const DAY = 86_400_000;

/**
 * The pre-request's fast path in one query (migration 24) refuses and lets through exactly what the
 * function before it did, with the same messages, for every way a token stops being honoured; a
 * database upgraded from migration 23 keeps its signed-in users' tokens working.
 */
describe("the pre-request's fast path in one query", () => {
  const database = useTestDatabase({ max: 4, migrateThrough: 23 });
  let pool: pg.Pool;
  let store: PostgresStore;
  const role = testRoles.authenticated;

  before(async () => {
    ({ pool, store } = database);
    // The function of before and its general check, kept under other names to be compared with.
    await keepPreRequestOfBefore(pool);
  });
  /** A session written by SQL as restauth wrote one at migration 23 (today's store writes migration 28's chain). */
  async function openSession(userId: string, notAfter = new Date(Date.now() + DAY)): Promise<string> {
    const id = randomUUID();
    await insertSessionFromBefore(pool, { id, userId, notAfter, secret: 'secret' });
    return id;
  }

  // Before the upgrade, in that schema's SQL: today's store writes columns of later migrations.
  const newUser = (username: string) => insertUserFromBefore(pool, { username, role });

  /** Runs `fn` as PostgREST runs the pre-request, under `claims`: null when it lets the request through. */
  async function run(fn: string, claims: Record<string, unknown> | null): Promise<string | null> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      if (claims) {
        await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      }
      await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(role)}`);
      return await client
        .query(`SELECT auth.${fn}()`)
        .then(() => null)
        .catch((error: { code?: string; message: string }) => `${error.code}: ${error.message}`);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('keeps a token signed in before the upgrade working, and answers every case as before', async () => {
    const user = await newUser('kept');
    const session = await openSession(user.id);
    const claims = { sub: user.id, role, session_id: session, token_version: '0' };
    assert.equal(await run('check_token_count', claims), null, 'before the upgrade');
    assert.equal((await migrate(pool, database.names))[0], 24);
    assert.equal(await run('check_token_count', claims), null, 'after it: still signed in');

    const other = await newUser('other');
    const othersSession = await openSession(other.id);
    const expired = await openSession(user.id, new Date(Date.now() - 1000));
    const ended = await openSession(user.id);
    await store.revokeSession(ended, 'logout', new Date());
    const banned = await newUser('banned');
    const bannedSession = await openSession(banned.id);
    await store.updateUser(banned.id, { bannedUntil: new Date(Date.now() + DAY) });
    const deleted = await newUser('deleted');
    const deletedSession = await openSession(deleted.id);
    await store.deleteUser(deleted.id);
    // A role of its own, then taken away: its tokens claim the role it no longer has.
    const promoted = await newUser('promoted');
    const promotedSession = await openSession(promoted.id);
    await pool.query(`UPDATE auth.users SET role = 'service_role' WHERE id = $1`, [promoted.id]);
    const demoted = await newUser('demoted');
    const demotedSession = await openSession(demoted.id);
    await pool.query(`UPDATE auth.users SET role = 'service_role' WHERE id = $1`, [demoted.id]);
    await pool.query(`UPDATE auth.users SET role = $2 WHERE id = $1`, [demoted.id, role]);
    const changed = await newUser('changed');
    const changedSession = await openSession(changed.id);
    await pool.query('UPDATE restauth.accounts SET token_count = token_count + 1 WHERE uid = $1', [
      changed.id,
    ]);

    const cases: Array<[string, Record<string, unknown> | null, RegExp | null]> = [
      ['a live session', claims, null],
      ['the count claim of older tokens', { ...claims, token_version: undefined, count: 0 }, null],
      ['signed out', { ...claims, session_id: ended }, /session has ended/],
      ['past its not_after', { ...claims, session_id: expired }, /session has ended/],
      ["another user's session", { ...claims, session_id: othersSession }, /session has ended/],
      ['an unknown session', { ...claims, session_id: randomUUID() }, /session has ended/],
      ['a session_id that is no uuid', { ...claims, session_id: 'nope' }, /names no session/],
      ['no session_id', { ...claims, session_id: undefined }, /names no session/],
      ['banned', { sub: banned.id, role, session_id: bannedSession, token_version: '0' }, /banned/],
      [
        'deleted',
        { sub: deleted.id, role, session_id: deletedSession, token_version: '0' },
        /no longer exists/,
      ],
      [
        'a role of its own',
        { sub: promoted.id, role: 'service_role', session_id: promotedSession, token_version: '0' },
        null,
      ],
      [
        'role changed',
        { sub: demoted.id, role: 'service_role', session_id: demotedSession, token_version: '0' },
        /role/,
      ],
      ['another role claimed', { ...claims, role: 'service_role' }, /role/],
      [
        'version moved on',
        { sub: changed.id, role, session_id: changedSession, token_version: '0' },
        /password/,
      ],
      ['a version of another shape', { ...claims, token_version: '00' }, /password/],
      ['a malformed sub', { ...claims, sub: 'not-a-uuid' }, /malformed subject/],
      ['an unknown user', { ...claims, sub: randomUUID() }, /no longer exists/],
      ['anonymous', { role: testRoles.anonymous }, null],
      ['no claims at all', null, null],
    ];
    for (const [name, claimed, refused] of cases) {
      const now = await run('check_token_count', claimed);
      // The function of before names its reason; since migration 58 every refusal says the same.
      const before = await run('check_token_before', claimed);
      assert.equal(now, refusedAsBefore(before), `${name}: as before`);
      if (refused === null) assert.equal(now, null, name);
      else assert.match(before ?? '', new RegExp(`^28P01: token refused: .*${refused.source}`), name);
    }
  });

  it('plans as index scans of the user, its account and its session', async () => {
    const { names } = database;
    await migrate(pool, names);
    // Enough rows for the planner to prefer the indexes, as on any real database: users (their
    // accounts come from migration 19's trigger), each with a session.
    await pool.query(
      `WITH made AS (
         INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
           created_at, updated_at, confirmation_token, recovery_token, email_change_token_new, email_change)
         SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', $1,
           'many' || i || '@example.com', '{}', '{}', now(), now(), '', '', '', ''
         FROM generate_series(1, 5000) i RETURNING id
       )
       INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal)
       SELECT gen_random_uuid(), id, now(), now(), 'aal1' FROM made`,
      [role],
    );
    await pool.query('ANALYZE');
    const plan = (
      await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${preRequestQuery(quotedNames(names))}`)
    ).rows
      .map((row) => row['QUERY PLAN'])
      .join('\n');
    for (const index of ['users_pkey', 'sessions_pkey']) {
      assert.match(plan, new RegExp(`Index Scan using ${index}`), plan);
    }
    assert.match(plan, /Index Scan using \w+ on accounts/, plan);
    assert.doesNotMatch(plan, /Seq Scan/, plan);
  });
});
