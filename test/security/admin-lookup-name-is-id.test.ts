import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { appOnStore } from '../support/mailing-app-on-store.js';

/**
 * The operator's commands (`restauth users show|ban|set-password|delete <user>`) name a user by an
 * address, an id or a user name. Anyone may sign up with a user name that is another user's id: an
 * operator told to ban "the user called X" then banned (or reset, or deleted) the user whose id is X.
 * No sign-up takes such a name now; one stored before (or by other means) makes a lookup that is one
 * user's id and another user's name refused, naming both ways out.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an operator's lookup of a user name that is another user's id (${storeKind} store)`, () => {
    const app = appOnStore(storeKind, { passwords: FAST_HASHING, signup: { confirmEmail: false } });

    it('is refused as ambiguous; the address, the other name and the other id each find one user', async () => {
      const { auth, admin } = app.t.services;
      const alice = await auth.register(LOCAL_CALL, {
        username: `alice${storeKind}`,
        email: `alice.${storeKind}@corp.test`,
        password: 'a long passphrase',
        emailConfirmed: true,
      });
      const register = () =>
        auth.register(LOCAL_CALL, {
          username: alice.id,
          password: 'a long passphrase',
          emailConfirmed: true,
        });
      if (storeKind === 'file') {
        // A user signing up by name on the file store gets that name as its id (json-data-server's
        // users): a name that is another user's id is taken.
        await assert.rejects(register(), { code: 'user_already_exists' });
        assert.equal((await admin.findUser(alice.id)).id, alice.id);
        return;
      }
      // Alice's id is a uuid, which no sign-up takes as a name (username-spelling-a-user-id.test.ts).
      await assert.rejects(register(), {
        code: 'validation_failed',
        message: 'User name must not be a user id',
      });
      // A name from before that rule, or written by other means (postgrest-auth's table, SQL).
      const mallory = await app.t.services.store.createUser(
        {
          username: alice.id,
          email: null,
          emailConfirmedAt: new Date(),
          role: null,
          profile: {},
          appMetadata: {},
        },
        null,
      );
      assert.notEqual(mallory.id, alice.id);

      await assert.rejects(admin.findUser(alice.id), {
        code: 'validation_failed',
        message: new RegExp(`is the id of one user and the user name of another \\(id ${mallory.id}\\)`),
      });
      assert.equal((await admin.findUser(`alice.${storeKind}@corp.test`)).id, alice.id);
      assert.equal((await admin.findUser(`alice${storeKind}`)).id, alice.id);
      assert.equal((await admin.findUser(mallory.id)).id, mallory.id);
    });
  });
}
