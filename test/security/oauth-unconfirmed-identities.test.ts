import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gotrueClient } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp } from '../support/oauth-app.js';

/**
 * An address signed up with a password and left unconfirmed (by a squatter, say), then signed in
 * by its owner through a provider that verified it: the provider joins that account. GoTrue's
 * RemoveUnconfirmedIdentities then keeps only the provider's identity and the provider's
 * user_metadata: none of what the unconfirmed account's first holder set up is the owner's. The
 * squatter's password was retired, but its `email` identity stayed (providers email and keycloak)
 * and so did the user_metadata it chose, which apps read as the owner's profile.
 */
const APP = 'https://app.test';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a verified provider joining an unconfirmed account (${storeKind} store)`, () => {
    const suite = useKeycloakApp(storeKind, { siteUrl: APP });

    it("keeps only the provider's identity and metadata, as GoTrue's", async () => {
      const { app } = suite;
      const { t, url, provider: idp } = app;
      const squat = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: {
          email: 'owner@acme.test',
          password: 'squatter password',
          data: { display_name: 'Support team', avatar_url: 'https://evil.example/a.png' },
        },
      });
      assert.equal(squat.statusCode, 200, squat.body);
      const squatted = await t.services.store.findUserByEmail('owner@acme.test');
      assert.equal(squatted?.emailConfirmedAt, null);

      idp.accounts.set('kc-owner', { email: 'owner@acme.test', email_verified: true, name: 'Owner' });
      const { accessToken: token, landed } = await signInWithKeycloak(app, 'kc-owner');
      assert.ok(token, landed);
      const { data } = await gotrueClient(url).client.getUser(token);
      assert.equal(data.user?.id, squatted?.id, 'the verified address joins its account');
      assert.deepEqual(
        data.user?.identities?.map((identity) => identity.provider),
        ['keycloak'],
      );
      assert.equal(data.user?.app_metadata['provider'], 'keycloak');
      assert.deepEqual(data.user?.app_metadata['providers'], ['keycloak']);
      assert.equal(data.user?.user_metadata['display_name'], undefined);
      assert.equal(data.user?.user_metadata['avatar_url'], undefined);
      assert.equal(data.user?.user_metadata['name'], 'Owner');
      assert.equal(data.user?.email, 'owner@acme.test', 'the address stays, confirmed');
      assert.ok(data.user?.email_confirmed_at);

      const password = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: 'owner@acme.test', password: 'squatter password' },
      });
      assert.equal(password.statusCode, 400, `the squatter's password: ${password.body}`);
    });
  });
}
