import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { commitAfterRead } from '../support/commit-after-read.js';
import { lockWaiters } from '../support/lock-waiters.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import type { Inject } from '../support/pkce.js';
import { realServerOnly } from '../support/postgres.js';

/**
 * GoTrue's PUT /user writes what the caller's session licenses: its data merged in, or an anonymous
 * user's address taken at once (no confirmation required). The request checked the token, then wrote:
 * a sign-out everywhere committed in between (the owner's answer to a stolen session) let the thief's
 * change land all the same. The race is made, not hoped for: the sign-out commits once the request's
 * token check's session lookup (findSession) has answered (commitAfterRead).
 */
const PASSWORD = 'an owner passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`PUT /user while its session is signed out (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, {
      dialects: { gotrue: {} },
      signup: { confirmEmail: false, anonymousUsers: true },
    });
    // The app is started before the suite's tests, after this runs: looked up at each call.
    const inject: Inject = (options) => app.t.app.inject(options);

    /** A new session: an email user's (its address) or an anonymous user's (null). */
    const signedUp = async (email: string | null) => {
      const signUp = await inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: email === null ? {} : { email, password: PASSWORD },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      return signUp.json<{ access_token: string; user: { id: string } }>();
    };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const signOut = (token: string) => () =>
      inject({ method: 'POST', url: '/auth/v1/logout?scope=global', headers: bearer(token) });
    const update = (token: string, payload: Record<string, unknown>) => () =>
      inject({ method: 'PUT', url: '/auth/v1/user', headers: bearer(token), payload });

    it('data merged as the owner signs out everywhere: refused, the data kept', async () => {
      const session = await signedUp('owner1@acme.test');
      const updated = await commitAfterRead(
        app.t.services.store,
        signOut(session.access_token),
        ['findSession'],
        update(session.access_token, { data: { avatar: 'https://evil.test/a.png' } }),
      );
      assert.equal(updated.statusCode, 403, updated.body);
      assert.equal(updated.json().error_code, 'session_not_found');
      assert.deepEqual((await app.t.services.store.findUserById(session.user.id))?.profile, {});
    });

    it('an anonymous user’s address taken as its session is signed out: refused, still anonymous', async () => {
      const session = await signedUp(null);
      const updated = await commitAfterRead(
        app.t.services.store,
        signOut(session.access_token),
        ['findSession'],
        update(session.access_token, { email: 'thief2@evil.test' }),
      );
      assert.equal(updated.statusCode, 403, updated.body);
      assert.equal(updated.json().error_code, 'session_not_found');
      const user = await app.t.services.store.findUserById(session.user.id);
      assert.equal(user?.email, null);
      assert.equal(user?.isAnonymous, true);
    });

    it('a session still live: the data and the anonymous user’s address are written', async () => {
      const owner = await signedUp('owner3@acme.test');
      const merged = await update(owner.access_token, { data: { theme: 'dark' } })();
      assert.equal(merged.statusCode, 200, merged.body);
      assert.deepEqual((await app.t.services.store.findUserById(owner.user.id))?.profile, {
        theme: 'dark',
      });
      const anonymous = await signedUp(null);
      const taken = await update(anonymous.access_token, { email: 'anon3@acme.test' })();
      assert.equal(taken.statusCode, 200, taken.body);
      const user = await app.t.services.store.findUserById(anonymous.user.id);
      assert.equal(user?.email, 'anon3@acme.test');
      assert.equal(user?.isAnonymous, false);
    });
  });
}

/**
 * PostgreSQL's password change read the kept session (the one PUT /user was asked in) without a lock:
 * a sign-out that had deleted it but not committed yet was not seen, and the change the session
 * licensed landed after the sign-out. The sign-out is held open here (a transaction that deleted the
 * session's row), the change is asked, and it must wait for the sign-out (lockWaiters), then refuse.
 */
describe(
  'a password change while its session is being signed out (postgres store)',
  {
    skip: realServerOnly() ?? false,
  },
  () => {
    // Ended before the app's database is dropped (after hooks run in their order): a dropped database
    // ends the pool's connections under it.
    let sql: pg.Pool | undefined;
    after(() => sql?.end());
    const app = mailingAppOnStore('postgres', {
      dialects: { gotrue: {} },
      signup: { confirmEmail: false },
    });
    before(() => {
      sql = new pg.Pool({ connectionString: app.store.config.store!.url, max: 2 });
    });

    it('waits for the sign-out, then refuses: the password stays', async () => {
      const signUp = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 'owner4@acme.test', password: PASSWORD },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      const session = signUp.json<{ access_token: string; user: { id: string } }>();
      const sessionId = JSON.parse(Buffer.from(session.access_token.split('.')[1]!, 'base64url').toString())
        .session_id as string;
      const before = await app.t.services.store.getPasswordHash(session.user.id);
      const signingOut = await sql!.connect();
      try {
        await signingOut.query('BEGIN');
        await signingOut.query('DELETE FROM auth.sessions WHERE id = $1', [sessionId]);
        const changing = app.t.app.inject({
          method: 'PUT',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${session.access_token}` },
          payload: { password: 'a thief’s passphrase' },
        });
        const stop = new AbortController();
        const first = await Promise.race([
          lockWaiters(sql!, 1, { signal: stop.signal }).then(() => 'waited' as const),
          changing.then(() => 'answered' as const),
        ]).finally(() => stop.abort());
        await signingOut.query('COMMIT');
        const changed = await changing;
        assert.equal(first, 'waited', `the change did not wait for the sign-out: ${changed.body}`);
        assert.equal(changed.statusCode, 403, changed.body);
        assert.equal(changed.json().error_code, 'session_not_found');
      } finally {
        signingOut.release();
      }
      assert.equal(await app.t.services.store.getPasswordHash(session.user.id), before);
    });
  },
);
