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
 * the password nor the session of the sign-up. Nor a provider identity: the squatter who signed in
 * with a provider that gave the address unverified had an account confirmed at once, which the
 * owner's verified sign-in joined, and the squatter's provider sign-in then led into the owner's
 * account (its session lived on too, having no password to retire).
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

  it('unlinks the identity of a provider that gave the squatter the address unverified, and its sessions end', async () => {
    const { t, url, provider: idp } = app;
    const address = 'claimed@acme.test';
    idp.accounts.set('kc-claimant', { email: address, email_verified: false });
    const claimed = await signInWithKeycloak(app, 'kc-claimant');
    assert.ok(claimed.accessToken, claimed.landed);
    const claimant = new URLSearchParams(new URL(claimed.landed).hash.slice(1));
    const { data: before } = await gotrueClient(url).client.getUser(claimed.accessToken);
    assert.equal(before.user?.email, address, 'confirmed at once, the address its own');

    idp.accounts.set('kc-rightful', { email: address, email_verified: true });
    const { accessToken: ownerToken, landed } = await signInWithKeycloak(app, 'kc-rightful');
    assert.ok(ownerToken, landed);
    const { data: owner } = await gotrueClient(url).client.getUser(ownerToken);
    assert.equal(owner.user?.id, before.user?.id, 'the verified address joins its account');
    assert.deepEqual(
      owner.user?.identities?.map((identity) => identity.identity_data?.['sub']),
      ['kc-rightful'],
      "the claimant's identity is gone",
    );

    const again = await signInWithKeycloak(app, 'kc-claimant');
    const { data: claimantNow } = await gotrueClient(url).client.getUser(again.accessToken ?? '');
    assert.notEqual(claimantNow.user?.id, owner.user?.id, "the claimant's sign-in leads elsewhere");
    assert.notEqual(claimantNow.user?.email, address, 'to an account without the address');
    const session = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${claimed.accessToken}` },
    });
    assert.equal(session.statusCode, 403, `the claimant's access token: ${session.body}`);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: claimant.get('refresh_token') },
    });
    assert.equal(refresh.statusCode, 400, `the claimant's refresh token: ${refresh.body}`);
    const ownerSession = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${ownerToken}` },
    });
    assert.equal(ownerSession.statusCode, 200, "the owner's own session lives");
  });
});
