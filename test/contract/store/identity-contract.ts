/**
 * The identities part of the Store contract (GoTrue's auth.identities), run by
 * runStoreContract on every store: the `email` identity following the address,
 * linking unique per (provider, providerId), unlinking never the last.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { NewUser, Store } from '../../../src/core/ports/store.js';
import { isAuthError } from '../../../src/core/errors.js';

const NOW = new Date('2026-06-01T12:00:00.000Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function newUser(overrides: Partial<NewUser> = {}): NewUser {
  return {
    username: null,
    email: `u${randomUUID().slice(0, 8)}@example.com`,
    emailConfirmedAt: null,
    role: null,
    profile: {},
    appMetadata: {},
    ...overrides,
  };
}

export function identityContract(
  store: () => Store,
  options: { concurrencySkipReason?: string | undefined },
): void {
  describe('identities', () => {
    const github = (userId: string, providerId = 'gh-1', data: Record<string, unknown> = {}) => ({
      userId,
      provider: 'github',
      providerId,
      identityData: { sub: providerId, user_name: 'octo', ...data },
      now: NOW,
    });

    it('gives a user with an address its email identity, in GoTrue’s shape, and none to one without', async () => {
      const user = await store().createUser(newUser({ email: 'Ident@Example.com' }), 'h');
      const [identity, ...others] = await store().listIdentities(user.id);
      assert.equal(others.length, 0);
      assert.match(identity!.id, UUID);
      assert.equal(identity!.userId, user.id);
      assert.equal(identity!.provider, 'email');
      assert.equal(identity!.providerId, user.id);
      assert.deepEqual(identity!.identityData, {
        sub: user.id,
        email: 'ident@example.com',
        email_verified: false,
        phone_verified: false,
      });
      assert.equal(identity!.email, 'ident@example.com');
      assert.equal(identity!.lastSignInAt, null);
      assert.ok(identity!.createdAt instanceof Date && identity!.updatedAt instanceof Date);
      assert.deepEqual(await store().findIdentity('email', user.id), identity);
      const named = await store().createUser(
        newUser({ username: `n${randomUUID().slice(0, 6)}`, email: null }),
        'h',
      );
      assert.deepEqual(await store().listIdentities(named.id), []);
      const anonymous = await store().createUser(newUser({ email: null, isAnonymous: true }), null);
      assert.equal(anonymous.isAnonymous, true);
      assert.equal((await store().findUserById(anonymous.id))?.isAnonymous, true);
      assert.deepEqual(await store().listIdentities(anonymous.id), []);
      assert.equal(user.isAnonymous, false);
    });

    it('keeps the email identity in step with the address: confirmed, changed, removed', async () => {
      const user = await store().createUser(newUser(), 'h');
      const [before] = await store().listIdentities(user.id);
      await store().updateUser(user.id, { emailConfirmedAt: NOW });
      const [confirmed] = await store().listIdentities(user.id);
      assert.equal(confirmed!.id, before!.id, 'the same identity');
      assert.equal(confirmed!.identityData['email_verified'], true);
      await store().updateUser(user.id, { email: 'Moved@Example.com', emailConfirmedAt: null });
      const [moved, ...others] = await store().listIdentities(user.id);
      assert.equal(others.length, 0);
      assert.equal(moved!.id, before!.id);
      assert.equal(moved!.email, 'moved@example.com');
      assert.equal(moved!.identityData['email_verified'], false);
      await store().updateUser(user.id, { email: null });
      assert.deepEqual(await store().listIdentities(user.id), []);
      assert.equal(await store().findIdentity('email', user.id), null);
      await store().updateUser(user.id, { email: 'back@example.com' });
      assert.equal((await store().listIdentities(user.id))[0]?.email, 'back@example.com');
    });

    it("gives a provider's sign-up only the provider's identity, as GoTrue: a confirmation adds none, an address set does", async () => {
      const user = await store().createUser(newUser({ emailIdentity: false }), null);
      assert.deepEqual(await store().listIdentities(user.id), [], 'no email identity');
      assert.equal(await store().findIdentity('email', user.id), null);
      await store().linkIdentity(github(user.id, 'gh-only'));
      await store().updateUser(user.id, { emailConfirmedAt: NOW });
      const providers = async () =>
        (await store().listIdentities(user.id)).map((identity) => identity.provider).sort();
      assert.deepEqual(await providers(), ['github'], 'confirming the address adds no email identity');
      await store().updateUser(user.id, { email: user.email, emailIdentity: false });
      assert.deepEqual(await providers(), ['github'], "an address from a provider's identity adds none");
      // GoTrue's email change (verify.go) creates the email identity a user lacks.
      await store().updateUser(user.id, { email: 'changed@example.com', emailConfirmedAt: NOW });
      assert.deepEqual(await providers(), ['email', 'github']);
      assert.equal((await store().findIdentity('email', user.id))?.email, 'changed@example.com');
      // An existing email identity follows an address set with emailIdentity false all the same.
      await store().updateUser(user.id, { email: 'again@example.com', emailIdentity: false });
      assert.equal((await store().findIdentity('email', user.id))?.email, 'again@example.com');
    });

    it("writes a provider's sign-up with its identity, or, the identity another user's, nothing at all", async () => {
      const input = newUser({
        emailIdentity: false,
        appMetadata: { provider: 'github', providers: ['github'] },
      });
      const { userId: _none, ...identity } = github('', 'gh-signup', { email: input.email });
      const user = await store().createUser(input, null, { identity });
      const [linked, ...others] = await store().listIdentities(user.id);
      assert.equal(others.length, 0);
      assert.equal(linked!.provider, 'github');
      assert.equal(linked!.providerId, 'gh-signup');
      assert.deepEqual(linked!.identityData, identity.identityData);
      assert.deepEqual(linked!.lastSignInAt, NOW);
      assert.deepEqual(await store().findIdentity('github', 'gh-signup'), linked);
      assert.deepEqual((await store().findUserById(user.id))?.appMetadata['providers'], ['github']);

      const second = newUser({ emailIdentity: false });
      await assert.rejects(
        store().createUser(second, null, { identity }),
        (error) => isAuthError(error) && error.code === 'identity_already_exists',
      );
      assert.equal(await store().findUserByEmail(second.email!), null, 'no account without its identity');
      assert.equal((await store().findIdentity('github', 'gh-signup'))?.userId, user.id);
    });

    it('makes an anonymous user permanent by a patch', async () => {
      const user = await store().createUser(newUser({ email: null, isAnonymous: true }), null);
      const permanent = await store().updateUser(user.id, {
        email: 'was-anonymous@example.com',
        emailConfirmedAt: NOW,
        isAnonymous: false,
      });
      assert.equal(permanent.isAnonymous, false);
      assert.equal((await store().findUserById(user.id))?.isAnonymous, false);
      assert.equal((await store().listIdentities(user.id))[0]?.identityData['email_verified'], true);
    });

    it('links a provider identity, finds it, and merges a second link of it by the same user', async () => {
      const user = await store().createUser(newUser(), 'h');
      const linked = await store().linkIdentity(github(user.id, 'gh-merge', { email: 'Octo@Example.com' }));
      assert.match(linked.id, UUID);
      assert.equal(linked.provider, 'github');
      assert.equal(linked.providerId, 'gh-merge');
      assert.equal(linked.email, 'octo@example.com');
      assert.equal(linked.lastSignInAt?.toISOString(), NOW.toISOString());
      assert.deepEqual(await store().findIdentity('github', 'gh-merge'), linked);
      assert.equal(await store().findIdentity('github', 'gh-other'), null);
      assert.equal(await store().findIdentity('gitlab', 'gh-merge'), null);
      const again = await store().linkIdentity({
        ...github(user.id, 'gh-merge', { avatar_url: 'https://a.example/x.png' }),
        now: new Date(NOW.getTime() + 60_000),
      });
      assert.equal(again.id, linked.id);
      assert.equal(again.identityData['avatar_url'], 'https://a.example/x.png');
      assert.equal(again.identityData['email'], 'Octo@Example.com', 'merged, not replaced');
      assert.equal(again.createdAt.toISOString(), linked.createdAt.toISOString());
      assert.equal(again.lastSignInAt?.toISOString(), new Date(NOW.getTime() + 60_000).toISOString());
      const providers = (await store().listIdentities(user.id)).map((identity) => identity.provider);
      assert.deepEqual(providers.sort(), ['email', 'github']);
    });

    it("lists several users' identities at once, each as listIdentities lists them", async () => {
      const linked = await store().createUser(newUser(), 'h');
      await store().linkIdentity(github(linked.id, 'gh-many'));
      const plain = await store().createUser(newUser(), 'h');
      const named = await store().createUser(
        newUser({ email: null, username: `n${randomUUID().slice(0, 8)}` }),
        'h',
      );
      const unknown = randomUUID();
      const listed = await store().listIdentitiesOfUsers([
        linked.id,
        plain.id,
        named.id,
        unknown,
        'not-a-uuid',
      ]);
      assert.deepEqual([...listed.keys()], [linked.id, plain.id, named.id, unknown, 'not-a-uuid']);
      for (const user of [linked, plain, named]) {
        assert.deepEqual(listed.get(user.id), await store().listIdentities(user.id));
      }
      assert.deepEqual(
        listed
          .get(linked.id)
          ?.map((identity) => identity.provider)
          .sort(),
        ['email', 'github'],
      );
      assert.deepEqual(listed.get(named.id), []);
      assert.deepEqual(listed.get(unknown), []);
      assert.deepEqual(listed.get('not-a-uuid'), []);
      assert.deepEqual(await store().listIdentitiesOfUsers([]), new Map());
    });

    it('refuses a provider identity another user holds, and the email provider, and an unknown user', async () => {
      const owner = await store().createUser(newUser(), 'h');
      const thief = await store().createUser(newUser(), 'h');
      await store().linkIdentity(github(owner.id, 'gh-taken'));
      await assert.rejects(store().linkIdentity(github(thief.id, 'gh-taken')), {
        code: 'identity_already_exists',
      });
      assert.equal((await store().findIdentity('github', 'gh-taken'))?.userId, owner.id);
      assert.deepEqual(
        (await store().listIdentities(thief.id)).map((identity) => identity.provider),
        ['email'],
      );
      await assert.rejects(
        store().linkIdentity({ ...github(thief.id), provider: 'email', providerId: owner.id }),
        { code: 'validation_failed' },
      );
      await assert.rejects(store().linkIdentity(github(randomUUID(), 'gh-nobody')), {
        code: 'user_not_found',
      });
      assert.equal(await store().findIdentity('github', 'gh-nobody'), null);
    });

    it('unlinks an identity but never the last one, nor another user’s, nor the email identity of an address', async () => {
      const user = await store().createUser(
        newUser({ email: null, username: `u${randomUUID().slice(0, 6)}` }),
        'h',
      );
      const first = await store().linkIdentity(github(user.id, 'gh-unlink-1'));
      const second = await store().linkIdentity({ ...github(user.id, 'gh-unlink-2'), provider: 'gitlab' });
      const other = await store().createUser(newUser(), 'h');
      const [othersEmail] = await store().listIdentities(other.id);
      await assert.rejects(store().unlinkIdentity(user.id, othersEmail!.id), { code: 'identity_not_found' });
      await assert.rejects(store().unlinkIdentity(user.id, randomUUID()), { code: 'identity_not_found' });
      await assert.rejects(store().unlinkIdentity(user.id, 'not-a-uuid'), { code: 'identity_not_found' });
      await store().unlinkIdentity(user.id, first.id);
      assert.equal(await store().findIdentity('github', 'gh-unlink-1'), null);
      await assert.rejects(store().unlinkIdentity(user.id, second.id), {
        code: 'single_identity_not_deletable',
      });
      assert.deepEqual(
        (await store().listIdentities(user.id)).map((identity) => identity.id),
        [second.id],
      );
      // The email identity goes with the address, not alone.
      await store().linkIdentity(github(other.id, 'gh-unlink-3'));
      await assert.rejects(store().unlinkIdentity(other.id, othersEmail!.id), {
        code: 'email_conflict_identity_not_deletable',
      });
      // A freed identity may be linked by someone else.
      await store().linkIdentity(github(other.id, 'gh-unlink-1'));
      assert.equal((await store().findIdentity('github', 'gh-unlink-1'))?.userId, other.id);
    });

    it("keeps only one identity of a user, the email identity's gone and the address kept (GoTrue's RemoveUnconfirmedIdentities)", async () => {
      const user = await store().createUser(newUser(), 'h');
      await store().linkIdentity({ ...github(user.id, 'gh-keep-1'), provider: 'gitlab' });
      const kept = await store().linkIdentity(github(user.id, 'gh-keep-2'));
      const other = await store().createUser(newUser(), 'h');
      const [othersEmail] = await store().listIdentities(other.id);
      await assert.rejects(store().keepOnlyIdentity(user.id, othersEmail!.id), {
        code: 'identity_not_found',
      });
      await assert.rejects(store().keepOnlyIdentity(user.id, 'not-a-uuid'), { code: 'identity_not_found' });
      assert.equal((await store().listIdentities(user.id)).length, 3, 'a refusal removes nothing');

      await store().keepOnlyIdentity(user.id, kept.id);
      assert.deepEqual(
        (await store().listIdentities(user.id)).map((identity) => identity.id),
        [kept.id],
      );
      const after = await store().findUserById(user.id);
      assert.equal(after?.email, user.email);
      assert.deepEqual(after?.appMetadata, { provider: 'github', providers: ['github'] });
      assert.equal((await store().listIdentities(other.id)).length, 1, "another user's are left");

      // None kept: every identity goes, the address stays.
      await store().keepOnlyIdentity(user.id, null);
      assert.deepEqual(await store().listIdentities(user.id), []);
      assert.equal((await store().findUserById(user.id))?.email, user.email);
      assert.equal((await store().listIdentities(other.id)).length, 1, "another user's are left");
    });

    it("keeps app_metadata's provider and providers following the identities, as GoTrue's UpdateAppMetaDataProviders", async () => {
      const user = await store().createUser(
        newUser({ appMetadata: { provider: 'email', providers: ['email'], plan: 'pro' } }),
        'h',
      );
      const appMetadata = async () => (await store().findUserById(user.id))!.appMetadata;
      // Hours after the email identity, which the store dates by its own clock (an address set below too).
      const start = Date.now();
      const later = (hours: number) => new Date(start + hours * 3_600_000);
      const linked = await store().linkIdentity({ ...github(user.id, 'gh-follow'), now: later(1) });
      assert.deepEqual(await appMetadata(), {
        provider: 'email',
        providers: ['email', 'github'],
        plan: 'pro',
      });
      await store().linkIdentity({ ...github(user.id, 'gh-follow-2'), provider: 'google', now: later(2) });
      assert.deepEqual((await appMetadata())['providers'], ['email', 'github', 'google']);
      await store().unlinkIdentity(user.id, linked.id);
      assert.deepEqual(await appMetadata(), {
        provider: 'email',
        providers: ['email', 'google'],
        plan: 'pro',
      });
      // The address removed takes its identity and its provider; `provider` becomes the first left.
      const moved = await store().updateUser(user.id, { email: null });
      assert.deepEqual(moved.appMetadata, { provider: 'google', providers: ['google'], plan: 'pro' });
      assert.deepEqual(await appMetadata(), moved.appMetadata);
      // A patch setting app_metadata itself (an administrator's) is stored as given.
      await store().updateUser(user.id, {
        email: 'follow@example.com',
        appMetadata: { provider: 'x', providers: ['x'] },
      });
      assert.deepEqual(await appMetadata(), { provider: 'x', providers: ['x'] });
      // Until the next identity write (the new address's identity is dated now, before google's).
      await store().linkIdentity({ ...github(user.id, 'gh-follow-2'), provider: 'google', now: later(3) });
      assert.deepEqual(await appMetadata(), { provider: 'email', providers: ['email', 'google'] });
    });

    it(
      'lists every provider when links of two providers to one user race',
      { skip: options.concurrencySkipReason },
      async () => {
        for (let round = 0; round < 5; round++) {
          const user = await store().createUser(
            newUser({ appMetadata: { provider: 'email', providers: ['email'] } }),
            'h',
          );
          await Promise.all(
            ['github', 'google', 'gitlab'].map((provider, i) =>
              store().linkIdentity({
                ...github(user.id, `race-${round}-${provider}`),
                provider,
                now: new Date(Date.now() + (i + 1) * 3_600_000),
              }),
            ),
          );
          const providers = (await store().findUserById(user.id))!.appMetadata['providers'];
          assert.deepEqual(providers, ['email', 'github', 'google', 'gitlab'], `round ${round}`);
        }
      },
    );

    it('deletes a user’s identities with the user, freeing them', async () => {
      const user = await store().createUser(newUser(), 'h');
      await store().linkIdentity(github(user.id, 'gh-deleted'));
      assert.equal(await store().deleteUser(user.id), true);
      assert.deepEqual(await store().listIdentities(user.id), []);
      assert.equal(await store().findIdentity('github', 'gh-deleted'), null);
      assert.equal(await store().findIdentity('email', user.id), null);
      const next = await store().createUser(newUser(), 'h');
      assert.equal((await store().linkIdentity(github(next.id, 'gh-deleted'))).userId, next.id);
    });

    it(
      'links a provider identity to exactly one of 20 users racing for it',
      { skip: options.concurrencySkipReason },
      async () => {
        const users = await Promise.all(Array.from({ length: 20 }, () => store().createUser(newUser(), 'h')));
        const results = await Promise.allSettled(
          users.map((user) => store().linkIdentity(github(user.id, 'gh-race'))),
        );
        const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [users[i]!.id] : []));
        assert.equal(won.length, 1, 'one link succeeded');
        for (const result of results) {
          if (result.status === 'rejected')
            assert.equal((result.reason as { code?: string }).code, 'identity_already_exists');
        }
        assert.equal((await store().findIdentity('github', 'gh-race'))?.userId, won[0]);
        const holders = await Promise.all(users.map((user) => store().listIdentities(user.id)));
        assert.equal(holders.flat().filter((identity) => identity.provider === 'github').length, 1);
      },
    );

    it(
      'leaves a user one identity when two unlinks of its two race',
      { skip: options.concurrencySkipReason },
      async () => {
        const user = await store().createUser(
          newUser({ email: null, username: `r${randomUUID().slice(0, 6)}` }),
          'h',
        );
        const a = await store().linkIdentity(github(user.id, 'gh-unlink-race-a'));
        const b = await store().linkIdentity(github(user.id, 'gh-unlink-race-b'));
        const results = await Promise.allSettled([
          store().unlinkIdentity(user.id, a.id),
          store().unlinkIdentity(user.id, b.id),
        ]);
        assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
        assert.equal((await store().listIdentities(user.id)).length, 1);
      },
    );
  });
}
