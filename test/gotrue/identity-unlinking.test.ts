import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { UserIdentity } from '@supabase/auth-js';
import type { TestApp } from '../support/app.js';
import { createTestApp } from '../support/app.js';
import { FAST_HASHING, gotrueClient } from '../support/gotrue.js';
import { listeningAppOnStore } from '../support/mailing-app-on-store.js';

const PASSWORD = 'correct horse battery';
const API_VERSION = { 'x-supabase-api-version': '2024-01-01' };

/**
 * unlinkIdentity (GoTrue's DELETE /user/identities/{id}) with the unmodified
 * auth-js, on both stores, and every refusal performed over HTTP: the setting
 * off, another user's identity, the last identity, the address's email
 * identity, two unlinks racing for a user's last two identities.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`unlinking identities (${storeKind} store)`, () => {
    const app = listeningAppOnStore(storeKind, {
      passwords: FAST_HASHING,
      signup: { confirmEmail: false, anonymousUsers: true },
      identities: { manualLinking: true },
    });

    /** A signed-in client of a new user with an address and, linked in the store, a GitHub identity. */
    async function userWithGithub(email: string, githubId: string) {
      const { client } = gotrueClient(app.url);
      const signUp = await client.signUp({ email, password: PASSWORD });
      assert.equal(signUp.error, null);
      const userId = signUp.data.user!.id;
      const github = await app.t.services.store.linkIdentity({
        userId,
        provider: 'github',
        providerId: githubId,
        identityData: { sub: githubId, email, email_verified: true, user_name: email.split('@')[0] },
        now: new Date(),
      });
      const token = (await client.getSession()).data.session!.access_token;
      return { client, userId, github, token };
    }

    function unlink(id: string, token?: string) {
      return app.t.app.inject({
        method: 'DELETE',
        url: `/auth/v1/user/identities/${id}`,
        headers: { ...API_VERSION, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
    }

    it("auth-js's unlinkIdentity removes a GitHub identity; the user keeps its email identity and providers follow", async () => {
      const { client, userId } = await userWithGithub('una@acme.test', '1001');
      const listed = await client.getUserIdentities();
      assert.equal(listed.error, null);
      const providers = listed.data!.identities.map((identity) => identity.provider);
      assert.deepEqual(providers, ['email', 'github']);
      const github = listed.data!.identities.find((identity) => identity.provider === 'github')!;

      const unlinked = await client.unlinkIdentity(github);
      assert.equal(unlinked.error, null);

      const user = (await client.getUser()).data.user!;
      assert.deepEqual(
        user.identities?.map((identity) => identity.provider),
        ['email'],
      );
      assert.deepEqual(user.app_metadata.providers, ['email']);
      assert.equal(await app.t.services.store.findIdentity('github', '1001'), null);
      const audit = await app.t.services.audit.list({ page: 1, perPage: 10, userId });
      const entry = audit.events.find((event) => event.action === 'identity_unlinked');
      assert.deepEqual(entry?.data, {
        identity_id: github.identity_id,
        provider: 'github',
        provider_id: '1001',
      });
    });

    it("another user's identity is not the caller's: 422 identity_not_found, and it stays linked", async () => {
      const victim = await userWithGithub('vic@acme.test', '2002');
      const attacker = await userWithGithub('mal@acme.test', '2003');
      const answer = await unlink(victim.github.id, attacker.token);
      assert.equal(answer.statusCode, 422);
      assert.deepEqual(answer.json(), { code: 'identity_not_found', message: "Identity doesn't exist" });
      assert.ok(await app.t.services.store.findIdentity('github', '2002'), 'still linked to its owner');
      // An id that is nobody's answers the same.
      assert.equal((await unlink(randomUUID(), attacker.token)).statusCode, 422);
    });

    it('the last identity stays: 422 single_identity_not_deletable (auth-js sees the error)', async () => {
      const { client } = gotrueClient(app.url);
      await client.signUp({ email: 'solo@acme.test', password: PASSWORD });
      const only = (await client.getUserIdentities()).data!.identities[0]!;
      const refused = await client.unlinkIdentity(only);
      assert.equal(refused.error?.status, 422);
      assert.equal(refused.error?.code, 'single_identity_not_deletable');
      assert.equal(refused.error?.message, 'User must have at least 1 identity after unlinking');
      assert.equal((await client.getUserIdentities()).data!.identities.length, 1);

      // GoTrue checks the count first: with one identity even an unknown id answers so.
      const token = (await client.getSession()).data.session!.access_token;
      const unknown = await unlink(randomUUID(), token);
      assert.equal(unknown.json().code, 'single_identity_not_deletable');
    });

    it("the email identity of the user's address goes only with the address: 422 email_conflict_identity_not_deletable", async () => {
      const { client } = await userWithGithub('eve@acme.test', '3003');
      const email = (await client.getUserIdentities()).data!.identities.find(
        (identity) => identity.provider === 'email',
      ) as UserIdentity;
      const refused = await client.unlinkIdentity(email);
      assert.equal(refused.error?.status, 422);
      assert.equal(refused.error?.code, 'email_conflict_identity_not_deletable');
      assert.equal((await client.getUserIdentities()).data!.identities.length, 2);
    });

    it('two unlinks racing for the last two identities leave one', async () => {
      // An anonymous user with two provider identities and no address: both may go, but not both.
      const { client } = gotrueClient(app.url);
      const anonymous = await client.signInAnonymously();
      assert.equal(anonymous.error, null);
      const userId = anonymous.data.user!.id;
      const token = anonymous.data.session!.access_token;
      for (const [provider, providerId] of [
        ['github', '4004'],
        ['gitlab', '77'],
      ] as const) {
        await app.t.services.store.linkIdentity({
          userId,
          provider,
          providerId,
          identityData: { sub: providerId },
          now: new Date(),
        });
      }
      const linked = await app.t.services.store.listIdentities(userId);
      assert.equal(linked.length, 2);
      const answers = await Promise.all(linked.map((identity) => unlink(identity.id, token)));
      assert.deepEqual(
        answers.map((answer) => answer.statusCode).sort(),
        [200, 422],
        'one unlinked, the other refused',
      );
      const refused = answers.find((answer) => answer.statusCode === 422)!;
      assert.equal(refused.json().code, 'single_identity_not_deletable');
      assert.equal((await app.t.services.store.listIdentities(userId)).length, 1);
    });

    it('an id that is not a UUID: 404 validation_failed, as GoTrue', async () => {
      const { token } = await userWithGithub('uuid@acme.test', '5005');
      const answer = await unlink('not-a-uuid', token);
      assert.equal(answer.statusCode, 404);
      assert.deepEqual(answer.json(), { code: 'validation_failed', message: 'identity_id must be an UUID' });
    });

    it('without a token: 401 no_authorization', async () => {
      const answer = await unlink(randomUUID());
      assert.equal(answer.statusCode, 401);
      assert.equal(answer.json().code, 'no_authorization');
    });
  });
}

describe('unlinking with identities.manualLinking off (the default, as GoTrue)', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING, signup: { confirmEmail: false } },
    });
  });
  after(() => t.close());

  it('404 manual_linking_disabled and the identity stays; without a token 401 first', async () => {
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'off@acme.test', password: PASSWORD },
    });
    const { access_token: token, user } = signUp.json();
    const github = await t.services.store.linkIdentity({
      userId: user.id,
      provider: 'github',
      providerId: '9009',
      identityData: { sub: '9009' },
      now: new Date(),
    });
    const answer = await t.app.inject({
      method: 'DELETE',
      url: `/auth/v1/user/identities/${github.id}`,
      headers: { ...API_VERSION, authorization: `Bearer ${token}` },
    });
    assert.equal(answer.statusCode, 404);
    assert.deepEqual(answer.json(), {
      code: 'manual_linking_disabled',
      message: 'Manual linking is disabled',
    });
    assert.ok(await t.services.store.findIdentity('github', '9009'));
    const anonymous = await t.app.inject({ method: 'DELETE', url: `/auth/v1/user/identities/${github.id}` });
    assert.equal(anonymous.statusCode, 401);
  });
});
