import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * The secure email change: both the current and the new address confirm (PUT /user). An attacker
 * holding a stolen session but not the owner's mailbox asked for a change to their own address,
 * followed the link to it (the first half: "proceed to confirm the link sent to the other email"),
 * asked again once the resend interval was over and followed the second link to their own address:
 * it found the first half's mark and applied the change. The account was theirs: its address, then
 * its password by recovery. Now the second half must come from the other address.
 */

const PASSWORD = 'a real passphrase';
const RESEND_INTERVAL_MS = 61_000;

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an email change confirmed twice by the new address alone (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      ({ t, sink } = await startMailingApp(store.config));
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await store.drop();
    });

    const post = (url: string, payload: Record<string, unknown>, token?: string) =>
      t.app.inject({
        method: 'POST',
        url: `/auth/v1${url}`,
        payload,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
    const changeEmail = (token: string, email: string) =>
      t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        payload: { email },
        headers: { authorization: `Bearer ${token}` },
      });

    /** Asks for the change and follows the link mailed to the new address. */
    async function confirmNewAddress(token: string, newEmail: string) {
      const since = sink.mails.length;
      const asked = await changeEmail(token, newEmail);
      assert.equal(asked.statusCode, 200, asked.body);
      const { code } = secretsOf(await nextMail(sink, newEmail, since));
      return post('/verify', { type: 'email_change', email: newEmail, token: code });
    }

    it('never moves the account: the second half must come from the current address', async () => {
      const stolen = (await confirmedGotrueAccount(t, sink, 'owner@acme.test', PASSWORD)).access_token;
      const first = await confirmNewAddress(stolen, 'mallory@evil.test');
      assert.equal(first.statusCode, 200, first.body);
      assert.match(first.json<{ msg: string }>().msg, /confirm link sent to the other email/u);

      t.advance(RESEND_INTERVAL_MS);
      const second = await confirmNewAddress(stolen, 'mallory@evil.test');
      assert.equal(second.statusCode, 200, second.body);
      assert.equal(second.json<{ access_token?: string }>().access_token, undefined, second.body);
      const owner = await t.services.store.findUserByEmail('owner@acme.test');
      assert.notEqual(owner, null, 'the account keeps its address');
      assert.equal(await t.services.store.findUserByEmail('mallory@evil.test'), null);
    });

    it('still changes the address once each side confirmed, in either order', async () => {
      const token = (await confirmedGotrueAccount(t, sink, 'mover@acme.test', PASSWORD)).access_token;
      const since = sink.mails.length;
      assert.equal((await changeEmail(token, 'mover@new.test')).statusCode, 200);
      const toOld = secretsOf(await nextMail(sink, 'mover@acme.test', since));
      const toNew = secretsOf(await nextMail(sink, 'mover@new.test', since));
      const half = await post('/verify', {
        type: 'email_change',
        email: 'mover@new.test',
        token: toNew.code,
      });
      assert.equal(half.statusCode, 200, half.body);
      const done = await post('/verify', {
        type: 'email_change',
        email: 'mover@acme.test',
        token: toOld.code,
      });
      assert.equal(done.statusCode, 200, done.body);
      assert.equal(done.json<{ user: { email: string } }>().user.email, 'mover@new.test');
    });
  });
}
