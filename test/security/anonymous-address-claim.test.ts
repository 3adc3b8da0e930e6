import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';

/**
 * An anonymous account's first address is asked by whoever holds its session and proven by whoever
 * follows the mail. Mallory signs in anonymously and asks for the victim's address; the victim,
 * mailed a confirmation, follows it and now uses that account (sets a password, fills in data).
 * Mallory's anonymous session must not outlive the proof: she would read and act as the victim.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an anonymous account's address, proven by its mailbox (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, {
      signup: { anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
    });

    it("ends the asker's sessions; the follower of the mail is signed in", async () => {
      const mallory = gotrueClient(app.url).client;
      const anonymous = await mallory.signInAnonymously();
      assert.equal(anonymous.error, null);
      const since = app.sink.mails.length;
      assert.equal((await mallory.updateUser({ email: 'victim.anon@acme.test' })).error, null);

      // The victim follows the mail in a browser of their own.
      const mail = await nextMail(app.sink, 'victim.anon@acme.test', since);
      const victim = gotrueClient(app.url).client;
      const verified = await victim.verifyOtp({
        email: 'victim.anon@acme.test',
        token: secretsOf(mail).code,
        type: 'email_change',
      });
      assert.equal(verified.error, null);
      assert.equal(verified.data.user?.id, anonymous.data.user?.id, 'the account the mail was for');
      assert.equal(verified.data.user?.is_anonymous, false);

      // Mallory's session is over: neither her access token nor her refresh token works.
      const read = await mallory.getUser();
      assert.equal(read.data.user, null, 'her access token reads nobody');
      const refreshed = await mallory.refreshSession();
      assert.ok(refreshed.error, 'her refresh token refreshes nothing');

      // The victim goes on.
      assert.equal((await victim.updateUser({ password: 'the victim’s own passphrase' })).error, null);
      assert.equal((await victim.getUser()).data.user?.email, 'victim.anon@acme.test');
    });
  });
}
