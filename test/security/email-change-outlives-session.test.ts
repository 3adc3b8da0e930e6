import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';

/**
 * An email change belongs to the session that asked for it. A thief holding a stolen session asked
 * PUT /user {email: the thief's}; the owner signed out everywhere; the thief followed the mailed
 * link all the same. An anonymous user has no address, so that one confirmation moved the account
 * to the thief's mailbox and /verify signed the thief in. Now the link is refused, as an expired
 * one is, once the session that asked is gone, and a resend of it mails nothing.
 * Over real HTTP (auth-js for the owner, fetch for the thief), mail through the SMTP sink.
 */
const PASSWORD = 'an owner passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an email change after its session ended (${storeKind} store)`, { timeout: 60_000 }, () => {
    const app = listeningMailingApp(storeKind, {
      signup: { anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
    });

    /** The thief's request with the stolen access token. */
    const asThief = async (method: string, path: string, body: Record<string, unknown>, token?: string) => {
      const res = await fetch(`${app.url}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
    };
    const verifyCode = (email: string, code: string) =>
      asThief('POST', '/verify', { type: 'email_change', email, token: code });

    it('an anonymous user: the thief’s link is refused as expired, the account keeps no address', async () => {
      const { client: owner } = gotrueClient(app.url);
      const signedIn = await owner.signInAnonymously();
      assert.equal(signedIn.error, null);
      const stolen = signedIn.data.session!.access_token;
      const userId = signedIn.data.user!.id;

      const since = app.sink.mails.length;
      const asked = await asThief('PUT', '/user', { email: 'thief@evil.test' }, stolen);
      assert.equal(asked.status, 200, JSON.stringify(asked.body));
      const { code } = secretsOf(await nextMail(app.sink, 'thief@evil.test', since));
      assert.equal((await owner.signOut({ scope: 'global' })).error, null);

      const followed = await verifyCode('thief@evil.test', code);
      assert.equal(followed.status, 403, JSON.stringify(followed.body));
      assert.equal(followed.body['error_code'], 'otp_expired');
      assert.equal(followed.body['access_token'], undefined);
      const user = (await app.t.services.store.findUserById(userId))!;
      assert.equal(user.email, null);
      assert.equal(user.isAnonymous, true);
      assert.deepEqual(await app.t.services.store.listSessions(userId), []);
    });

    it('a resend after the session ended mails nothing; the first links are refused, the address is kept', async () => {
      const owner = await confirmedGotrueAccount(app.t, app.sink, 'owner@acme.test', PASSWORD);
      const since = app.sink.mails.length;
      const asked = await asThief('PUT', '/user', { email: 'mallory@evil.test' }, owner.access_token);
      assert.equal(asked.status, 200, JSON.stringify(asked.body));
      const toNew = secretsOf(await nextMail(app.sink, 'mallory@evil.test', since));
      const toOld = secretsOf(await nextMail(app.sink, 'owner@acme.test', since));
      const signedOut = await asThief('POST', '/logout?scope=global', {}, owner.access_token);
      assert.equal(signedOut.status, 204);

      // Answered as GoTrue answers a resend with no change pending, and nothing is mailed: the
      // links would be refused, so a resend only mailed both addresses on the thief's behalf.
      await app.t.services.idle();
      const afterSignOut = app.sink.mails.length;
      const resent = await asThief('POST', '/resend', { type: 'email_change', email: 'owner@acme.test' });
      assert.equal(resent.status, 200, JSON.stringify(resent.body));
      await app.t.services.idle();
      assert.deepEqual(app.sink.mails.slice(afterSignOut), [], 'the resend mailed nothing');

      for (const [email, { code }] of [
        ['mallory@evil.test', toNew],
        ['owner@acme.test', toOld],
      ] as const) {
        const followed = await verifyCode(email, code);
        assert.equal(followed.status, 403, JSON.stringify(followed.body));
        assert.equal(followed.body['error_code'], 'otp_expired');
      }
      assert.equal((await app.t.services.store.findUserById(owner.user.id))?.email, 'owner@acme.test');
    });
  });
}
