import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { GoTrueAdminApi } from '@supabase/auth-js';
import { gotrueClient, nextMail, secretsOf, serviceAdminOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import type { SinkMail } from '../support/smtp-sink.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * Invitations (admin inviteUserByEmail) and reauthentication (reauthenticate, then updateUser with the
 * nonce), with the unmodified @supabase/auth-js against a listening restauth, mail over real SMTP.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

function nonceOf(mail: SinkMail): string {
  const code = /Your code: (\d{6})/u.exec(mail.text)?.[1];
  if (!code) throw new Error(`no code in mail "${mail.subject}"`);
  return code;
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`invitations and reauthentication (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, {
      appName: 'Acme',
      siteUrl: 'https://app.acme.test',
      oneTimeTokens: { resendInterval: 0 },
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4, requireReauthentication: true },
    });
    let admin: GoTrueAdminApi;
    before(async () => {
      // Valid for the days the tests advance the app's clock, which admin routes judge it by.
      admin = await serviceAdminOf(app, 7 * 86_400);
    });

    it('inviteUserByEmail mails a link whose token signs the invitee in; the invitee then sets a password', async () => {
      const since = app.sink.mails.length;
      const invited = await admin.inviteUserByEmail('ivy@acme.test', { data: { team: 'blue' } });
      assert.equal(invited.error, null);
      assert.equal(invited.data.user?.email, 'ivy@acme.test');
      assert.equal(invited.data.user?.email_confirmed_at, null);
      // GoTrue's invited_at, stored, and the confirmation_sent_at set with it.
      const invitedAt = invited.data.user?.invited_at;
      assert.ok(invitedAt, 'invited_at is answered');
      assert.equal(invited.data.user?.confirmation_sent_at, invitedAt);
      const stored = await admin.getUserById(invited.data.user!.id);
      assert.equal(stored.data.user?.invited_at, invitedAt);
      const mail = await nextMail(app.sink, 'ivy@acme.test', since);
      assert.match(mail.subject, /invited to Acme/u);
      const { link } = secretsOf(mail);
      assert.match(link, /type=invite/u);
      const token = new URL(link).searchParams.get('token');
      assert.ok(token);

      const { client } = gotrueClient(app.url);
      const verified = await client.verifyOtp({ type: 'invite', token_hash: token });
      assert.equal(verified.error, null);
      assert.ok(verified.data.user?.email_confirmed_at, 'the invitation confirms the address');
      assert.deepEqual(verified.data.user?.user_metadata, { team: 'blue' });
      // A fresh session: no nonce needed for the first password.
      const set = await client.updateUser({ password: 'ivy has a password' });
      assert.equal(set.error, null);
      const signIn = await gotrueClient(app.url).client.signInWithPassword({
        email: 'ivy@acme.test',
        password: 'ivy has a password',
      });
      assert.equal(signIn.error, null);

      // The link worked once.
      const again = await gotrueClient(app.url).client.verifyOtp({ type: 'invite', token_hash: token });
      assert.equal(again.error?.code, 'otp_expired');
    });

    it('an invitation to a confirmed address is email_exists; to an unconfirmed one it is sent again', async () => {
      const taken = await admin.inviteUserByEmail('ivy@acme.test');
      assert.equal(taken.error?.status, 422);
      assert.equal(taken.error?.code, 'email_exists');

      const first = await admin.inviteUserByEmail('jo@acme.test');
      app.t.advance(5000);
      const since = app.sink.mails.length;
      const second = await admin.inviteUserByEmail('jo@acme.test');
      assert.equal(second.error, null);
      // invited_at moves to the latest invitation, as GoTrue's.
      const moved = Date.parse(second.data.user!.invited_at!) - Date.parse(first.data.user!.invited_at!);
      assert.ok(moved >= 5000, `invited_at moved by ${moved} ms`);
      await nextMail(app.sink, 'jo@acme.test', since);
      const users = await admin.listUsers();
      assert.equal(users.data.users.filter((user) => user.email === 'jo@acme.test').length, 1);
    });

    it("an invitation's redirect_to is read from the body too; one not allowed leads to the site URL", async () => {
      const serviceToken = await serviceTokenOf(app.t);
      const invite = async (email: string, redirectTo: string) => {
        const since = app.sink.mails.length;
        const response = await fetch(`${app.url}/invite`, {
          method: 'POST',
          headers: { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ email, redirect_to: redirectTo }),
        });
        assert.equal(response.status, 200, await response.text());
        return new URL(secretsOf(await nextMail(app.sink, email, since)).link).searchParams.get(
          'redirect_to',
        );
      };
      assert.equal(
        await invite('rae@acme.test', 'https://app.acme.test/welcome'),
        'https://app.acme.test/welcome',
      );
      assert.equal(await invite('sol@acme.test', 'https://evil.test/welcome'), null);
    });

    it("generate_link's invite sets invited_at too, as GoTrue's", async () => {
      const generated = await admin.generateLink({ type: 'invite', email: 'tam@acme.test' });
      assert.equal(generated.error, null);
      assert.ok(generated.data.user?.invited_at, 'invited_at is answered');
      const stored = await admin.getUserById(generated.data.user!.id);
      assert.equal(stored.data.user?.invited_at, generated.data.user?.invited_at);
    });

    it('only a service-role token may invite', async () => {
      await admin.createUser({ email: 'kim@acme.test', password: 'kim password 123', email_confirm: true });
      const { client } = gotrueClient(app.url);
      const signIn = await client.signInWithPassword({
        email: 'kim@acme.test',
        password: 'kim password 123',
      });
      const token = signIn.data.session?.access_token;
      assert.ok(token);
      const response = await fetch(`${app.url}/invite`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'mallory-invites@acme.test' }),
      });
      assert.equal(response.status, 403);
      assert.equal(app.sink.mails.filter((mail) => mail.to === 'mallory-invites@acme.test').length, 0);
    });

    it('a day-old session changes its password only with the mailed nonce, once', async () => {
      await admin.createUser({ email: 'lu@acme.test', password: 'lu first password', email_confirm: true });
      const { client } = gotrueClient(app.url);
      assert.equal(
        (await client.signInWithPassword({ email: 'lu@acme.test', password: 'lu first password' })).error,
        null,
      );
      // Young sessions need no nonce; this one grows old (a stolen refresh token keeps it alive).
      app.t.advance(DAY_MS + 1000);
      const { error: refreshError } = await client.refreshSession();
      assert.equal(refreshError, null);

      const without = await client.updateUser({ password: 'lu second password' });
      assert.equal(without.error?.status, 400);
      assert.equal(without.error?.code, 'reauthentication_needed');

      const since = app.sink.mails.length;
      assert.equal((await client.reauthenticate()).error, null);
      const nonce = nonceOf(await nextMail(app.sink, 'lu@acme.test', since));

      const wrong = await client.updateUser({
        password: 'lu second password',
        nonce: nonce === '000000' ? '111111' : '000000',
      });
      assert.equal(wrong.error?.status, 422);
      assert.equal(wrong.error?.code, 'reauthentication_not_valid');

      const changed = await client.updateUser({ password: 'lu second password', nonce });
      assert.equal(changed.error, null);
      const replayed = await client.updateUser({ password: 'lu third password', nonce });
      assert.equal(replayed.error?.code, 'reauthentication_not_valid');

      const signIn = await gotrueClient(app.url).client.signInWithPassword({
        email: 'lu@acme.test',
        password: 'lu second password',
      });
      assert.equal(signIn.error, null);
    });

    it("one user's nonce does not change another's password", async () => {
      await admin.createUser({ email: 'mo@acme.test', password: 'mo first password', email_confirm: true });
      await admin.createUser({ email: 'ned@acme.test', password: 'ned first password', email_confirm: true });
      const mo = gotrueClient(app.url).client;
      const ned = gotrueClient(app.url).client;
      await mo.signInWithPassword({ email: 'mo@acme.test', password: 'mo first password' });
      await ned.signInWithPassword({ email: 'ned@acme.test', password: 'ned first password' });
      app.t.advance(DAY_MS + 1000);
      await mo.refreshSession();
      await ned.refreshSession();
      const since = app.sink.mails.length;
      await mo.reauthenticate();
      const moNonce = nonceOf(await nextMail(app.sink, 'mo@acme.test', since));
      const stolen = await ned.updateUser({ password: 'ned second password', nonce: moNonce });
      assert.equal(stolen.error?.code, 'reauthentication_not_valid');
      // Mo's nonce is still good for Mo.
      assert.equal((await mo.updateUser({ password: 'mo second password', nonce: moNonce })).error, null);
    });
  });
}
