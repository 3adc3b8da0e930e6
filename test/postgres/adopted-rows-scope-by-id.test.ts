import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { hashSecret } from '../../src/core/secrets.js';
import { TOKEN_USER_NOT_FOUND } from '../../src/core/errors.js';
import { useAdoptedRowsApp } from '../support/adopted-rows-app.js';

const PASSWORD = 'a long passphrase';
const AUDIENCE = 'my-app';

/** What GoTrue answers a session made before its user's row changed, route by route. */
interface Expected {
  /** GET /user with the session's access token. */
  user: number;
  /** Its error_code when refused: GoTrue finds the user before the session (user_not_found first). */
  userCode?: string;
  /** POST /token?grant_type=refresh_token with its refresh token. */
  refresh: number;
  /** GET /admin/users/{id}. */
  adminUser: number;
  /** Whether GET /admin/users lists the user (and counts it in its total). */
  listed: boolean;
}

/**
 * Users an id names, as GoTrue finds them (models/user.go): FindUserByID asks `instance_id = uuid.Nil`,
 * so a user of another instance of an older multi-instance GoTrue is no user of this one: GET /user
 * answers 403 (requireAuthentication: "User from sub claim in JWT does not exist"), a refresh 400
 * (FindUserWithRefreshToken: refresh_token_not_found), the admin API 404 and its list leaves it out.
 * The admin list asks `aud = ?` too (FindUsersInAudience), its get by id does not. A soft-deleted user
 * whose delete fired no trigger (session_replication_role = replica, as pg_restore and logical
 * replication's apply write) kept live sessions: its token and refresh no longer sign it in.
 * Each case changes the row of a user signed in before, as the writer would; NULL is restauth's own.
 */
const CASES: { name: string; sql: string; expected: Expected }[] = [
  {
    name: 'another GoTrue instance',
    sql: 'UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1',
    expected: { user: 403, userCode: 'user_not_found', refresh: 400, adminUser: 404, listed: false },
  },
  {
    name: 'another audience',
    sql: `UPDATE auth.users SET aud = 'partner-app' WHERE id = $1`,
    expected: { user: 403, refresh: 200, adminUser: 200, listed: false },
  },
  {
    name: 'soft-deleted by a replica-role write (no trigger fired)',
    sql: `BEGIN; SET LOCAL session_replication_role = replica;
      UPDATE auth.users SET deleted_at = now() WHERE id = $1; COMMIT`,
    expected: { user: 403, userCode: 'user_not_found', refresh: 400, adminUser: 200, listed: true },
  },
  {
    name: 'instance_id NULL',
    sql: 'UPDATE auth.users SET instance_id = NULL WHERE id = $1',
    expected: { user: 200, refresh: 200, adminUser: 200, listed: true },
  },
  {
    name: 'aud NULL',
    sql: 'UPDATE auth.users SET aud = NULL WHERE id = $1',
    expected: { user: 200, refresh: 200, adminUser: 200, listed: true },
  },
];

describe('users an id names: own GoTrue instance, audience in the admin list, not soft-deleted (PostgreSQL)', () => {
  const app = useAdoptedRowsApp({ jwt: { audience: AUDIENCE } });
  const { db, call, signUp } = app;

  async function listed(id: string) {
    const list = await call('GET', '/auth/v1/admin/users?per_page=1000', app.serviceToken);
    assert.equal(list.statusCode, 200, list.body);
    const { users } = list.json<{ users: { id: string }[] }>();
    return { listed: users.some((user) => user.id === id), total: Number(list.headers['x-total-count']) };
  }

  CASES.forEach((scope, index) => {
    it(`${scope.name}: GET /user ${scope.expected.user}, refresh ${scope.expected.refresh}, admin ${scope.expected.adminUser}`, async () => {
      const session = await signUp(`by-id-${index}@acme.test`, PASSWORD);
      const before = await listed(session.user.id);
      assert.equal(before.listed, true);

      await db.pool.query(scope.sql.replace('$1', `'${session.user.id}'`));

      const user = await call('GET', '/auth/v1/user', session.access_token);
      assert.equal(user.statusCode, scope.expected.user, user.body);
      if (scope.expected.userCode !== undefined)
        assert.equal(user.json<{ error_code: string }>().error_code, scope.expected.userCode, user.body);
      const refresh = await call('POST', '/auth/v1/token?grant_type=refresh_token', undefined, {
        refresh_token: session.refresh_token,
      });
      assert.equal(refresh.statusCode, scope.expected.refresh, refresh.body);
      // A refused refresh spends nothing: the token is not rotated for a user no id finds.
      const spent = await db.pool.query('SELECT 1 FROM auth.refresh_tokens WHERE user_id = $1 AND revoked', [
        session.user.id,
      ]);
      assert.equal(spent.rowCount, scope.expected.refresh === 200 ? 1 : 0);
      const adminUser = await call('GET', `/auth/v1/admin/users/${session.user.id}`, app.serviceToken);
      assert.equal(adminUser.statusCode, scope.expected.adminUser, adminUser.body);
      const after = await listed(session.user.id);
      assert.equal(after.listed, scope.expected.listed);
      assert.equal(after.total, before.total - (scope.expected.listed ? 0 : 1));
    });
  });

  it("the admin API's DELETE of another instance's user answers 404 and deletes nothing", async () => {
    const { id } = (await signUp('other-instance@acme.test', PASSWORD)).user;
    await db.pool.query('UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [id]);

    const deleted = await call('DELETE', `/auth/v1/admin/users/${id}`, app.serviceToken);
    assert.equal(deleted.statusCode, 404, deleted.body);
    const { rowCount } = await db.pool.query('SELECT 1 FROM auth.users WHERE id = $1', [id]);
    assert.equal(rowCount, 1);
  });
  it('the token of a user the admin deleted: 403 user_not_found, as GoTrue finds no user', async () => {
    const signedUp = await call('POST', '/auth/v1/signup', undefined, {
      email: 'hard-deleted@acme.test',
      password: PASSWORD,
    });
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    const session = signedUp.json<{ access_token: string; user: { id: string } }>();
    const deleted = await app.t.app.inject({
      method: 'DELETE',
      url: `/auth/v1/admin/users/${session.user.id}`,
      headers: { authorization: `Bearer ${app.serviceToken}` },
    });
    assert.equal(deleted.statusCode, 200, deleted.body);

    const user = await call('GET', '/auth/v1/user', session.access_token);
    assert.equal(user.statusCode, 403, user.body);
    assert.equal(user.json<{ error_code: string }>().error_code, 'user_not_found', user.body);
    // The claims-only check (the data API's) reads findTokenStanding: the same answer.
    await assert.rejects(app.t.services.auth.authorize(session.access_token), {
      code: 'token_revoked',
      message: TOKEN_USER_NOT_FOUND,
    });
  });
  it("a store write naming another instance's user by id finds no user and writes nothing", async () => {
    const { store } = app.t.services;
    const { user } = await app.t.services.auth.signUp(LOCAL_CALL, {
      email: 'write-by-id@acme.test',
      password: PASSWORD,
    });
    const hash = await store.getPasswordHash(user.id);
    assert.notEqual(hash, null);
    const [emailIdentity] = await store.listIdentities(user.id);
    const now = new Date();
    await store.linkIdentity({
      userId: user.id,
      provider: 'github',
      providerId: 'gh-1',
      identityData: {},
      now,
    });
    await db.pool.query('UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [user.id]);
    const rowOf = async () =>
      (
        await db.pool.query<{ password: string; meta: object; identities: number; tokens: number }>(
          `SELECT u.encrypted_password AS password, u.raw_user_meta_data AS meta,
             (SELECT count(*)::int FROM auth.identities i WHERE i.user_id = u.id) AS identities,
             (SELECT count(*)::int FROM restauth.code_tokens c WHERE c.user_id = u.id) AS tokens
           FROM auth.users u WHERE u.id = $1`,
          [user.id],
        )
      ).rows[0]!;
    const before = await rowOf();

    assert.equal(await store.getPasswordHash(user.id), null);
    assert.equal(await store.replacePasswordHash(user.id, 'replaced', hash), false);
    await assert.rejects(store.changePassword(user.id, 'changed', null, now), { code: 'user_not_found' });
    await assert.rejects(store.updateUser(user.id, { profile: { moved: true }, username: 'moved-name' }), {
      code: 'user_not_found',
    });
    const link = { userId: user.id, provider: 'gitlab', providerId: 'gl-1', identityData: {}, now };
    await assert.rejects(store.linkIdentity(link), { code: 'user_not_found' });
    await assert.rejects(store.unlinkIdentity(user.id, emailIdentity!.id), { code: 'identity_not_found' });
    await store.keepOnlyIdentity(user.id, null);
    const token = { hash: 'h'.repeat(64), codeHash: null, userId: user.id, purpose: 'recovery', data: {} };
    const written = await store.createOneTimeToken({
      ...token,
      createdAt: now,
      expiresAt: new Date(now.getTime() + 60_000),
    });
    assert.equal(written.stored, false);

    assert.deepEqual(await rowOf(), before);
    assert.equal(before.identities, 2);
    const { rowCount } = await db.pool.query(`SELECT 1 FROM restauth.accounts WHERE username = 'moved-name'`);
    assert.equal(rowCount, 0);
  });
  it("another instance's user by id: no session opens, none ends, its factors and child rows are not found", async () => {
    const { store } = app.t.services;
    const session = await signUp('children-by-id@acme.test', PASSWORD);
    const { id } = session.user;
    const now = new Date();
    const factor = (
      await db.pool.query<{ id: string }>(
        `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at)
         VALUES (gen_random_uuid(), $1, 'phone app', 'totp', 'unverified', now(), now()) RETURNING id::text`,
        [id],
      )
    ).rows[0]!.id;
    const recovery = { hash: 'c'.repeat(64), codeHash: null, userId: id, purpose: 'recovery', data: {} };
    const later = new Date(now.getTime() + 60_000);
    assert.equal(
      (await store.createOneTimeToken({ ...recovery, createdAt: now, expiresAt: later })).stored,
      true,
    );
    assert.equal((await store.listSessions(id)).length, 1);
    assert.equal((await store.listIdentities(id)).length, 1);
    assert.equal((await store.listMfaFactors(id)).length, 1);
    assert.notEqual(await store.findOneTimeToken(id, 'recovery', now), null);
    await db.pool.query('UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [id]);
    const rowsOf = async () =>
      (
        await db.pool.query<{
          signedIn: Date | null;
          sessions: string[];
          refreshedAt: Date | null;
          factor: string;
        }>(
          `SELECT u.last_sign_in_at AS "signedIn",
             (SELECT array_agg(s.id::text ORDER BY s.id) FROM auth.sessions s WHERE s.user_id = u.id) AS sessions,
             (SELECT max(s.refreshed_at) FROM auth.sessions s WHERE s.user_id = u.id) AS "refreshedAt",
             (SELECT f.friendly_name FROM auth.mfa_factors f WHERE f.user_id = u.id) AS factor
           FROM auth.users u WHERE u.id = $1`,
          [id],
        )
      ).rows[0]!;
    const before = await rowsOf();

    // Read by user id: nothing of another instance's user, as findUserById finds no such user.
    assert.deepEqual(await store.listSessions(id), []);
    assert.deepEqual(await store.listIdentities(id), []);
    assert.deepEqual((await store.listIdentitiesOfUsers([id])).get(id), []);
    assert.deepEqual(await store.listMfaFactors(id), []);
    assert.equal(await store.findOneTimeToken(id, 'recovery', now), null);
    // Its session by the session's id (or its token's hash): not found, not touched, not ended.
    const sessionId = before.sessions[0]!;
    const successor = hashSecret(randomUUID());
    assert.equal(await store.rotateRefreshToken(hashSecret(session.refresh_token), successor, now), false);
    assert.equal(await store.findSession(sessionId), null);
    assert.equal(await store.recordSessionActivity(sessionId, later, new Date(0)), false);
    await store.revokeSession(sessionId, 'x', now);
    // Written by user id: nothing ends, changes or opens.
    assert.equal(await store.revokeUserSessions(id, null, 'x', now), 0);
    const renamed = { friendlyName: 'renamed', phone: null };
    assert.equal(await store.updateMfaFactor(id, factor, renamed, now), null);
    assert.equal(await store.deleteMfaFactor(id, factor), null);
    const opening = (sessionId: string) => ({
      id: sessionId,
      userId: id,
      createdAt: now,
      notAfter: later,
      refreshSecret: 's'.repeat(43),
      firstRefreshTokenHash: sessionId.replaceAll('-', '').padEnd(64, '0'),
      maxPerUser: 0,
    });
    // open_session and open_sign_in (migration 59), in the statement that locks the user's row.
    await assert.rejects(store.createSession(opening(randomUUID())), { code: 'user_not_found' });
    await assert.rejects(
      store.openSignIn!({
        lastSignInAt: now,
        session: opening(randomUUID()),
        audit: null,
        provenHash: 'not checked: no such user',
      }),
      {
        code: 'user_not_found',
      },
    );

    assert.deepEqual(await rowsOf(), before);
    assert.equal(before.sessions.length, 1);
    assert.equal(before.factor, 'phone app');
  });
  it("another instance's user's ended session is not found by its id", async () => {
    const { store } = app.t.services;
    const { user } = await signUp('ended-moved@acme.test', PASSWORD);
    const [session] = await store.listSessions(user.id);
    await store.revokeSession(session!.id, 'logout', new Date());
    assert.equal((await store.findSession(session!.id))?.revokedReason, 'logout');
    await db.pool.query('UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [user.id]);
    assert.equal(await store.findSession(session!.id), null);
  });
  it("a user name finds no user of another GoTrue instance: not the admin's lookup, nor a login", async () => {
    const { user } = await app.t.services.auth.signUp(LOCAL_CALL, {
      username: 'moved-away',
      password: PASSWORD,
    });
    assert.equal((await app.t.services.admin.findUser('moved-away')).id, user.id);
    await db.pool.query('UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [user.id]);

    await assert.rejects(app.t.services.admin.findUser('moved-away'), { code: 'user_not_found' });
    assert.equal(await app.t.services.auth.findByLogin('moved-away'), null);
    // The name stays taken: its account row still holds it.
    await assert.rejects(
      app.t.services.auth.signUp(LOCAL_CALL, { username: 'moved-away', password: PASSWORD }),
      {
        code: 'user_already_exists',
      },
    );
  });
});
