import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { appOnStore } from '../support/mailing-app-on-store.js';

/**
 * A password sign-in checks the password against the hash it read, then opens a session: a hash
 * takes milliseconds, and a password change (the owner's, a reset, an administrator's) that commits
 * in between ends the account's sessions before this one exists. The sign-in then opened a session
 * with the old password all the same, and whoever held it (the thief the change was meant to shut
 * out) kept the account. The race is made, not hoped for: the change commits once the sign-in's
 * lookup has answered (commitAfterRead), before the hash is checked.
 */
const OLD_PASSWORD = 'an old passphrase 1';
const NEW_PASSWORD = 'a new passphrase 22';
const SIGN_IN_READS = ['findUserWithPasswordHash', 'getPasswordHash'];

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a password sign-in racing a password change (${storeKind} store)`, { timeout: 60_000 }, () => {
    const app = appOnStore(storeKind, { passwords: FAST_HASHING, signup: { confirmEmail: false } });
    let serial = 0;

    /** A confirmed account with OLD_PASSWORD, its address named after `kind`. */
    const account = async (kind: string) => {
      const email = `${kind}${++serial}@corp.test`;
      const user = await app.t.services.auth.register(LOCAL_CALL, {
        email,
        password: OLD_PASSWORD,
        emailConfirmed: true,
      });
      return { email, user };
    };

    const signIn = (email: string, password: string) =>
      app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password },
      });

    it('the old password opens no session once the change has committed; the new one signs in', async () => {
      const { email, user } = await account('racer');
      const { store, admin } = app.t.services;

      const raced = await commitAfterRead(
        store,
        () => admin.updateUser(LOCAL_CALL, user.id, { password: NEW_PASSWORD }),
        SIGN_IN_READS,
        () => signIn(email, OLD_PASSWORD),
      );
      // A wrong password's answer: by the time the session would open, it is one.
      assert.equal(raced.statusCode, 400, raced.body);
      assert.equal(raced.json().error_code, 'invalid_credentials');
      assert.doesNotMatch(raced.body, /refresh_token/u);
      assert.deepEqual(await store.listSessions(user.id), [], 'no session outlives the change');

      const after = await signIn(email, NEW_PASSWORD);
      assert.equal(after.statusCode, 200, after.body);
      assert.equal((await store.listSessions(user.id)).length, 1);
    });

    it('a sign-in with the password as it stands is not refused', async () => {
      const { email, user } = await account('steady');
      // The same interleaving, a change of something else: the proof still stands.
      const res = await commitAfterRead(
        app.t.services.store,
        () => app.t.services.admin.updateUser(LOCAL_CALL, user.id, { profile: { name: 'Racer' } }),
        SIGN_IN_READS,
        () => signIn(email, OLD_PASSWORD),
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await app.t.services.store.listSessions(user.id)).length, 1);
    });
  });
}
