import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UserIdentity } from '@supabase/auth-js';
import { gotrueClient, nextMail, secretsOf, serviceAdminOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PASSWORD = 'correct horse battery';

/** GoTrue's identity object: every key it marshals, and no other. */
function assertEmailIdentity(
  identity: UserIdentity | undefined,
  userId: string,
  email: string,
  verified: boolean,
) {
  assert.ok(identity, 'an identity');
  assert.match(identity.identity_id, UUID);
  assert.equal(identity.id, userId, "the email identity's provider id is the user's id");
  assert.equal(identity.user_id, userId);
  assert.equal(identity.provider, 'email');
  // GoTrue marshals the identity's email; auth-js's type does not name it.
  assert.equal((identity as UserIdentity & { email?: string }).email, email);
  assert.deepEqual(identity.identity_data, {
    sub: userId,
    email,
    email_verified: verified,
    phone_verified: false,
  });
  assert.ok(!Number.isNaN(Date.parse(identity.created_at ?? '')));
  assert.ok(!Number.isNaN(Date.parse(identity.updated_at ?? '')));
  const keys = Object.keys(identity).filter((key) => key !== 'last_sign_in_at');
  assert.deepEqual(keys.sort(), [
    'created_at',
    'email',
    'id',
    'identity_data',
    'identity_id',
    'provider',
    'updated_at',
    'user_id',
  ]);
}

/**
 * Identities on the wire with the unmodified @supabase/auth-js, on both stores:
 * a user's email identity wherever GoTrue shows the user, and the look-alike
 * sign-up of a taken address with `identities: []`, which apps read as
 * "already registered".
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`identities on the GoTrue wire (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, { oneTimeTokens: { resendInterval: 0 } });

    it('a new sign-up answers its email identity; a sign-up of the taken address answers a look-alike with identities: []', async () => {
      const since = app.sink.mails.length;
      const first = await gotrueClient(app.url).client.signUp({ email: 'Ida@Acme.test', password: PASSWORD });
      assert.equal(first.error, null);
      const user = first.data.user!;
      assert.equal(user.identities?.length, 1, 'a new account has its email identity');
      assertEmailIdentity(user.identities?.[0], user.id, 'ida@acme.test', false);
      assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] });
      await nextMail(app.sink, 'ida@acme.test', since);

      // As apps check it (the Supabase docs' "user already exists" test).
      const again = await gotrueClient(app.url).client.signUp({
        email: 'ida@acme.test',
        password: 'other password!',
      });
      assert.equal(again.error, null, 'no error: the answer must not tell the address is taken');
      const lookalike = again.data.user!;
      assert.deepEqual(lookalike.identities, [], 'already registered');
      assert.notEqual(lookalike.id, user.id);
      assert.equal(lookalike.email, 'ida@acme.test');
      assert.equal(lookalike.is_anonymous, false);
      assert.deepEqual(
        Object.keys(lookalike).sort(),
        Object.keys(user).sort(),
        'the look-alike has every field a new account has',
      );
    });

    it('GET /user, the session answers and the admin API list the identities; confirming verifies the email identity', async () => {
      const made = gotrueClient(app.url);
      const since = app.sink.mails.length;
      const signUp = await made.client.signUp({ email: 'jo@acme.test', password: PASSWORD });
      const id = signUp.data.user!.id;
      const { code } = secretsOf(await nextMail(app.sink, 'jo@acme.test', since));
      const verified = await made.client.verifyOtp({ email: 'jo@acme.test', token: code, type: 'signup' });
      assert.equal(verified.error, null);
      assertEmailIdentity(verified.data.user?.identities?.[0], id, 'jo@acme.test', true);
      const signedIn = await gotrueClient(app.url).client.signInWithPassword({
        email: 'jo@acme.test',
        password: PASSWORD,
      });
      assert.equal(signedIn.error, null);
      assertEmailIdentity(signedIn.data.user?.identities?.[0], id, 'jo@acme.test', true);
      const fetched = await made.client.getUser();
      assert.equal(fetched.error, null);
      assert.equal(fetched.data.user?.identities?.length, 1);
      assertEmailIdentity(fetched.data.user?.identities?.[0], id, 'jo@acme.test', true);
      const listed = await made.client.getUserIdentities();
      assert.equal(listed.error, null);
      assert.equal(listed.data?.identities[0]?.identity_id, fetched.data.user?.identities?.[0]?.identity_id);

      const admin = await serviceAdminOf(app);
      const byId = await admin.getUserById(id);
      assert.equal(byId.error, null);
      assertEmailIdentity(byId.data.user?.identities?.[0], id, 'jo@acme.test', true);
      const page = await admin.listUsers({ page: 1, perPage: 100 });
      const row = page.data.users.find((user) => user.id === id);
      assertEmailIdentity(row?.identities?.[0], id, 'jo@acme.test', true);
      const created = await admin.createUser({
        email: 'kim@acme.test',
        password: PASSWORD,
        email_confirm: true,
      });
      assertEmailIdentity(created.data.user?.identities?.[0], created.data.user!.id, 'kim@acme.test', true);
    });

    it('an email change confirmed moves the email identity to the new address', async () => {
      const made = gotrueClient(app.url);
      const admin = await serviceAdminOf(app);
      const created = await admin.createUser({
        email: 'lee@acme.test',
        password: PASSWORD,
        email_confirm: true,
      });
      const id = created.data.user!.id;
      const identityId = created.data.user!.identities![0]!.identity_id;
      await made.client.signInWithPassword({ email: 'lee@acme.test', password: PASSWORD });
      const since = app.sink.mails.length;
      assert.equal((await made.client.updateUser({ email: 'lee2@acme.test' })).error, null);
      const toNew = secretsOf(await nextMail(app.sink, 'lee2@acme.test', since));
      const toOld = secretsOf(await nextMail(app.sink, 'lee@acme.test', since));
      await made.client.verifyOtp({ email: 'lee2@acme.test', token: toNew.code, type: 'email_change' });
      await made.client.verifyOtp({ email: 'lee@acme.test', token: toOld.code, type: 'email_change' });
      const fetched = await made.client.getUser();
      assert.equal(fetched.data.user?.email, 'lee2@acme.test');
      assert.equal(fetched.data.user?.identities?.length, 1);
      assert.equal(fetched.data.user?.identities?.[0]?.identity_id, identityId, 'the same identity');
      assertEmailIdentity(fetched.data.user?.identities?.[0], id, 'lee2@acme.test', true);
    });

    it("the admin list reads a page's identities with one store lookup, whatever its size", async () => {
      const admin = await serviceAdminOf(app);
      for (let n = 0; n < 12; n += 1) {
        await admin.createUser({ email: `page${n}@acme.test`, password: PASSWORD, email_confirm: true });
      }
      // Counted on the app's own store: every identity read of a request goes through one of these.
      const live = app.t.services.store;
      const lookups: string[] = [];
      const listIdentities = live.listIdentities.bind(live);
      const listIdentitiesOfUsers = live.listIdentitiesOfUsers.bind(live);
      live.listIdentities = (userId) => {
        lookups.push('listIdentities');
        return listIdentities(userId);
      };
      live.listIdentitiesOfUsers = (userIds) => {
        lookups.push(`listIdentitiesOfUsers(${userIds.length})`);
        return listIdentitiesOfUsers(userIds);
      };
      try {
        const page = await admin.listUsers({ page: 1, perPage: 10 });
        assert.equal(page.error, null);
        assert.equal(page.data.users.length, 10);
        for (const user of page.data.users)
          assertEmailIdentity(user.identities?.[0], user.id, user.email!, Boolean(user.email_confirmed_at));
        assert.deepEqual(lookups, ['listIdentitiesOfUsers(10)']);
      } finally {
        live.listIdentities = listIdentities;
        live.listIdentitiesOfUsers = listIdentitiesOfUsers;
      }
    });
  });
}
