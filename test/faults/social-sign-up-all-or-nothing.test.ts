import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gotrueClient } from '../support/gotrue.js';
import { signInWithKeycloak, startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';
import { realServerOnly, suiteStore } from '../support/postgres.js';
import { usersWhere, whileRefused } from '../support/refused-writes.js';

/**
 * A provider's sign-up writes the account and its provider identity: a fault on the identity's insert
 * must leave no account behind. Written apart, the account stayed without the identity it signs in
 * with, and the retry the error asks for found the address taken: a verified address joined that
 * leftover account, an unverified one made a second account without the address (the first keeping
 * it, with no way in). The fault is a trigger raising disk_full (53100) on auth.identities' inserts.
 */
describe(
  'a social sign-up that fails half-way leaves no half-made account (PostgreSQL)',
  // The DBA's connection beside the app's pool: a real server only.
  { skip: realServerOnly() ?? false },
  () => {
    let app: OAuthApp<TestIdp>;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let url: string;

    before(async () => {
      store = await suiteStore('postgres');
      url = store.config.store!.url;
      app = await startKeycloakApp({
        ...store.config,
        siteUrl: 'https://app.test',
        signup: { confirmEmail: false },
      });
    });
    after(async () => {
      await app?.close();
      await store?.drop();
    });

    const allUsers = () => usersWhere(url, 'true');

    for (const verified of [true, false]) {
      const email = `social-${verified ? 'verified' : 'unverified'}@acme.test`;
      const subject = `kc-${verified ? 'verified' : 'unverified'}`;

      it(`an address the provider ${verified ? 'verified' : 'did not verify'}: no account left by the fault, the retry signs up one`, async () => {
        app.provider.accounts.set(subject, { email, email_verified: verified, name: 'Social' });
        const before = await allUsers();
        const failed = await whileRefused(url, 'INSERT', 'auth.identities', () =>
          signInWithKeycloak(app, subject),
        );
        assert.equal(failed.accessToken, null, failed.landed);
        assert.equal(await allUsers(), before, 'no account is left by the failed sign-up');

        const retried = await signInWithKeycloak(app, subject);
        assert.ok(retried.accessToken, retried.landed);
        const { data } = await gotrueClient(app.url).client.getUser(retried.accessToken);
        assert.equal(data.user?.email, email, 'the account has its address');
        assert.deepEqual(
          data.user?.identities?.map((identity) => [identity.provider, identity.id]),
          [['keycloak', subject]],
        );
        assert.equal(await allUsers(), before + 1, 'one account, not a leftover and a second');
      });
    }
  },
);
