import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { quotedNames } from '../../src/stores/postgres/migrations.js';
import {
  claimedRecord,
  claimsRecordVouchQuery,
} from '../../src/stores/postgres/pre-request-claims-record.js';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { realServerOnly, testRoles } from '../support/postgres.js';
import { insertSessionFromBefore, insertUserFromBefore } from '../support/sessions-before.js';
import { useTestDatabase } from '../support/test-database.js';
import { keepPreRequestOfBefore, refusedAsBefore } from '../support/pre-request-verdict.js';

const DAY = 86_400_000;
/** Claims, or their JSON text as PostgREST would set it (for spellings JSON.stringify never writes). */
type Claims = Record<string, unknown> | string;
// A token restauth signs says its user's audience (authenticated for these users), which the row vouches for since migration 35.
const claimsText = (claims: Claims) =>
  typeof claims === 'string' ? claims : JSON.stringify({ aud: 'authenticated', ...claims });

/**
 * The pre-request's fast path on one row per session (migration 26, compared in three operators since
 * migration 27, the role in the containment since migration 33): every write that changes what the check compares — restauth's and those of GoTrue or
 * SQL on the same tables — keeps the row true, so the next request after it is refused exactly as the
 * function before migration 24 refused it (same message, same SQLSTATE), and a request the row vouches
 * for is let through by the fast path alone.
 */
describe("the pre-request's fast path on one row per session", () => {
  const database = useTestDatabase({ max: 4, migrateThrough: 23 });
  let pool: pg.Pool;
  let store: PostgresStore;
  let fastQuery: string;
  let signedInBefore: Claims;
  let applied: number[];
  const role = testRoles.authenticated;

  before(async () => {
    ({ pool, store } = database);
    const { names } = database;
    // The function of before and its general check, kept under other names to be compared with.
    await keepPreRequestOfBefore(pool);
    const q = quotedNames(names);
    fastQuery = claimsRecordVouchQuery(q, claimedRecord(q, `current_setting('request.jwt.claims', true)`));
    // A session signed in before the upgrade.
    const user = await newUser('before-upgrade');
    const sessionId = randomUUID();
    await insertSessionFromBefore(pool, {
      id: sessionId,
      userId: user.id,
      notAfter: new Date(Date.now() + DAY),
      secret: 'secret',
    });
    signedInBefore = { sub: user.id, role, session_id: sessionId, token_version: 0 };
    applied = await migrate(pool, names);
  });

  // Before the upgrade, in that schema's SQL: today's store writes columns of later migrations.
  const newUser = (username: string) => insertUserFromBefore(pool, { username, role });

  async function openSession(userId: string, notAfter = new Date(Date.now() + DAY)): Promise<string> {
    const session = await store.createSession({
      id: randomUUID(),
      userId,
      createdAt: new Date(),
      notAfter,
      refreshSecret: 'secret',
      firstRefreshTokenHash: randomUUID(),
      maxPerUser: 0,
    });
    return session.id;
  }

  /** Runs `sql` as PostgREST runs the pre-request, under `claims`: the error it raised, or null. */
  async function underClaims(sql: string, claims: Claims): Promise<string | null> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [claimsText(claims)]);
      await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(role)}`);
      return await client
        .query(sql)
        .then(() => null)
        .catch((error: { code?: string; message: string }) => `${error.code}: ${error.message}`);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  /** Whether the session's row alone lets the claims through (the fast path, as its owner reads it). */
  async function vouched(claims: Claims): Promise<boolean> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [claimsText(claims)]);
      return (await client.query<{ found: boolean }>(`SELECT EXISTS (${fastQuery}) AS found`)).rows[0]!.found;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  /**
   * The verdict on `claims`: null (through) or the refusal of the function of before migration 24,
   * which names its reason; the check of now, asserted to refuse exactly then, in the one message of
   * every refusal since migration 58, and to let through by the fast path.
   */
  async function verdict(claims: Claims): Promise<string | null> {
    const now = await underClaims('SELECT auth.check_token_count()', claims);
    const before = await underClaims('SELECT auth.check_token_before()', claims);
    assert.equal(now, refusedAsBefore(before), 'as before');
    if (now === null) assert.equal(await vouched(claims), true, 'let through by the fast path');
    else assert.equal(await vouched(claims), false, 'not vouched for by a stale row');
    return before;
  }

  const refusedWith = (message: RegExp) => new RegExp(`^28P01: token refused: .*${message.source}`);

  it("vouches for sessions signed in before the upgrade, from the tables' rows", async () => {
    assert.equal(applied[0], 24);
    assert.ok(applied.includes(26) && applied.includes(27), String(applied));
    assert.equal(await verdict(signedInBefore), null);
  });

  it('refuses a session at once after its sign-out, and after all its user sessions end', async () => {
    const user = await newUser('signing-out');
    const [first, second, kept] = [
      await openSession(user.id),
      await openSession(user.id),
      await openSession(user.id),
    ];
    const claims = (session: string) => ({ sub: user.id, role, session_id: session, token_version: 0 });
    for (const session of [first, second, kept]) assert.equal(await verdict(claims(session)), null);
    await store.revokeSession(first, 'logout', new Date());
    assert.match((await verdict(claims(first))) ?? '', refusedWith(/session has ended/));
    assert.equal(await verdict(claims(second)), null, 'the other sessions go on');
    await store.revokeUserSessions(user.id, kept, 'logout_others', new Date());
    assert.match((await verdict(claims(second))) ?? '', refusedWith(/session has ended/));
    assert.equal(await verdict(claims(kept)), null, 'the kept session goes on');
  });

  it('refuses a banned user until the ban is lifted or over', async () => {
    const user = await newUser('banned');
    const claims = { sub: user.id, role, session_id: await openSession(user.id), token_version: 0 };
    await store.updateUser(user.id, { bannedUntil: new Date(Date.now() + DAY) });
    assert.match((await verdict(claims)) ?? '', refusedWith(/banned/));
    await store.updateUser(user.id, { bannedUntil: null });
    assert.equal(await verdict(claims), null, 'unbanned');
    // GoTrue's ORM writes every column: a ban among unchanged values, then one already over.
    await pool.query(
      `UPDATE auth.users SET banned_until = now() + interval '1 hour', role = role, updated_at = now() WHERE id = $1`,
      [user.id],
    );
    assert.match((await verdict(claims)) ?? '', refusedWith(/banned/));
    await pool.query(`UPDATE auth.users SET banned_until = now() - interval '1 second' WHERE id = $1`, [
      user.id,
    ]);
    assert.equal(await verdict(claims), null, 'a ban that is over');
  });

  it('refuses a ban reaching past the session, a ban with no end, and lets through once a ban is lifted', async () => {
    const user = await newUser('banned-long');
    const session = await openSession(user.id, new Date(Date.now() + DAY));
    const claims = { sub: user.id, role, session_id: session, token_version: 0 };
    for (const until of [`now() + interval '2 days'`, `'infinity'`, `now() + interval '1 hour'`]) {
      await pool.query(`UPDATE auth.users SET banned_until = ${until} WHERE id = $1`, [user.id]);
      assert.match((await verdict(claims)) ?? '', refusedWith(/banned/), until);
    }
    await pool.query(`UPDATE auth.users SET banned_until = now() - interval '1 second' WHERE id = $1`, [
      user.id,
    ]);
    assert.equal(await verdict(claims), null, 'lifted');
    // A session with no time box after a ban with no end: never vouched for.
    await pool.query(`UPDATE auth.sessions SET not_after = NULL WHERE id = $1`, [session]);
    await pool.query(`UPDATE auth.users SET banned_until = 'infinity' WHERE id = $1`, [user.id]);
    assert.match((await verdict(claims)) ?? '', refusedWith(/banned/));
  });

  it('refuses a role the user no longer has, and lets through one it was given', async () => {
    const user = await newUser('promoted');
    const session = await openSession(user.id);
    const claims = (claimed: string) => ({
      sub: user.id,
      role: claimed,
      session_id: session,
      token_version: 0,
    });
    assert.match((await verdict(claims('service_role'))) ?? '', refusedWith(/role/), 'not yet its role');
    await pool.query(`UPDATE auth.users SET role = 'service_role' WHERE id = $1`, [user.id]);
    assert.equal(await verdict(claims('service_role')), null, 'its role now');
    // The authenticated role always; since migration 33 the row vouches for the user's own role only,
    // and a token of before claiming the authenticated one is let through by the check on the tables.
    assert.equal(
      await underClaims('SELECT auth.check_token_count()', claims(role)),
      null,
      'the authenticated role',
    );
    assert.equal(await underClaims('SELECT auth.check_token_before()', claims(role)), null, 'as before');
    assert.equal(await vouched(claims(role)), false, 'the authenticated role: the check on the tables');
    await pool.query(`UPDATE auth.users SET role = $2 WHERE id = $1`, [user.id, role]);
    assert.match((await verdict(claims('service_role'))) ?? '', refusedWith(/role/), 'taken away');
    assert.match((await verdict(claims('anything_else'))) ?? '', refusedWith(/role/));
    // No role at all (a NULL GoTrue leaves): the authenticated role's tokens, no other.
    await pool.query(`UPDATE auth.users SET role = NULL WHERE id = $1`, [user.id]);
    assert.equal(await verdict(claims(role)), null, 'no role: the authenticated one');
    assert.match((await verdict(claims('service_role'))) ?? '', refusedWith(/role/));
    assert.match((await verdict({ ...claims(role), role: undefined })) ?? '', refusedWith(/role/), 'none');
  });

  it("refuses tokens issued before a password change, the kept session's too when none is kept", async () => {
    const user = await newUser('changing');
    const [kept, other] = [await openSession(user.id), await openSession(user.id)];
    const claims = (session: string, version: number) => ({
      sub: user.id,
      role,
      session_id: session,
      token_version: version,
    });
    await store.changePassword(user.id, 'hash-1', kept, new Date());
    assert.equal(await verdict(claims(kept, 0)), null, 'the kept session keeps its tokens');
    assert.match((await verdict(claims(other, 0))) ?? '', refusedWith(/session has ended/));
    await store.changePassword(user.id, 'hash-2', null, new Date());
    // Its version is checked before its session: the message says the password changed.
    assert.match((await verdict(claims(kept, 0))) ?? '', refusedWith(/password change/));
    assert.match((await verdict(claims(kept, 1))) ?? '', refusedWith(/session has ended/));
    const fresh = await openSession(user.id);
    assert.match((await verdict(claims(fresh, 0))) ?? '', refusedWith(/password change/), 'old version');
    assert.equal(await verdict(claims(fresh, 1)), null, 'the new version');
    // The count alone moving on (SQL, or an account written by another program).
    await pool.query('UPDATE restauth.accounts SET token_count = token_count + 1 WHERE uid = $1', [user.id]);
    assert.match((await verdict(claims(fresh, 1))) ?? '', refusedWith(/password change/));
    // postgrest-auth's count claim beside the version (its dialect's tokens): the version decides.
    assert.equal(await verdict({ ...claims(fresh, 2), count: 2 }), null);
    assert.match((await verdict({ ...claims(fresh, 1), count: 2 })) ?? '', refusedWith(/password change/));
    // The count alone, which restauth never issues with a session: let through by the full check only.
    const countOnly = { ...claims(fresh, 2), token_version: undefined, count: 2 };
    assert.equal(await underClaims('SELECT auth.check_token_count()', countOnly), null);
    assert.equal(await underClaims('SELECT auth.check_token_before()', countOnly), null);
    assert.equal(await vouched(countOnly), false);
  });

  it('refuses a deleted user, whose sessions and rows go with it', async () => {
    const user = await newUser('deleted');
    const session = await openSession(user.id);
    const claims = { sub: user.id, role, session_id: session, token_version: 0 };
    assert.equal(await verdict(claims), null);
    await store.deleteUser(user.id);
    assert.match((await verdict(claims)) ?? '', refusedWith(/no longer exists/));
    const { rows } = await pool.query(`SELECT FROM restauth.session_checks WHERE user_id = $1`, [user.id]);
    assert.equal(rows.length, 0);
  });

  it('refuses a session past its not_after, whether made so or moved there', async () => {
    const user = await newUser('expiring');
    const claims = (session: string) => ({ sub: user.id, role, session_id: session, token_version: 0 });
    const expired = await openSession(user.id, new Date(Date.now() - 1000));
    assert.match((await verdict(claims(expired))) ?? '', refusedWith(/session has ended/));
    const live = await openSession(user.id);
    assert.equal(await verdict(claims(live)), null);
    await pool.query(`UPDATE auth.sessions SET not_after = now() - interval '1 second' WHERE id = $1`, [
      live,
    ]);
    assert.match((await verdict(claims(live))) ?? '', refusedWith(/session has ended/));
    await pool.query(`UPDATE auth.sessions SET not_after = NULL WHERE id = $1`, [live]);
    assert.equal(await verdict(claims(live)), null, 'no time box (GoTrue leaves not_after NULL)');
  });

  it('keeps rows for a user and sessions GoTrue writes, and drops them as GoTrue ends them', async () => {
    const id = randomUUID();
    // As GoTrue signs up and in: its user (restauth's trigger gives it an account), its session.
    await pool.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
         created_at, updated_at, confirmation_token, recovery_token, email_change_token_new, email_change)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated',
         'gotrue@example.com', '{}', '{}', now(), now(), '', '', '', '')`,
      [id],
    );
    const session = randomUUID();
    await pool.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES ($1, $2, now(), now(), 'aal1')`,
      [session, id],
    );
    // Its role, 'authenticated', is a role of its own beside the configured authenticated role: the
    // one GoTrue and restauth put in its tokens.
    const claims = { sub: id, role: 'authenticated', session_id: session, token_version: 0 };
    assert.equal(await verdict(claims), null);
    // GoTrue's refresh updates the session (refreshed_at, updated_at): the row stays.
    await pool.query(`UPDATE auth.sessions SET refreshed_at = now(), updated_at = now() WHERE id = $1`, [
      session,
    ]);
    assert.equal(await verdict(claims), null);
    // GoTrue's logout deletes the session.
    await pool.query(`DELETE FROM auth.sessions WHERE id = $1`, [session]);
    assert.match((await verdict(claims)) ?? '', refusedWith(/session has ended/));
    // GoTrue deletes its user (its sessions by ON DELETE CASCADE).
    const another = randomUUID();
    await pool.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES ($1, $2, now(), now(), 'aal1')`,
      [another, id],
    );
    assert.equal(await verdict({ ...claims, session_id: another }), null);
    await pool.query(`DELETE FROM auth.users WHERE id = $1`, [id]);
    assert.match((await verdict({ ...claims, session_id: another })) ?? '', refusedWith(/no longer exists/));
  });

  it("refuses a session id of another user's live session, and claims written otherwise take the full check", async () => {
    const [ada, bob] = [await newUser('ada'), await newUser('bob')];
    const bobs = await openSession(bob.id);
    const adas = await openSession(ada.id);
    const forged = { sub: ada.id, role, session_id: bobs, token_version: 0 };
    assert.match((await verdict(forged)) ?? '', refusedWith(/session has ended/));
    assert.equal(await verdict({ sub: bob.id, role, session_id: bobs, token_version: 0 }), null);
    // The row's claims nested in the token (user metadata a user writes) are not the token's own.
    const nested = { user_metadata: { sub: bob.id, role, session_id: bobs, token_version: 0 } };
    assert.match((await verdict({ ...forged, ...nested })) ?? '', refusedWith(/session has ended/));
    assert.equal(await verdict({ sub: ada.id, role, session_id: adas, token_version: 0, ...nested }), null);
    // The version compared as text: a string "0" is the account's 0 for the row (migration 63 reads the
    // claim's JSON text), and so are 0e0 and -0 for the check on the tables (jsonb writes both 0), which
    // lets them through; 0.0 (jsonb keeps its scale), "00" and the rest are refused.
    const adasText = (version: string) =>
      `{"aud":"authenticated","sub":"${ada.id}","role":"${role}","session_id":"${adas}","token_version":${version}}`;
    assert.equal(await verdict(adasText('"0"')), null);
    for (const version of ['0e0', '-0']) {
      assert.equal(await underClaims('SELECT auth.check_token_count()', adasText(version)), null, version);
      assert.equal(await vouched(adasText(version)), false, version);
    }
    for (const version of ['0.0', '"00"', 'null', 'false', '[0]', '{"0":0}']) {
      assert.match((await verdict(adasText(version))) ?? '', refusedWith(/password change/), version);
    }
    // The same uuids in upper case: no row matches them as text, and the full check lets them through.
    const upper = { sub: ada.id.toUpperCase(), role, session_id: adas.toUpperCase(), token_version: 0 };
    assert.equal(await underClaims('SELECT auth.check_token_count()', upper), null);
    assert.equal(await vouched(upper), false);
    // Not a JSON object, or an object written with a space first: not read by the fast path (which
    // reads an object only), answered as before (anonymous, or by the check on the tables).
    const adasClaims = { aud: 'authenticated', sub: ada.id, role, session_id: adas, token_version: 0 };
    for (const claims of [
      '5',
      '[0]',
      '"text"',
      'null',
      ` ${JSON.stringify(adasClaims)}`,
      ` ${JSON.stringify(forged)}`,
      { role: testRoles.anonymous },
      { ...forged, session_id: 'nope' },
      { ...forged, sub: 'not-a-uuid' },
      { ...forged, session_id: undefined },
      { sub: ada.id, role, session_id: adas, token_version: '00' },
      { sub: ada.id, role, session_id: adas },
    ]) {
      assert.equal(
        await underClaims('SELECT auth.check_token_count()', claims),
        refusedAsBefore(await underClaims('SELECT auth.check_token_before()', claims)),
        JSON.stringify(claims),
      );
      assert.equal(await vouched(claims), false, JSON.stringify(claims));
    }
  });

  it('a user with no audience: a token without aud is vouched for by the row, one with an aud passes on the tables', async () => {
    const user = await newUser('no-audience');
    const session = await openSession(user.id);
    await pool.query('UPDATE auth.users SET aud = NULL WHERE id = $1', [user.id]);
    const claims = { sub: user.id, role, session_id: session, token_version: 0 };
    assert.equal(await verdict(JSON.stringify(claims)), null);
    const withAudience = JSON.stringify({ ...claims, aud: 'elsewhere' });
    assert.equal(await underClaims('SELECT auth.check_token_count()', withAudience), null);
    assert.equal(await vouched(withAudience), false);
    // A record equality takes two NULLs as equal: a row with no token count vouches for no token.
    await pool.query('UPDATE restauth.session_checks SET token_count = NULL WHERE session_id = $1', [
      session,
    ]);
    assert.equal(await vouched(JSON.stringify({ ...claims, token_version: undefined })), false);
  });

  it(
    'a ban or a password change racing a sign-in waits for it and reaches its new row',
    { skip: realServerOnly() ?? false },
    async () => {
      const user = await newUser('racing');
      for (const change of [
        `UPDATE auth.users SET banned_until = now() + interval '1 day' WHERE id = $1`,
        `UPDATE restauth.accounts SET token_count = token_count + 1 WHERE uid = $1`,
      ]) {
        await pool.query(`UPDATE auth.users SET banned_until = NULL WHERE id = $1`, [user.id]);
        const version = (
          await pool.query<{ token_count: number }>(
            `SELECT token_count FROM restauth.accounts WHERE uid = $1`,
            [user.id],
          )
        ).rows[0]!.token_count;
        const signingIn = await pool.connect();
        const changing = await pool.connect();
        try {
          const session = randomUUID();
          await signingIn.query('BEGIN');
          await signingIn.query(
            `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES ($1, $2, now(), now(), 'aal1')`,
            [session, user.id],
          );
          const changer = (await changing.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
            .pid;
          let changed = false;
          const changeDone = changing.query(change, [user.id]).then(() => (changed = true));
          // Until the change either finished (it did not wait for the sign-in: the race the row could
          // lose) or waits on a lock.
          for (;;) {
            const { rows } = await pool.query<{ waiting: boolean }>(
              `SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1`,
              [changer],
            );
            if (changed || rows[0]?.waiting) break;
          }
          await signingIn.query('COMMIT');
          await changeDone;
          const claims = { sub: user.id, role, session_id: session, token_version: version };
          assert.match(
            (await verdict(claims)) ?? 'let through',
            refusedWith(/banned|password change/),
            change,
          );
        } finally {
          signingIn.release();
          changing.release();
        }
      }
    },
  );

  it('plans the fast path as one scan of the hash index on the session id', async () => {
    // Enough sessions for the planner to prefer the index, as on any real database.
    const user = await newUser('many-sessions');
    await pool.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal)
       SELECT gen_random_uuid(), $1, now(), now(), 'aal1' FROM generate_series(1, 5000)`,
      [user.id],
    );
    await pool.query('ANALYZE');
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${fastQuery}`);
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    assert.match(plan, /Index Scan using session_checks_session_id_hash on session_checks/, plan);
    assert.doesNotMatch(plan, /Seq Scan/, plan);
  });
});
