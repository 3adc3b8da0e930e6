import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gotrueClient } from '../support/gotrue.js';
import { signInWithKeycloak, startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';

/**
 * An address registered with a password where sign-ups are confirmed at once (no mail proves
 * anything: `signup.confirmEmail: false`, GoTrue's MAILER_AUTOCONFIRM, the embedded default),
 * then signed in by its owner through an OIDC provider that verified it. The owner joins that
 * account (as GoTrue's); the squatter who registered the address must keep no way in: neither
 * the password nor the session of the sign-up.
 */
const APP = 'https://app.test';

describe('OIDC sign-in joining an account confirmed without proof', () => {
  let app: OAuthApp<TestIdp>;

  before(async () => {
    app = await startKeycloakApp({ siteUrl: APP, signup: { confirmEmail: false } });
  });
  after(() => app.close());

  it("retires the squatter's password and sessions", async () => {
    const { t, url, provider: idp } = app;
    const squat = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'owner@acme.test', password: 'squatter password' },
    });
    assert.equal(squat.statusCode, 200, squat.body);
    const squatter = squat.json<{ access_token: string; refresh_token: string; user: { id: string } }>();

    idp.accounts.set('kc-owner', { email: 'owner@acme.test', email_verified: true });
    const { accessToken: ownerToken, landed } = await signInWithKeycloak(app, 'kc-owner');
    assert.ok(ownerToken, landed);
    const { data } = await gotrueClient(url).client.getUser(ownerToken);
    assert.equal(data.user?.id, squatter.user.id, 'the verified address joins its account');

    const password = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email: 'owner@acme.test', password: 'squatter password' },
    });
    assert.equal(password.statusCode, 400, `the squatter's password: ${password.body}`);
    const session = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${squatter.access_token}` },
    });
    assert.equal(session.statusCode, 403, `the squatter's access token: ${session.body}`);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: squatter.refresh_token },
    });
    assert.equal(refresh.statusCode, 400, `the squatter's refresh token: ${refresh.body}`);
  });
});
