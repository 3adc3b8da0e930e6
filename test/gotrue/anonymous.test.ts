import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createTestApp } from '../support/app.js';
import { FAST_HASHING, gotrueClient, listen, nextMail, secretsOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import { suiteStore } from '../support/postgres.js';

const PASSWORD = 'correct horse battery';

/**
 * Anonymous sign-ins with the unmodified @supabase/auth-js, on both stores:
 * off unless configured (GoTrue's error), an is_anonymous user and session
 * whose token says so, made permanent by a confirmed address and then a
 * password, and limited per client by a rule of their own.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`anonymous sign-ins (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, {
      signup: { anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
    });

    it('signInAnonymously: an anonymous user and session; its token carries is_anonymous', async () => {
      const { client, events } = gotrueClient(app.url);
      const signedIn = await client.signInAnonymously({ options: { data: { theme: 'dark' } } });
      assert.equal(signedIn.error, null);
      const user = signedIn.data.user!;
      assert.equal(user.is_anonymous, true);
      assert.equal(user.email, '');
      assert.deepEqual(user.identities, []);
      // GoTrue's ToUserModel stores no provider for an anonymous sign-up.
      assert.deepEqual(user.app_metadata, {});
      assert.deepEqual(user.user_metadata, { theme: 'dark' });
      assert.ok(events.includes('SIGNED_IN'));
      const claims = decodeJwt(signedIn.data.session!.access_token);
      assert.equal(claims['is_anonymous'], true);
      assert.equal(claims['sub'], user.id);
      assert.equal(claims['role'], 'authenticated', 'an anonymous user is an authenticated one');
      assert.deepEqual(claims['app_metadata'], {});

      const fetched = await client.getUser();
      assert.equal(fetched.data.user?.is_anonymous, true);
      const refreshed = await client.refreshSession();
      assert.equal(refreshed.error, null);
      assert.equal(decodeJwt(refreshed.data.session!.access_token)['is_anonymous'], true);
      assert.equal(refreshed.data.user?.is_anonymous, true);
      // Each anonymous sign-in is a new user.
      const other = await gotrueClient(app.url).client.signInAnonymously();
      assert.notEqual(other.data.user?.id, user.id);
    });

    it('becomes permanent with a confirmed address, then a password; the same user signs in with them', async () => {
      const { client } = gotrueClient(app.url);
      const anonymous = (await client.signInAnonymously()).data.user!;
      const early = await client.updateUser({ password: PASSWORD });
      assert.equal(early.error?.status, 422, 'no password before an address');

      const since = app.sink.mails.length;
      const asked = await client.updateUser({ email: 'Anon.Upgrade@Acme.test' });
      assert.equal(asked.error, null);
      assert.equal(asked.data.user?.is_anonymous, true, 'still anonymous until confirmed');
      const mail = await nextMail(app.sink, 'anon.upgrade@acme.test', since);
      const verified = await client.verifyOtp({
        email: 'anon.upgrade@acme.test',
        token: secretsOf(mail).code,
        type: 'email_change',
      });
      assert.equal(verified.error, null);
      const permanent = verified.data.user!;
      assert.equal(permanent.id, anonymous.id, 'the same user');
      assert.equal(permanent.is_anonymous, false);
      assert.equal(permanent.email, 'anon.upgrade@acme.test');
      assert.ok(permanent.email_confirmed_at);
      assert.deepEqual(
        permanent.identities?.map((identity) => identity.provider),
        ['email'],
      );
      assert.deepEqual(permanent.app_metadata, { provider: 'email', providers: ['email'] });
      const upgraded = decodeJwt(verified.data.session!.access_token);
      assert.equal(upgraded['is_anonymous'], false);
      assert.deepEqual(upgraded['app_metadata'], permanent.app_metadata, 'the token says what the user says');

      const withPassword = await client.updateUser({ password: PASSWORD });
      assert.equal(withPassword.error, null);
      const again = await gotrueClient(app.url).client.signInWithPassword({
        email: 'anon.upgrade@acme.test',
        password: PASSWORD,
      });
      assert.equal(again.error, null);
      assert.equal(again.data.user?.id, anonymous.id);
      assert.equal(again.data.user?.is_anonymous, false);
    });

    it('cannot take an address another user has', async () => {
      const { client } = gotrueClient(app.url);
      await client.signUp({ email: 'taken.by.anon@acme.test', password: PASSWORD });
      const anonymous = gotrueClient(app.url).client;
      await anonymous.signInAnonymously();
      const refused = await anonymous.updateUser({ email: 'taken.by.anon@acme.test' });
      assert.equal(refused.error?.code, 'email_exists');
      assert.equal((await anonymous.getUser()).data.user?.is_anonymous, true);
    });
  });

  describe(`anonymous sign-ins, limits and settings (${storeKind} store)`, () => {
    let store: Awaited<ReturnType<typeof suiteStore>>;
    before(async () => {
      store = await suiteStore(storeKind);
    });
    after(async () => {
      await store.drop();
    });

    it('are off unless configured, with GoTrue’s error, and create nobody', async () => {
      const t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: FAST_HASHING },
      });
      try {
        const url = await listen(t);
        const refused = await gotrueClient(url).client.signInAnonymously();
        assert.equal(refused.error?.status, 422);
        assert.equal(refused.error?.code, 'anonymous_provider_disabled');
        assert.equal(refused.error?.message, 'Anonymous sign-ins are disabled');
        assert.equal((await t.services.admin.listUsers(1, 10)).total, 0);
        const settings = await t.app.inject({ method: 'GET', url: '/auth/v1/settings' });
        assert.equal(settings.json().external.anonymous_users, false);
      } finally {
        await t.close();
      }
    });

    it('are limited per client by their own rule: past it, 429 and no user; other sign-ups still pass', async () => {
      const t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: FAST_HASHING,
          signup: { anonymousUsers: true, confirmEmail: false },
          rateLimits: { anonymous: { max: 3, window: 3600 } },
        },
        // The suite's apps run without limits; this one has the configured ones.
        env: { RESTAUTH_RATE_LIMITS: '' },
      });
      try {
        const url = await listen(t);
        const settings = await t.app.inject({ method: 'GET', url: '/auth/v1/settings' });
        assert.equal(settings.json().external.anonymous_users, true);
        const attempts = [];
        for (let i = 0; i < 6; i++) attempts.push(await gotrueClient(url).client.signInAnonymously());
        assert.deepEqual(
          attempts.map((attempt) => attempt.error?.status ?? 200),
          [200, 200, 200, 429, 429, 429],
        );
        assert.equal(attempts[3]?.error?.code, 'over_request_rate_limit');
        assert.equal((await t.services.admin.listUsers(1, 10)).total, 3, 'refused attempts made no user');
        const signUp = await gotrueClient(url).client.signUp({ email: 'real@acme.test', password: PASSWORD });
        assert.equal(signUp.error, null, 'the sign-up family is counted apart');
      } finally {
        await t.close();
      }
    });

    it('without confirmation, an anonymous user takes an address at once and is permanent', async () => {
      const t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: FAST_HASHING,
          signup: { anonymousUsers: true, confirmEmail: false },
        },
      });
      try {
        const { client } = gotrueClient(await listen(t));
        const anonymous = (await client.signInAnonymously()).data.user!;
        const updated = await client.updateUser({ email: 'instant@acme.test' });
        assert.equal(updated.error, null);
        assert.equal(updated.data.user?.id, anonymous.id);
        assert.equal(updated.data.user?.is_anonymous, false);
        assert.equal(updated.data.user?.email, 'instant@acme.test');
        assert.ok(updated.data.user?.email_confirmed_at);
        assert.equal(updated.data.user?.identities?.[0]?.provider, 'email');
        assert.equal((await client.updateUser({ password: PASSWORD })).error, null);
        const refreshed = await client.refreshSession();
        assert.equal(decodeJwt(refreshed.data.session!.access_token)['is_anonymous'], false);
      } finally {
        await t.close();
      }
    });
  });
}
