import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitAfterRead } from '../support/commit-after-read.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { nextMail, secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import type { Inject } from '../support/pkce.js';

/**
 * An email change asked in a session (GoTrue's PUT /user) ends with that session: the owner's
 * sign-out everywhere is the answer to a stolen session, and the thief's change must not outlive it
 * (email-change-outlives-session.test.ts). The confirmation looked the session up, then wrote the
 * address: a sign-out committed in between (while the other side's mark was spent, the address's
 * holder looked up) let the change land all the same. The race is made, not hoped for: the sign-out
 * commits once the confirmation's session lookup has answered (commitAfterRead).
 */
const PASSWORD = 'an owner passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an email change confirmed while its session is signed out (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {} } });
    // The app is started before the suite's tests, after this runs: looked up at each call.
    const inject: Inject = (options) => app.t.app.inject(options);

    const follow = (email: string, code: string) =>
      inject({
        method: 'POST',
        url: '/auth/v1/verify',
        payload: { type: 'email_change', email, token: code },
      });

    /** An owner's account, a change to `newEmail` asked in its session, and the codes mailed to each side. */
    const askedChange = async (owner: string, newEmail: string) => {
      const session = await confirmedGotrueAccount(app.t, app.sink, owner, PASSWORD);
      const since = app.sink.mails.length;
      const asked = await inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${session.access_token}` },
        payload: { email: newEmail },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const toNew = secretsOf(await nextMail(app.sink, newEmail, since)).code;
      const toOld = secretsOf(await nextMail(app.sink, owner, since)).code;
      return { session, toNew, toOld };
    };

    it('the last side followed as the owner signs out everywhere: refused as expired, the address kept', async () => {
      const { session, toNew, toOld } = await askedChange('owner1@acme.test', 'mallory1@evil.test');
      const first = await follow('mallory1@evil.test', toNew);
      assert.equal(first.statusCode, 200, first.body);
      const signOut = () =>
        inject({
          method: 'POST',
          url: '/auth/v1/logout?scope=global',
          headers: { authorization: `Bearer ${session.access_token}` },
        });
      const followed = await commitAfterRead(app.t.services.store, signOut, ['findSession'], () =>
        follow('owner1@acme.test', toOld),
      );
      assert.equal(followed.statusCode, 403, followed.body);
      assert.equal(followed.json().error_code, 'otp_expired');
      assert.equal((await app.t.services.store.findUserById(session.user.id))?.email, 'owner1@acme.test');
    });

    it('a session still live: both sides move the account', async () => {
      const { session, toNew, toOld } = await askedChange('owner2@acme.test', 'new2@acme.test');
      for (const [email, code] of [
        ['new2@acme.test', toNew],
        ['owner2@acme.test', toOld],
      ] as const) {
        const followed = await follow(email, code);
        assert.equal(followed.statusCode, 200, followed.body);
      }
      assert.equal((await app.t.services.store.findUserById(session.user.id))?.email, 'new2@acme.test');
    });
  });
}
