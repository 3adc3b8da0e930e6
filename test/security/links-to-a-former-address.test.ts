import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * An owner moves their account off an address they no longer control (a lost job, a mailbox
 * taken over). Whoever reads the old mailbox had asked, before the move, for a recovery link or a
 * magic link: both were mailed to the old address and lived their hour. Followed after the move,
 * they signed into the account, now under the new address, and recovery let them set its
 * password. A mail's secret proves the mailbox it was sent to: once the account has another
 * address, the secrets mailed to the former one are void.
 */

const PASSWORD = 'a real passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`links and codes mailed to an address the account has left (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      ({ t, sink } = await startMailingApp({ ...store.config, dialects: { gotrue: {}, postgrestAuth: {} } }));
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await store.drop();
    });

    const post = (url: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: `/auth/v1${url}`, payload });

    /** The owner moves the account from `from` to `to`, confirming on both sides. */
    async function moveAccount(token: string, from: string, to: string): Promise<void> {
      const since = sink.mails.length;
      const asked = await t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        payload: { email: to },
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const toOld = secretsOf(await nextMail(sink, from, since));
      const toNew = secretsOf(await nextMail(sink, to, since));
      assert.equal(
        (await post('/verify', { type: 'email_change', email: from, token: toOld.code })).statusCode,
        200,
      );
      const done = await post('/verify', { type: 'email_change', email: to, token: toNew.code });
      assert.equal(done.json<{ user: { email: string } }>().user.email, to, done.body);
    }

    /** What the old mailbox's reader asked for before the move: the mail's link token and code. */
    async function mailedBeforeTheMove(route: '/recover' | '/otp', email: string) {
      const since = sink.mails.length;
      assert.equal((await post(route, { email })).statusCode, 200);
      const { code, link } = secretsOf(await nextMail(sink, email, since));
      return { code, linkToken: new URL(link).searchParams.get('token')! };
    }

    it('a recovery link and a magic-link code mailed before the move sign nobody in after it', async () => {
      const token = (await confirmedGotrueAccount(t, sink, 'owner@old.test', PASSWORD)).access_token;
      const recovery = await mailedBeforeTheMove('/recover', 'owner@old.test');
      const magic = await mailedBeforeTheMove('/otp', 'owner@old.test');
      await moveAccount(token, 'owner@old.test', 'owner@new.test');

      const byLink = await post('/verify', { type: 'recovery', token_hash: recovery.linkToken });
      assert.equal(byLink.statusCode, 403, byLink.body);
      assert.equal(byLink.json<{ error_code: string }>().error_code, 'otp_expired');
      const byCode = await post('/verify', { type: 'magiclink', email: 'owner@old.test', token: magic.code });
      assert.equal(byCode.statusCode, 403, byCode.body);
    });

    it('the hosted recovery form refuses a link mailed to the former address', async () => {
      const token = (await confirmedGotrueAccount(t, sink, 'form@old.test', PASSWORD)).access_token;
      const recovery = await mailedBeforeTheMove('/recover', 'form@old.test');
      await moveAccount(token, 'form@old.test', 'form@new.test');
      const submitted = await t.app.inject({
        method: 'POST',
        url: `/auth/v1/verify?type=recovery&token=${recovery.linkToken}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'password=the+thief%27s+passphrase&password_confirm=the+thief%27s+passphrase',
      });
      assert.equal(submitted.statusCode, 403, submitted.body);
      const signIn = await post('/token?grant_type=password', { email: 'form@new.test', password: PASSWORD });
      assert.equal(signIn.statusCode, 200, 'the owner keeps the password');
    });

    it("postgrest-auth's reset with the former address's recovery token changes no password", async () => {
      const token = (await confirmedGotrueAccount(t, sink, 'reset@old.test', PASSWORD)).access_token;
      const recovery = await mailedBeforeTheMove('/recover', 'reset@old.test');
      await moveAccount(token, 'reset@old.test', 'reset@new.test');
      const reset = await t.app.inject({
        method: 'POST',
        url: '/auth/change_password',
        payload: {
          username: 'reset@new.test',
          reset_token: recovery.linkToken,
          new_password: 'the thief passphrase',
          new_password_confirm: 'the thief passphrase',
        },
      });
      assert.ok(reset.statusCode >= 400 && reset.statusCode < 500, `${reset.statusCode} ${reset.body}`);
      const signIn = await post('/token?grant_type=password', {
        email: 'reset@new.test',
        password: PASSWORD,
      });
      assert.equal(signIn.statusCode, 200, 'the owner keeps the password');
    });

    it('a link mailed to the current address still works', async () => {
      await confirmedGotrueAccount(t, sink, 'stay@acme.test', PASSWORD);
      const recovery = await mailedBeforeTheMove('/recover', 'stay@acme.test');
      const followed = await post('/verify', { type: 'recovery', token_hash: recovery.linkToken });
      assert.equal(followed.statusCode, 200, followed.body);
    });
  });
}
