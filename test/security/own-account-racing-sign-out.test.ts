import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitAfterRead } from '../support/commit-after-read.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import type { Inject } from '../support/pkce.js';

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
