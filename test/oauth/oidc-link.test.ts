import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, type TestIdp } from '../support/oidc-provider.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * auth-js's linkIdentity through a real OIDC provider: the signed-in user's GET
 * /user/identities/authorize starts a flow bound to them, and the provider's callback links the
 * identity to that user (IdentityLinking) instead of signing in whoever the provider's user is.
 */
const APP = 'https://app.test';

describe('linkIdentity through an OIDC provider', () => {
  let app: OAuthApp<TestIdp>;
  let t: TestApp;
  let url: string;
  let idp: TestIdp;

  before(async () => {
    app = await startKeycloakApp({
      siteUrl: APP,
      identities: { manualLinking: true, implicitLinking: true },
    });
    ({ t, url, provider: idp } = app);
  });
  after(async () => {
    await app.close();
  });

  it("links the provider's identity to the signed-in user, who comes back signed in", async () => {
    const owner = await t.services.auth.register(LOCAL_CALL, {
      email: 'lena@acme.test',
      password: 'lena password 1',
      emailConfirmed: true,
    });
    idp.accounts.set('kc-lena-work', { email: 'lena@work.test', email_verified: true });
    const { client } = gotrueClient(url);
    assert.equal(
      (await client.signInWithPassword({ email: 'lena@acme.test', password: 'lena password 1' })).error,
      null,
    );
    const { data, error } = await client.linkIdentity({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
    });
    assert.equal(error, null);
    assert.ok(data.url);
    idp.loginAs('kc-lena-work');
    const landed = await followRedirects(data.url, APP);
    const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
    assert.ok(accessToken, landed.href);
    const { data: after } = await client.getUser(accessToken);
    assert.equal(after.user?.id, owner.id);
    assert.equal(after.user?.email, 'lena@acme.test', "the address stays the user's own");
    assert.deepEqual(after.user?.identities?.map((identity) => identity.provider).sort(), [
      'email',
      'keycloak',
    ]);
    assert.equal(await t.services.store.findUserByEmail('lena@work.test'), null, 'no new user');
  });
});
