import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthError as ClientAuthError, GoTrueAdminApi } from '@supabase/auth-js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING, gotrueClient, listen, serviceAdminOf } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';

/**
 * Bans, as GoTrue has them: the admin API's ban_duration (a Go duration, or
 * "none"), banned_until in the user, and user_banned answers (400 on
 * sign-in, 403 elsewhere); driven by the real @supabase/auth-js on both stores.
 */
const codeOf = (error: ClientAuthError | null) => (error as { code?: string } | null)?.code;

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`bans (${storeKind} store)`, () => {
    let t: TestApp;
    let url: string;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let admin: GoTrueAdminApi;

    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: FAST_HASHING },
      });
      url = await listen(t);
      admin = await serviceAdminOf({ url, t }, 86_400);
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    async function userWithSession(email: string) {
      const created = await admin.createUser({
        email,
        password: 'correct horse battery',
        email_confirm: true,
      });
      assert.equal(created.error, null);
      const { client } = gotrueClient(url);
      const signIn = await client.signInWithPassword({ email, password: 'correct horse battery' });
      assert.equal(signIn.error, null);
      return { id: created.data.user!.id, client, session: signIn.data.session! };
    }

    it('ban_duration "24h" bans: sign-in 400 user_banned, the sessions end; "none" lifts it', async () => {
      const { id, client, session } = await userWithSession('ban1@acme.test');
      const banned = await admin.updateUserById(id, { ban_duration: '24h' });
      assert.equal(banned.error, null);
      const until = Date.parse(banned.data.user!.banned_until!);
      assert.ok(Math.abs(until - (Date.now() + 24 * 3600_000)) < 60_000, banned.data.user!.banned_until);
      assert.equal((await admin.getUserById(id)).data.user?.banned_until, banned.data.user!.banned_until);

      const signIn = await gotrueClient(url).client.signInWithPassword({
        email: 'ban1@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(signIn.error?.status, 400);
      assert.equal(codeOf(signIn.error), 'user_banned');
      // The ban ended the session: its access token and refresh token are refused.
      const user = await client.getUser(session.access_token);
      // GoTrue's 403 session_not_found, which auth-js reports as a missing session.
      assert.equal(user.error?.name, 'AuthSessionMissingError', JSON.stringify(user.error));
      const refreshed = await client.refreshSession({ refresh_token: session.refresh_token });
      assert.ok(refreshed.error, 'the refresh token of a banned user’s session is refused');
      // The json-data-server dialect refuses it too.
      const login = await t.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { username: 'ban1@acme.test', password: 'correct horse battery' },
      });
      assert.equal(login.statusCode, 400);
      assert.equal(login.body, 'User is banned');

      const lifted = await admin.updateUserById(id, { ban_duration: 'none' });
      assert.equal(lifted.error, null);
      assert.equal(lifted.data.user?.banned_until, undefined);
      const again = await gotrueClient(url).client.signInWithPassword({
        email: 'ban1@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(again.error, null);
    });

    it('a ban set in the store alone (no session revoked) still refuses refresh (400, as GoTrue) and authenticated routes (403)', async () => {
      const { id, client, session } = await userWithSession('ban2@acme.test');
      await t.services.store.updateUser(id, { bannedUntil: new Date(Date.now() + 3600_000) });
      const user = await client.getUser(session.access_token);
      assert.equal(user.error?.status, 403);
      assert.equal(codeOf(user.error), 'user_banned');
      const refreshed = await client.refreshSession({ refresh_token: session.refresh_token });
      // GoTrue's refresh grant: 400 "Invalid Refresh Token: User Banned" (internal/tokens/service.go).
      assert.equal(refreshed.error?.status, 400);
      assert.equal(codeOf(refreshed.error), 'user_banned');
      assert.equal(refreshed.error?.message, 'Invalid Refresh Token: User Banned');
      const check = await t.app.inject({
        method: 'POST',
        url: '/auth/check',
        payload: { access_token: session.access_token },
      });
      assert.deepEqual(check.json(), { valid: false, reason: 'User is banned' });
    });

    it('a refresh refused for a ban spends nothing: the same token refreshes once the ban has passed', async () => {
      const { id, client, session } = await userWithSession('ban6@acme.test');
      await t.services.store.updateUser(id, { bannedUntil: new Date(Date.now() + 3600_000) });
      const refused = await client.refreshSession({ refresh_token: session.refresh_token });
      assert.equal(codeOf(refused.error), 'user_banned');
      // Past the ban and the reuse grace: a token the refusal had rotated would now be a replay.
      t.advance(61 * 60_000);
      // A client of its own: nothing the first one kept of the refusal decides this answer.
      const refreshed = await gotrueClient(url).client.refreshSession({
        refresh_token: session.refresh_token,
      });
      assert.equal(refreshed.error, null, JSON.stringify(refreshed.error));
      assert.notEqual(refreshed.data.session?.refresh_token, session.refresh_token);
    });

    it('a ban ends by itself when its time has passed', async () => {
      const { id } = await userWithSession('ban3@acme.test');
      assert.equal((await admin.updateUserById(id, { ban_duration: '1h30m' })).error, null);
      const during = await gotrueClient(url).client.signInWithPassword({
        email: 'ban3@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(codeOf(during.error), 'user_banned');
      t.advance(91 * 60_000);
      const after = await gotrueClient(url).client.signInWithPassword({
        email: 'ban3@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(after.error, null);
    });

    it('a malformed ban_duration is a 400 that changes nothing; createUser takes one too', async () => {
      const { id } = await userWithSession('ban4@acme.test');
      for (const ban_duration of ['forever', '24', '1d', 'h', '-', '1h ']) {
        const res = await admin.updateUserById(id, { ban_duration, user_metadata: { touched: true } });
        assert.equal(res.error?.status, 400, ban_duration);
      }
      const user = (await admin.getUserById(id)).data.user!;
      assert.equal(user.banned_until, undefined);
      assert.deepEqual(user.user_metadata, {});
      const created = await admin.createUser({
        email: 'ban5@acme.test',
        password: 'correct horse battery',
        email_confirm: true,
        ban_duration: '2h',
      });
      assert.equal(created.error, null);
      assert.ok(created.data.user?.banned_until);
      const signIn = await gotrueClient(url).client.signInWithPassword({
        email: 'ban5@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(codeOf(signIn.error), 'user_banned');
    });
  });
}
