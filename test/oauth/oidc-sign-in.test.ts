import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, type TestIdp } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * OAuth/OIDC sign-in with the unmodified @supabase/auth-js against a listening restauth and a real
 * OpenID Connect provider (oidc-provider) configured as GoTrue's keycloak would be, on both stores:
 * signInWithOAuth's URL, followed as a browser follows it, comes back to the app signed in, in the
 * implicit flow (session in the fragment) and the PKCE flow (?code= exchanged with the verifier).
 */
const APP = 'https://app.test';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`OIDC sign-in with @supabase/auth-js (${storeKind} store)`, () => {
    let app: OAuthApp<TestIdp>;
    let url: string;
    let idp: TestIdp;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      app = await startKeycloakApp({ ...store.config, siteUrl: APP });
      ({ url, provider: idp } = app);
      idp.accounts.set('kc-ada', { email: 'ada@acme.test', email_verified: true, name: 'Ada Lovelace' });
    });
    after(async () => {
      await app.close();
      await store.drop();
    });

    it('implicit flow: signInWithOAuth → the provider → the app with the session in the fragment', async () => {
      const { client } = gotrueClient(url);
      const { data, error } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      idp.loginAs('kc-ada');
      assert.ok(data.url);
      const landed = await followRedirects(data.url, APP);
      assert.equal(landed.pathname, '/welcome');
      const fragment = new URLSearchParams(landed.hash.slice(1));
      const accessToken = fragment.get('access_token');
      assert.ok(accessToken, landed.href);
      assert.equal((await idp.userinfo(fragment.get('provider_token') ?? ''))?.['sub'], 'kc-ada');
      assert.ok(fragment.get('provider_refresh_token'));
      const { data: user } = await client.getUser(accessToken);
      assert.equal(user.user?.email, 'ada@acme.test');
      // Only the provider's identity, as GoTrue's createAccountFromExternalIdentity.
      assert.deepEqual(
        user.user?.identities?.map((identity) => identity.provider),
        ['keycloak'],
      );
      assert.equal(user.user?.user_metadata['full_name'], 'Ada Lovelace');
    });

    it('PKCE flow: ?code= exchanged with the verifier auth-js kept', async () => {
      const { client } = gotrueClient(url, { flowType: 'pkce' });
      const { data } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/callback`, skipBrowserRedirect: true },
      });
      idp.loginAs('kc-ada');
      assert.ok(data.url);
      const landed = await followRedirects(data.url, APP);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);
      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.equal(exchanged.data.user?.email, 'ada@acme.test');
      // The provider's tokens, as GoTrue answers them: the access token works at the provider.
      const providerToken = exchanged.data.session?.provider_token;
      assert.ok(providerToken, 'provider_token');
      assert.equal((await idp.userinfo(providerToken))?.['sub'], 'kc-ada');
      assert.ok(exchanged.data.session?.provider_refresh_token, 'provider_refresh_token');
      const again = await client.exchangeCodeForSession(code);
      assert.ok(again.error, 'the code works once');
    });
  });
}

describe('OIDC sign-in with sign-ups switched off', () => {
  let app: OAuthApp<TestIdp>;
  let t: TestApp;
  let url: string;
  let idp: TestIdp;

  before(async () => {
    app = await startKeycloakApp({ siteUrl: APP, signup: { enabled: false } });
    ({ t, url, provider: idp } = app);
  });
  after(async () => {
    await app.close();
  });

  it('a new user is refused with access_denied signup_disabled; an existing one signs in', async () => {
    idp.accounts.set('kc-newcomer', { email: 'new@acme.test', email_verified: true });
    idp.accounts.set('kc-member', { email: 'member@acme.test', email_verified: true });
    await t.services.auth.register(LOCAL_CALL, {
      email: 'member@acme.test',
      password: 'member password',
      emailConfirmed: true,
    });
    const { client } = gotrueClient(url);
    const start = async (account: string) => {
      const { data } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/in`, skipBrowserRedirect: true },
      });
      assert.ok(data.url);
      idp.loginAs(account);
      return followRedirects(data.url, APP);
    };
    const refused = await start('kc-newcomer');
    assert.equal(refused.searchParams.get('error'), 'access_denied');
    assert.equal(refused.searchParams.get('error_code'), 'signup_disabled');
    assert.equal(refused.hash.includes('access_token'), false);
    assert.equal(await t.services.store.findUserByEmail('new@acme.test'), null);
    const member = await start('kc-member');
    assert.ok(new URLSearchParams(member.hash.slice(1)).get('access_token'), member.href);
  });
});
