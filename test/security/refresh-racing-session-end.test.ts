import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';

/**
 * A refresh that read its token live, and whose session a logout or a password change ended before
 * its rotation: the rotation is refused, and that is the session ending, not the token coming back.
 * Answered as a reuse it would be counted, audited and alarmed as a theft; an operator who learns
 * that alarm is false ignores the true one. It is answered as a refresh after the end is (the
 * PostgreSQL store's one statement sees the end or not at all): GoTrue's refresh_token_not_found. The race is made:
 * the end commits once the refresh's read has answered (commitAfterRead).
 */
const PASSWORD = 'session end racer 1';

describe('a refresh racing the end of its session (file store)', { timeout: 60_000 }, () => {
  const app = mailingAppOnStore('file', { passwords: FAST_HASHING, signup: { confirmEmail: false } });
  let serial = 0;

  /** A session of a new account, and `another` of the same account (one a password change keeps). */
  const signedIn = async () => {
    const email = `ender${++serial}@corp.test`;
    const user = await app.t.services.auth.register(LOCAL_CALL, {
      email,
      password: PASSWORD,
      emailConfirmed: true,
    });
    return { id: user.id, ...(await signIn(email)), another: await signIn(email) };
  };

  const signIn = async (email: string) => {
    const res = await app.t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email, password: PASSWORD },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ access_token: string; refresh_token: string }>();
    return { accessToken: body.access_token, refreshToken: body.refresh_token };
  };

  const refresh = (refreshToken: string) =>
    app.t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: refreshToken },
    });

  const refreshWhile = (refreshToken: string, end: () => Promise<unknown>) =>
    commitAfterRead(app.t.services.store, end, ['findRefreshToken'], () => refresh(refreshToken));

  const reuseEvents = async (userId: string) =>
    (await app.t.services.store.listAuditEvents({ page: 1, perPage: 100, userId })).events.filter(
      (event) => event.action === 'refresh_token_reused',
    ).length;

  for (const [name, end] of [
    [
      'a logout',
      (user: { accessToken: string; id: string }) =>
        app.t.app.inject({
          method: 'POST',
          url: '/auth/v1/logout',
          headers: { authorization: `Bearer ${user.accessToken}` },
        }),
    ],
    [
      'a password change in another session',
      (user: { another: { accessToken: string } }) =>
        app.t.app.inject({
          method: 'PUT',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${user.another.accessToken}` },
          payload: { password: 'a brand new passphrase 2' },
        }),
    ],
    [
      "an administrator's deletion of the user (its sessions and tokens go with it)",
      async (user: { id: string }) => {
        await app.t.services.admin.deleteUser(LOCAL_CALL, user.id);
        return { statusCode: 204, body: '' };
      },
    ],
  ] as const) {
    it(`${name}: 400 refresh_token_not_found, no reuse counted or audited`, async () => {
      const user = await signedIn();
      const ended = async () => {
        const res = await end(user);
        assert.ok(res.statusCode < 300, res.body);
      };
      const res = await refreshWhile(user.refreshToken, ended);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error_code, 'refresh_token_not_found');
      assert.equal(await reuseEvents(user.id), 0);
      // What the same refresh after the end answers, as the PostgreSQL store's one statement does.
      const after = await refresh(user.refreshToken);
      assert.deepEqual([after.statusCode, after.json().error_code], [400, 'refresh_token_not_found']);
    });
  }
});
