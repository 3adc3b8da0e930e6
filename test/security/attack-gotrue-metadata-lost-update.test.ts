import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { signInWithKeycloak, startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';
import { serviceTokenOf } from '../support/service-token.js';

const PASSWORD = 'a long passphrase';

/**
 * Two merges of one user's data at once (two tabs saving settings, an app writing two keys from two
 * components): GoTrue's merge is key by key, so both keys must stay. Each request read the account,
 * merged its keys into what it read and wrote the whole: the later write put back what the earlier
 * read, and the other request's key was gone, answered 200. The interleaving is made: once the
 * request has read the account, the other request runs to its end, and only then does it go on.
 * On both stores, through the app; the admin API's merges (user_metadata, app_metadata) alike.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`concurrent merges of one user's data keep both (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let adminToken: string;

    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({ format: 'restauth', config: { ...store.config, passwords: FAST_HASHING } });
      adminToken = await serviceTokenOf(t);
    });
    after(async () => {
      await t?.close();
      await store?.drop();
    });

    const signUp = async (email: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email, password: PASSWORD },
      });
      assert.equal(res.statusCode, 200, res.body);
      const session = res.json<{ access_token: string; user: { id: string } }>();
      return { token: session.access_token, id: session.user.id };
    };
    const putUser = (token: string, data: Record<string, unknown>) =>
      t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${token}` },
        payload: { data },
      });
    const putAdmin = (id: string, body: Record<string, unknown>) =>
      t.app.inject({
        method: 'PUT',
        url: `/auth/v1/admin/users/${id}`,
        headers: { authorization: `Bearer ${adminToken}` },
        payload: body,
      });
    const stored = async (id: string) => (await t.services.store.findUserById(id))!;

    it('PUT /user twice at once: both keys stay', async () => {
      const ann = await signUp('ann@acme.test');
      const res = await commitAfterRead(
        t.services.store,
        async () => assert.equal((await putUser(ann.token, { theme: 'dark' })).statusCode, 200),
        ['findUserById'],
        () => putUser(ann.token, { locale: 'fr' }),
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual((await stored(ann.id)).profile, { theme: 'dark', locale: 'fr' });
    });

    it('a key removed by one request is not put back by the other', async () => {
      const bob = await signUp('bob@acme.test');
      assert.equal((await putUser(bob.token, { draft: 'x' })).statusCode, 200);
      const res = await commitAfterRead(
        t.services.store,
        async () => assert.equal((await putUser(bob.token, { draft: null })).statusCode, 200),
        ['findUserById'],
        () => putUser(bob.token, { locale: 'fr' }),
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual((await stored(bob.id)).profile, { locale: 'fr' });
    });

    for (const field of ['user_metadata', 'app_metadata'] as const) {
      it(`admin: two updates of ${field} at once keep both keys`, async () => {
        const cy = await signUp(`cy-${field}@acme.test`);
        const res = await commitAfterRead(
          t.services.store,
          async () => assert.equal((await putAdmin(cy.id, { [field]: { plan: 'pro' } })).statusCode, 200),
          ['findUserById'],
          () => putAdmin(cy.id, { [field]: { team: 'blue' } }),
        );
        assert.equal(res.statusCode, 200, res.body);
        const user = await stored(cy.id);
        const data = field === 'user_metadata' ? user.profile : user.appMetadata;
        assert.equal(data['plan'], 'pro', JSON.stringify(data));
        assert.equal(data['team'], 'blue', JSON.stringify(data));
      });
    }
  });
}

/** A provider's sign-in merges the provider's data into user_metadata (GoTrue's): the same race. */
describe('a provider sign-in racing PUT /user keeps the key PUT /user wrote', () => {
  let app: OAuthApp<TestIdp>;
  before(async () => {
    app = await startKeycloakApp({ passwords: FAST_HASHING, siteUrl: 'https://app.test' });
  });
  after(async () => {
    await app?.close();
  });

  it('both the provider data and the key stay', async () => {
    app.provider.accounts.set('kc-eve', { email: 'eve@acme.test', email_verified: true });
    const first = await signInWithKeycloak(app, 'kc-eve');
    assert.ok(first.accessToken, first.landed);
    const again = await commitAfterRead(
      app.t.services.store,
      async () => {
        const res = await app.t.app.inject({
          method: 'PUT',
          url: '/auth/v1/user',
          headers: { authorization: `Bearer ${first.accessToken}` },
          payload: { data: { theme: 'dark' } },
        });
        assert.equal(res.statusCode, 200, res.body);
      },
      ['findUserById'],
      () => signInWithKeycloak(app, 'kc-eve'),
    );
    assert.ok(again.accessToken, again.landed);
    const user = (await app.t.services.store.findUserByEmail('eve@acme.test'))!;
    assert.equal(user.profile['theme'], 'dark', JSON.stringify(user.profile));
    assert.equal(user.profile['provider_id'], 'kc-eve', JSON.stringify(user.profile));
  });
});
