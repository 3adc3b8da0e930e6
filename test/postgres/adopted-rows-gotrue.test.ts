import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useAdoptedRowsApp } from '../support/adopted-rows-app.js';

const PASSWORD = 'a long passphrase';
const EPOCH = '1970-01-01T00:00:00.000Z';

/** What each route must answer for a user whose rows a case changed: a status, never a 500. */
interface Expected {
  /** POST /token?grant_type=password: GoTrue's finding of the user (FindUserByEmailAndAudience). */
  password: number;
  /** GET /user, POST /token?grant_type=refresh_token, GET /admin/users/{id} (the session made before). */
  session: number;
}

interface OddRow {
  name: string;
  /** SQL run on the signed-up user's rows: $1 is its id. */
  sql: string;
  expected: Expected;
  /** Checks of GET /user's answer, when it is a 200. */
  user?: (user: Record<string, unknown>) => void;
}

const READABLE: Expected = { password: 200, session: 200 };

/**
 * Rows GoTrue (or a DBA) wrote that restauth never writes: every column GoTrue's schema lets be NULL or
 * hold another shape (docs/postgres-schema.md). Each is put in place for real on a signed-up user, then
 * every route that reads it is asked: the answer is the row read as GoTrue reads it, never a 500.
 */
const ODD_ROWS: OddRow[] = [
  {
    name: 'an identity with NULL created_at and updated_at',
    sql: `UPDATE auth.identities SET created_at = NULL, updated_at = NULL WHERE user_id = $1`,
    expected: READABLE,
    user: (user) => {
      const [identity] = user.identities as Record<string, unknown>[];
      // Go cannot scan NULL into the time GoTrue answers: restauth answers the epoch, never a 500.
      assert.equal(identity!.created_at, EPOCH);
      assert.equal(identity!.updated_at, EPOCH);
    },
  },
  {
    name: 'an identity with identity_data lacking sub and email',
    sql: `UPDATE auth.identities SET identity_data = '{}' WHERE user_id = $1`,
    expected: READABLE,
  },
  {
    name: 'an identity with identity_data NULL',
    sql: `UPDATE auth.identities SET identity_data = 'null' WHERE user_id = $1`,
    expected: READABLE,
  },
  {
    name: 'raw_app_meta_data NULL',
    sql: `UPDATE auth.users SET raw_app_meta_data = NULL WHERE id = $1`,
    expected: READABLE,
    user: (user) => assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] }),
  },
  {
    name: 'raw_app_meta_data a JSON array',
    sql: `UPDATE auth.users SET raw_app_meta_data = '["admin"]' WHERE id = $1`,
    expected: READABLE,
    user: (user) => assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] }),
  },
  {
    name: 'raw_app_meta_data a JSON string',
    sql: `UPDATE auth.users SET raw_app_meta_data = '"admin"' WHERE id = $1`,
    expected: READABLE,
    user: (user) => assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] }),
  },
  {
    name: 'raw_user_meta_data NULL',
    sql: `UPDATE auth.users SET raw_user_meta_data = NULL WHERE id = $1`,
    expected: READABLE,
    user: (user) => assert.deepEqual(user.user_metadata, {}),
  },
  {
    name: 'raw_user_meta_data a JSON array',
    sql: `UPDATE auth.users SET raw_user_meta_data = '[1, 2]' WHERE id = $1`,
    expected: READABLE,
    user: (user) => assert.deepEqual(user.user_metadata, {}),
  },
  {
    name: 'the user with NULL created_at and updated_at',
    sql: `UPDATE auth.users SET created_at = NULL, updated_at = NULL WHERE id = $1`,
    expected: READABLE,
    user: (user) => assert.equal(user.created_at, EPOCH),
  },
  {
    name: 'banned_until long past',
    sql: `UPDATE auth.users SET banned_until = '1970-01-02' WHERE id = $1`,
    expected: READABLE,
  },
  {
    name: 'banned_until far in the future',
    sql: `UPDATE auth.users SET banned_until = 'infinity' WHERE id = $1`,
    expected: { password: 400, session: 403 },
    // pg reads `infinity` as Infinity, to_jsonb as "infinity": both the last representable time.
  },
  {
    name: 'is_sso_user: an SSO user has no password sign-in',
    sql: `UPDATE auth.users SET is_sso_user = true WHERE id = $1`,
    expected: { password: 400, session: 200 },
  },
  {
    name: 'deleted_at set: a soft-deleted user does not exist for sign-in, and is signed out',
    sql: `UPDATE auth.users SET deleted_at = now() WHERE id = $1`,
    // GoTrue's soft delete ends every session (Logout): GET /user 403 session_not_found, refresh 400.
    expected: { password: 400, session: 403 },
  },
  {
    name: 'a phone-only user (email NULL): no password sign-in by address',
    sql: `UPDATE auth.users SET email = NULL, phone = '15550001000' WHERE id = $1`,
    expected: { password: 400, session: 200 },
  },
  {
    name: 'an empty-string email: no password sign-in by it',
    sql: `UPDATE auth.users SET email = '' WHERE id = $1`,
    expected: { password: 400, session: 200 },
  },
  {
    name: 'an identity whose identity_data has no email (its generated email NULL)',
    sql: `UPDATE auth.identities SET identity_data = identity_data - 'email' WHERE user_id = $1`,
    expected: READABLE,
  },
  {
    name: 'email_change half-filled',
    sql: `UPDATE auth.users SET email_change = 'new@example.com', email_change_token_new = NULL,
            email_change_sent_at = NULL, email_change_token_current = NULL WHERE id = $1`,
    expected: READABLE,
  },
  {
    name: "sessions with not_after 'infinity'",
    sql: `UPDATE auth.sessions SET not_after = 'infinity' WHERE user_id = $1`,
    expected: READABLE,
  },
  {
    name: "sessions and refresh tokens dated 'infinity' and '-infinity'",
    sql: `WITH s AS (UPDATE auth.sessions SET created_at = '-infinity', updated_at = 'infinity' WHERE user_id = $1)
          UPDATE auth.refresh_tokens SET created_at = '-infinity', updated_at = 'infinity' WHERE user_id = $1::text`,
    expected: READABLE,
  },
  {
    name: "the user's other times 'infinity' and '-infinity'",
    sql: `UPDATE auth.users SET email_confirmed_at = '-infinity', last_sign_in_at = 'infinity',
            invited_at = '-infinity', created_at = '-infinity', updated_at = 'infinity' WHERE id = $1`,
    expected: READABLE,
  },
  {
    name: "an identity's times 'infinity'",
    sql: `UPDATE auth.identities SET last_sign_in_at = 'infinity', created_at = '-infinity', updated_at = 'infinity'
            WHERE user_id = $1`,
    expected: READABLE,
  },
  {
    name: "an unverified MFA factor dated 'infinity' and '-infinity'",
    sql: `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at,
            last_challenged_at) VALUES (gen_random_uuid(), $1, 'phone app', 'totp', 'unverified', '-infinity',
            'infinity', 'infinity')`,
    expected: READABLE,
  },
  {
    name: 'sessions with NULL not_after, refreshed_at and aal',
    sql: `UPDATE auth.sessions SET not_after = NULL, refreshed_at = NULL, aal = NULL WHERE user_id = $1`,
    expected: READABLE,
  },
];

describe('rows GoTrue or a DBA wrote, on every route (PostgreSQL)', () => {
  const app = useAdoptedRowsApp();
  const { db, call, signUp } = app;

  it("banned_until 'infinity': an administrator still sets the user's password", async () => {
    const { id } = (await signUp('ban@example.com', PASSWORD)).user;
    await db.pool.query(`UPDATE auth.users SET banned_until = 'infinity' WHERE id = $1`, [id]);
    const changed = await call('PUT', `/auth/v1/admin/users/${id}`, app.serviceToken, {
      password: 'another long passphrase',
    });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(changed.json<{ banned_until: string }>().banned_until, '+275760-09-13T00:00:00.000Z');
  });

  ODD_ROWS.forEach((odd, index) => {
    it(odd.name, async (test) => {
      const email = `odd-${index}@example.com`;
      const session = await signUp(email, PASSWORD);
      await db.pool.query(odd.sql, [session.user.id]);
      // Each case alone: a row one leaves must not fail the next's admin list.
      test.after(() => db.pool.query(`DELETE FROM auth.users WHERE id = $1`, [session.user.id]));

      const answers = {
        user: await call('GET', '/auth/v1/user', session.access_token),
        // json-data-server's token check, which reads only the token's standing (findTokenStanding).
        check: await call('POST', '/auth/check', undefined, { access_token: session.access_token }),
        adminUser: await call('GET', `/auth/v1/admin/users/${session.user.id}`, app.serviceToken),
        adminFactors: await call('GET', `/auth/v1/admin/users/${session.user.id}/factors`, app.serviceToken),
        adminList: await call('GET', '/auth/v1/admin/users?per_page=1000', app.serviceToken),
        refresh: await call('POST', '/auth/v1/token?grant_type=refresh_token', undefined, {
          refresh_token: session.refresh_token,
        }),
        password: await call('POST', '/auth/v1/token?grant_type=password', undefined, {
          email,
          password: PASSWORD,
        }),
        logout: await call('POST', '/auth/v1/logout', session.access_token),
      };
      for (const [route, answer] of Object.entries(answers))
        assert.ok(answer.statusCode < 500, `${route}: ${answer.statusCode} ${answer.body}`);
      assert.equal(answers.password.statusCode, odd.expected.password, answers.password.body);
      assert.equal(answers.adminUser.statusCode, 200, answers.adminUser.body);
      assert.equal(answers.adminList.statusCode, 200, answers.adminList.body);
      assert.equal(answers.user.statusCode, odd.expected.session, answers.user.body);
      assert.equal(
        answers.refresh.statusCode,
        odd.expected.session === 200 ? 200 : 400,
        answers.refresh.body,
      );
      assert.equal(
        answers.check.json<{ valid: boolean }>().valid,
        odd.expected.session === 200,
        answers.check.body,
      );
      if (answers.user.statusCode === 200) odd.user?.(answers.user.json());
    });
  });
});
