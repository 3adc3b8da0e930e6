import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { hashSecret, randomSecret } from '../../src/core/secrets.js';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { realServerOnly, testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';
import { migrateUpTo, SUPABASE_NAMES } from '../support/postgres-migrations.js';
import { lockWaiters } from '../support/lock-waiters.js';

const DAY = 86_400_000;
const NIL = '00000000-0000-0000-0000-000000000000';

/** The claims of an access token, as PostgREST hands them to the pre-request. */
function claimsOf(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

/**
 * Sessions and refresh tokens in GoTrue's auth.sessions and auth.refresh_tokens (migration 17), with
 * restauth's part in its own schema: a database upgraded from the earlier layout keeps its users
 * signed in, a session written by SQL as GoTrue writes one is read as it means, the pre-request
 * refuses an ended session's token at once, and deleting a user takes everything of its sessions.
 */
describe("GoTrue's sessions and refresh tokens on PostgreSQL", () => {
  let url: string;
  let t: TestApp;
  let sql: pg.Pool;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => t?.close() });
  const names = SUPABASE_NAMES;
  // Written before the upgrade, in the earlier layout.
  const userId = randomUUID();
  const liveSession = randomUUID();
  const endedSession = randomUUID();
  const liveToken = randomSecret();
  const rotatedToken = randomSecret();
  const endedToken = randomSecret();
  const signedInAt = new Date(Date.now() - 60_000);

  before(async () => {
    ({ url, pool: sql } = db);
    await migrateUpTo(sql, names, 16);
    await sql.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
         raw_app_meta_data, raw_user_meta_data, created_at, updated_at, confirmation_token, recovery_token,
         email_change_token_new, email_change)
       VALUES ($1, $2, 'authenticated', 'authenticated', 'kept@example.com', NULL, now(), '{}', '{}', now(),
         now(), '', '', '', '')`,
      [NIL, userId],
    );
    const { rows } = await sql.query<{ id: number }>(
      `INSERT INTO restauth.accounts (uid, username, username_lowercase) VALUES ($1, NULL, NULL) RETURNING id`,
      [userId],
    );
    const key = rows[0]!.id;
    const notAfter = new Date(Date.now() + DAY);
    await sql.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, refreshed_at, not_after, refresh_secret)
       VALUES ($1, $3, $4, $4, $5, 'live-secret'), ($2, $3, $4, $4, $5, 'ended-secret')`,
      [liveSession, endedSession, key, signedInAt, notAfter],
    );
    await sql.query(`UPDATE auth.sessions SET revoked_at = $2, revoked_reason = 'logout' WHERE id = $1`, [
      endedSession,
      signedInAt,
    ]);
    await sql.query(
      `INSERT INTO auth.refresh_tokens (hash, session_id, created_at, rotated_at) VALUES
         ($1, $4, $5, $5), ($2, $4, $5, NULL), ($3, $6, $5, NULL)`,
      [
        hashSecret(rotatedToken),
        hashSecret(liveToken),
        hashSecret(endedToken),
        liveSession,
        signedInAt,
        endedSession,
      ],
    );
    // The app migrates (17) as it opens the store.
    t = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(url),
        roles: { anonymous: names.anonymousRole, authenticated: names.authenticatedRole },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      },
    });
  });

  const refresh = (token: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: token },
    });

  /** Runs the pre-request under `claims`, as PostgREST does: null when it lets the request through. */
  async function preRequest(claims: Record<string, unknown>): Promise<string | null> {
    const client = await sql.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
      return await client
        .query('SELECT auth.check_token_count()')
        .then(() => null)
        .catch((error: { code?: string; message: string }) => `${error.code}: ${error.message}`);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('converts the sessions in place: GoTrue rows, restauth secrets, ended ones recorded with their reason', async () => {
    const { rows: sessions } = await sql.query(
      `SELECT id::text, user_id::text, aal::text, not_after IS NOT NULL AS timed,
         refreshed_at = ($2::timestamptz AT TIME ZONE 'UTC') AS refreshed_in_utc
       FROM auth.sessions WHERE user_id = $1`,
      [userId, signedInAt],
    );
    assert.deepEqual(sessions, [
      { id: liveSession, user_id: userId, aal: 'aal1', timed: true, refreshed_in_utc: true },
    ]);
    const { rows: tokens } = await sql.query(
      `SELECT token, user_id, revoked, instance_id::text FROM auth.refresh_tokens WHERE session_id = $1
       ORDER BY id`,
      [liveSession],
    );
    assert.deepEqual(
      new Set(tokens.map((row) => JSON.stringify(row))),
      new Set([
        JSON.stringify({ token: hashSecret(rotatedToken), user_id: userId, revoked: true, instance_id: NIL }),
        JSON.stringify({ token: hashSecret(liveToken), user_id: userId, revoked: false, instance_id: NIL }),
      ]),
    );
    const { rows: ends } = await sql.query(
      'SELECT id::text, reason FROM restauth.session_ends WHERE user_id = $1',
      [userId],
    );
    assert.deepEqual(ends, [{ id: endedSession, reason: 'logout' }]);
    assert.equal(
      (await sql.query(`SELECT to_regclass('restauth.sessions_before_17') AS t`)).rows[0].t,
      null,
      'the earlier tables are gone',
    );
  });

  it("an upgraded database's session refreshes; its ended session's token is refused as signed out", async () => {
    const res = await refresh(liveToken);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { access_token: string; refresh_token: string; user: { id: string } };
    assert.equal(body.user.id, userId);
    assert.equal(claimsOf(body.access_token).session_id, liveSession);
    const { rows } = await sql.query(`SELECT revoked, parent FROM auth.refresh_tokens WHERE token = $1`, [
      hashSecret(body.refresh_token),
    ]);
    assert.deepEqual(rows, [{ revoked: false, parent: hashSecret(liveToken) }], 'rotated as GoTrue rotates');
    assert.equal(await preRequest(claimsOf(body.access_token)), null);
    // The session ended before the upgrade stays ended.
    // GoTrue's answer to a token of a deleted session; the store still knows why it ended.
    const ended = await refresh(endedToken);
    assert.equal((ended.json() as { error_code?: string }).error_code, 'refresh_token_not_found', ended.body);
    const kept = await t.services.store.findRefreshToken(hashSecret(endedToken));
    assert.equal(kept?.session.revokedReason, 'logout');
    // The successor works once more: the chain goes on.
    assert.equal((await refresh(body.refresh_token)).statusCode, 200);
  });

  it('reads a session GoTrue wrote by SQL as it means it, and its tokens pass the pre-request', async () => {
    const session = randomUUID();
    const refreshedAt = new Date('2030-01-02T03:04:05.000Z');
    await sql.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, not_after, refreshed_at, user_agent, ip)
       VALUES ($1, $2, '2030-01-01T00:00:00Z', '2030-01-02T03:04:05Z', 'aal1', NULL, '2030-01-02 03:04:05',
         'Mozilla/5.0', '203.0.113.9')`,
      [session, userId],
    );
    await sql.query(
      `INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, session_id, created_at, updated_at)
       VALUES ($1, 'abcdefghijkl', $2, false, $3, '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z')`,
      [NIL, userId, session],
    );
    const found = await t.services.store.findSession(session);
    assert.equal(found?.userId, userId);
    assert.equal(found?.refreshedAt.toISOString(), refreshedAt.toISOString(), 'refreshed_at is UTC');
    assert.equal(found?.createdAt.toISOString(), '2030-01-01T00:00:00.000Z');
    assert.equal(found?.notAfter.getUTCFullYear(), 9999, 'no time box: no absolute end');
    assert.equal(found?.revokedAt, null);
    assert.ok((await t.services.store.listSessions(userId)).some((listed) => listed.id === session));
    // GoTrue's raw v1 token is not a restauth token: no restauth hash names it.
    assert.equal(await t.services.store.findRefreshToken('abcdefghijkl'), null);
    const claims = { sub: userId, role: 'authenticated', session_id: session, token_version: '0' };
    assert.equal(await preRequest(claims), null);
    await t.services.store.revokeSession(session, 'logout', new Date());
    assert.equal(await preRequest(claims), `28P01: ${PRE_REQUEST_REFUSAL}`);
    assert.equal((await t.services.store.findSession(session))?.revokedReason, 'logout');
  });

  it('refuses a signed-out session and, after a password change, every other session at once', async () => {
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'fresh@example.com', password: 'a long passphrase' },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    const first = signUp.json() as { access_token: string; refresh_token: string };
    const signIn = async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: 'fresh@example.com', password: 'a long passphrase' },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { access_token: string; refresh_token: string };
    };
    const second = await signIn();
    const third = await signIn();
    for (const s of [first, second, third]) assert.equal(await preRequest(claimsOf(s.access_token)), null);

    const out = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/logout?scope=local',
      headers: { authorization: `Bearer ${first.access_token}` },
    });
    assert.equal(out.statusCode, 204, out.body);
    assert.equal(await preRequest(claimsOf(first.access_token)), `28P01: ${PRE_REQUEST_REFUSAL}`);
    const refused = await refresh(first.refresh_token);
    assert.equal(
      (refused.json() as { error_code?: string }).error_code,
      'refresh_token_not_found',
      refused.body,
    );
    const { rows } = await sql.query(`SELECT reason FROM restauth.session_ends WHERE id = $1`, [
      claimsOf(first.access_token).session_id,
    ]);
    assert.equal(rows.length, 1, 'the ended session is recorded');

    // A password change keeping the caller's session ends the others at once.
    const changed = await t.app.inject({
      method: 'PUT',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${second.access_token}` },
      payload: { password: 'another long passphrase' },
    });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(await preRequest(claimsOf(second.access_token)), null, "the caller's session stays");
    assert.equal(await preRequest(claimsOf(third.access_token)), `28P01: ${PRE_REQUEST_REFUSAL}`);
    const { rows: reasons } = await sql.query(`SELECT reason FROM restauth.session_ends WHERE id = $1`, [
      claimsOf(third.access_token).session_id,
    ]);
    assert.deepEqual(reasons, [{ reason: 'password_changed' }]);
  });

  it(
    'a refresh and a sign-out of one session at once both finish, never deadlocked',
    { skip: realServerOnly() ?? false },
    async () => {
      const store = t.services.store;
      const now = new Date();
      const session = await store.createSession({
        id: randomUUID(),
        userId,
        createdAt: now,
        notAfter: new Date(now.getTime() + DAY),
        refreshSecret: 'racing-secret',
        firstRefreshTokenHash: 'rt-racing',
        maxPerUser: 0,
      });
      // A third party holds the token's row, so the refresh waits there holding what it took before;
      // the sign-out then queues behind it.
      const holder = await sql.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM auth.refresh_tokens WHERE token = $1 FOR UPDATE', ['rt-racing']);
        const refreshing = store.rotateRefreshToken('rt-racing', 'rt-racing-2', now);
        await lockWaiters(sql, 1);
        const signingOut = store.revokeSession(session.id, 'logout', now);
        await lockWaiters(sql, 2);
        await holder.query('COMMIT');
        // Before, the refresh took the token, then wanted the session the sign-out held while it wanted
        // the token: PostgreSQL aborted one (deadlock_detected).
        const [rotated] = await Promise.all([refreshing, signingOut]);
        assert.equal(rotated, true);
      } finally {
        holder.release();
      }
      assert.equal((await store.findSession(session.id))?.revokedReason, 'logout');
      assert.equal((await sql.query('SELECT 1 FROM auth.sessions WHERE id = $1', [session.id])).rowCount, 0);
    },
  );

  it("deleting a user takes its sessions, refresh tokens, secrets and ended sessions' records", async () => {
    const count = async (table: string, column: string) =>
      Number(
        (await sql.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${column} = $1`, [userId]))
          .rows[0]!.n,
      );
    const tables = async () => ({
      sessions: await count('auth.sessions', 'user_id'),
      refreshTokens: await count('auth.refresh_tokens', 'user_id::uuid'),
      secrets: await count(
        'restauth.session_secrets k JOIN auth.sessions s ON s.id = k.session_id',
        's.user_id',
      ),
      ends: await count('restauth.session_ends', 'user_id'),
      endTokens: await count(
        'restauth.session_end_tokens k JOIN restauth.session_ends e ON e.id = k.session_id',
        'e.user_id',
      ),
    });
    const before = await tables();
    for (const [table, n] of Object.entries(before)) assert.ok(n > 0, `${table} has rows to delete`);
    assert.equal(await t.services.store.deleteUser(userId), true);
    assert.deepEqual(await tables(), { sessions: 0, refreshTokens: 0, secrets: 0, ends: 0, endTokens: 0 });
  });
});
