import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestApp } from '../support/app.js';
import { adminClient, FAST_HASHING, gotrueClient, listen, nextMail, secretsOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * The acceptance suite: the unmodified @supabase/auth-js client against a
 * real listening restauth, on both stores, with mail over real SMTP.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`@supabase/auth-js against restauth (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, {
      appName: 'Acme',
      oneTimeTokens: { resendInterval: 0 },
    });

    /** Signs up and confirms with the mailed code: a signed-in client. */
    async function confirmedUser(email: string, password = 'correct horse battery') {
      const made = gotrueClient(app.url);
      const since = app.sink.mails.length;
      const signUp = await made.client.signUp({ email, password, options: { data: { plan: 'free' } } });
      assert.equal(signUp.error, null);
      const { code } = secretsOf(await nextMail(app.sink, email, since));
      const verified = await made.client.verifyOtp({ email, token: code, type: 'signup' });
      assert.equal(verified.error, null);
      return made;
    }

    it('signUp needs the mailed confirmation before signInWithPassword; verifyOtp signs in', async () => {
      const { client, events } = gotrueClient(app.url);
      const since = app.sink.mails.length;
      const signUp = await client.signUp({
        email: 'Ann@Acme.test',
        password: 'correct horse battery',
        options: { data: { name: 'Ann' } },
      });
      assert.equal(signUp.error, null);
      assert.equal(signUp.data.session, null, 'no session before the address is confirmed');
      assert.equal(signUp.data.user?.email, 'ann@acme.test');
      assert.deepEqual(signUp.data.user?.user_metadata, { name: 'Ann' });

      const early = await client.signInWithPassword({
        email: 'ann@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(early.error?.code, 'email_not_confirmed');

      const mail = await nextMail(app.sink, 'ann@acme.test', since);
      const { code, link } = secretsOf(mail);
      assert.match(link, /\/auth\/v1\/verify\?token=[\w-]+&type=signup/u);
      const verified = await client.verifyOtp({ email: 'ann@acme.test', token: code, type: 'signup' });
      assert.equal(verified.error, null);
      assert.ok(verified.data.session?.access_token);
      assert.ok(verified.data.user?.email_confirmed_at);
      assert.ok(events.includes('SIGNED_IN'));

      const again = await client.verifyOtp({ email: 'ann@acme.test', token: code, type: 'signup' });
      assert.equal(again.error?.code, 'otp_expired', 'a code works once');

      const signIn = await client.signInWithPassword({
        email: 'ann@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(signIn.error, null);
      assert.equal(signIn.data.user?.id, signUp.data.user?.id);
    });

    it('resend mails the confirmation again; the newest code replaces the first', async () => {
      const { client } = gotrueClient(app.url);
      const since = app.sink.mails.length;
      await client.signUp({ email: 'rex@acme.test', password: 'correct horse battery' });
      const first = secretsOf(await nextMail(app.sink, 'rex@acme.test', since));
      const again = app.sink.mails.length;
      const resent = await client.resend({ type: 'signup', email: 'rex@acme.test' });
      assert.equal(resent.error, null);
      const second = secretsOf(await nextMail(app.sink, 'rex@acme.test', again));
      // The first link is void now (its code too, unless both codes happen to be equal: 1 in 10^6).
      const firstToken = new URL(first.link).searchParams.get('token')!;
      const stale = await client.verifyOtp({ type: 'signup', token_hash: firstToken });
      assert.equal(stale.error?.code, 'otp_expired');
      const verified = await client.verifyOtp({
        email: 'rex@acme.test',
        token: second.code,
        type: 'signup',
      });
      assert.equal(verified.error, null);
    });

    it('signInWithPassword refuses a wrong password with invalid_credentials', async () => {
      await confirmedUser('bob@acme.test');
      const { client } = gotrueClient(app.url);
      const wrong = await client.signInWithPassword({
        email: 'bob@acme.test',
        password: 'wrong password!',
      });
      assert.equal(wrong.error?.code, 'invalid_credentials');
      assert.equal(wrong.error?.status, 400);
      const unknown = await client.signInWithPassword({
        email: 'nobody@acme.test',
        password: 'wrong password!',
      });
      assert.equal(unknown.error?.code, 'invalid_credentials');
    });

    it('refreshSession rotates the refresh token; a reused one is refused and ends the session', async () => {
      const { client, events } = await confirmedUser('carl@acme.test');
      const first = (await client.getSession()).data.session!;
      const refreshed = await client.refreshSession();
      assert.equal(refreshed.error, null);
      assert.notEqual(refreshed.data.session?.refresh_token, first.refresh_token);
      assert.ok(events.includes('TOKEN_REFRESHED'));

      // Outside the grace period, a replay of the old token revokes the session.
      app.t.advance(60_000);
      const replay = gotrueClient(app.url).client;
      const reused = await replay.refreshSession({ refresh_token: first.refresh_token });
      assert.equal(reused.error?.code, 'refresh_token_already_used');
      const user = await client.getUser();
      assert.equal(
        user.error?.name,
        'AuthSessionMissingError',
        'the revoked session is gone for its client too',
      );
    });

    it('getUser and updateUser: data, then password (the session goes on), then email with both confirmations', async () => {
      const { client, events } = await confirmedUser('dora@acme.test');
      const got = await client.getUser();
      assert.equal(got.data.user?.email, 'dora@acme.test');
      assert.deepEqual(got.data.user?.user_metadata, { plan: 'free' });

      const data = await client.updateUser({ data: { plan: 'pro', theme: 'dark' } });
      assert.equal(data.error, null);
      assert.deepEqual(data.data.user?.user_metadata, { plan: 'pro', theme: 'dark' });
      assert.ok(events.includes('USER_UPDATED'));

      const other = gotrueClient(app.url).client;
      await other.signInWithPassword({ email: 'dora@acme.test', password: 'correct horse battery' });
      const password = await client.updateUser({ password: 'a brand new passphrase' });
      assert.equal(password.error, null);
      assert.equal((await client.getUser()).error, null, 'the current access token still works');
      assert.ok((await other.getUser()).error, 'the other session ended');
      const old = await gotrueClient(app.url).client.signInWithPassword({
        email: 'dora@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(old.error?.code, 'invalid_credentials');

      const since = app.sink.mails.length;
      const change = await client.updateUser({ email: 'dora@new.test' });
      assert.equal(change.error, null);
      assert.equal(change.data.user?.email, 'dora@acme.test', 'nothing changes before both confirm');
      assert.equal(change.data.user?.new_email, 'dora@new.test');
      const toOld = secretsOf(await nextMail(app.sink, 'dora@acme.test', since));
      const toNew = secretsOf(await nextMail(app.sink, 'dora@new.test', since));
      const half = await client.verifyOtp({
        email: 'dora@acme.test',
        token: toOld.code,
        type: 'email_change',
      });
      assert.equal(half.error, null);
      assert.equal(half.data.session, null);
      assert.equal((await client.getUser()).data.user?.email, 'dora@acme.test');
      const done = await client.verifyOtp({
        email: 'dora@new.test',
        token: toNew.code,
        type: 'email_change',
      });
      assert.equal(done.error, null);
      assert.equal(done.data.user?.email, 'dora@new.test');
      const signIn = await gotrueClient(app.url).client.signInWithPassword({
        email: 'dora@new.test',
        password: 'a brand new passphrase',
      });
      assert.equal(signIn.error, null);
    });

    it('signOut with each scope ends the right sessions', async () => {
      await confirmedUser('eve@acme.test');
      const signedIn = async () => {
        const { client } = gotrueClient(app.url);
        const result = await client.signInWithPassword({
          email: 'eve@acme.test',
          password: 'correct horse battery',
        });
        assert.equal(result.error, null);
        return client;
      };
      const live = async (client: Awaited<ReturnType<typeof signedIn>>) => {
        const session = (await client.getSession()).data.session;
        if (!session) return false;
        return (await gotrueClient(app.url).client.getUser(session.access_token)).error === null;
      };
      const [a, b, c] = [await signedIn(), await signedIn(), await signedIn()];

      const local = await a.signOut({ scope: 'local' });
      assert.equal(local.error, null);
      assert.deepEqual([await live(a), await live(b), await live(c)], [false, true, true]);

      const d = await signedIn();
      assert.equal((await b.signOut({ scope: 'others' })).error, null);
      assert.deepEqual([await live(b), await live(c), await live(d)], [true, false, false]);

      const e = await signedIn();
      assert.equal((await b.signOut({ scope: 'global' })).error, null);
      assert.deepEqual([await live(b), await live(e)], [false, false]);
    });

    it('resetPasswordForEmail + verifyOtp(recovery) + updateUser sets a new password; the code works once', async () => {
      await confirmedUser('finn@acme.test');
      const { client, events } = gotrueClient(app.url);
      const since = app.sink.mails.length;
      const asked = await client.resetPasswordForEmail('finn@acme.test');
      assert.equal(asked.error, null);
      const unknown = await client.resetPasswordForEmail('nobody@acme.test');
      assert.equal(unknown.error, null, 'an unknown address gets the same answer');
      assert.deepEqual(unknown.data, asked.data);

      const { code } = secretsOf(await nextMail(app.sink, 'finn@acme.test', since));
      const verified = await client.verifyOtp({ email: 'finn@acme.test', token: code, type: 'recovery' });
      assert.equal(verified.error, null);
      assert.ok(events.includes('PASSWORD_RECOVERY'));
      assert.equal((await client.updateUser({ password: 'recovered passphrase' })).error, null);
      const reused = await gotrueClient(app.url).client.verifyOtp({
        email: 'finn@acme.test',
        token: code,
        type: 'recovery',
      });
      assert.equal(reused.error?.code, 'otp_expired');
      const signIn = await gotrueClient(app.url).client.signInWithPassword({
        email: 'finn@acme.test',
        password: 'recovered passphrase',
      });
      assert.equal(signIn.error, null);
      assert.equal(app.sink.mails.filter((mail) => mail.to === 'nobody@acme.test').length, 0);
    });

    it('signInWithOtp mails a magic link and a code; the code signs in', async () => {
      const { client } = gotrueClient(app.url);
      const since = app.sink.mails.length;
      const asked = await client.signInWithOtp({ email: 'gail@acme.test' });
      assert.equal(asked.error, null);
      const { code } = secretsOf(await nextMail(app.sink, 'gail@acme.test', since));
      const verified = await client.verifyOtp({ email: 'gail@acme.test', token: code, type: 'email' });
      assert.equal(verified.error, null);
      assert.equal(verified.data.user?.email, 'gail@acme.test');
      assert.ok(verified.data.user?.email_confirmed_at);
    });

    it('auto-refresh: an expired access token is refreshed by the client before use', async () => {
      const short = await createTestApp({
        format: 'restauth',
        config: {
          ...app.store.config,
          passwords: FAST_HASHING,
          // Under auth-js's 90 s expiry margin, so it refreshes; long enough that a busy machine's
          // delays never expire the refreshed token before it is used.
          jwt: { accessTokenTtl: 60, clockTolerance: 0 },
        },
      });
      try {
        const shortUrl = await listen(short);
        const { client, events } = gotrueClient(shortUrl);
        const signUp = await client.signUp({ email: 'hal@acme.test', password: 'correct horse battery' });
        assert.equal(signUp.error, null);
        const before = (await client.getSession()).data.session!;
        // The server's clock moves past the token's expiry (no sleep): the old token is refused now.
        short.advance(61_000);
        const stale = await short.app.inject({
          method: 'GET',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${before.access_token}` },
        });
        assert.equal(stale.statusCode, 403, stale.body);
        const user = await client.getUser();
        assert.equal(user.error, null);
        const after = (await client.getSession()).data.session!;
        assert.notEqual(after.access_token, before.access_token);
        assert.ok(events.includes('TOKEN_REFRESHED'));
      } finally {
        await short.close();
      }
    });

    it('admin: createUser, listUsers, deleteUser with a service-role token; a user token is refused', async () => {
      const serviceToken = await serviceTokenOf(app.t);
      const admin = adminClient(app.url, serviceToken);
      const created = await admin.createUser({
        email: 'ivy@acme.test',
        password: 'correct horse battery',
        email_confirm: true,
        user_metadata: { team: 'blue' },
      });
      assert.equal(created.error, null);
      assert.equal(created.data.user?.email, 'ivy@acme.test');
      const signIn = await gotrueClient(app.url).client.signInWithPassword({
        email: 'ivy@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(signIn.error, null, 'an admin-confirmed user signs in at once');

      const second = await admin.createUser({ email: 'jay@acme.test', password: 'correct horse battery' });
      assert.equal(second.error, null);
      const listed = await admin.listUsers({ page: 1, perPage: 1 });
      assert.equal(listed.error, null);
      assert.equal(listed.data.users.length, 1);
      assert.ok((listed.data as { total: number }).total >= 2);
      assert.equal((listed.data as { nextPage: number | null }).nextPage, 2);

      const deleted = await admin.deleteUser(created.data.user!.id);
      assert.equal(deleted.error, null);
      const gone = await admin.getUserById(created.data.user!.id);
      assert.equal(gone.error?.status, 404);

      const link = await admin.generateLink({ type: 'recovery', email: 'jay@acme.test' });
      assert.equal(link.error, null);
      assert.match(link.data.properties?.action_link ?? '', /\/auth\/v1\/verify\?token=.+&type=recovery/u);
      const recovered = await gotrueClient(app.url).client.verifyOtp({
        email: 'jay@acme.test',
        token: link.data.properties!.email_otp,
        type: 'recovery',
      });
      assert.equal(recovered.error, null, 'the generated code works');
      assert.equal(
        app.sink.mails.filter((mail) => mail.to === 'jay@acme.test').length,
        0,
        'nothing was mailed',
      );

      const userToken = signIn.data.session!.access_token;
      const refused = await adminClient(app.url, userToken).listUsers();
      assert.equal(refused.error?.status, 403);
    });
  });
}
