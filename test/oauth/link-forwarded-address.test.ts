import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, type CookieJar, type TestIdp } from '../support/oidc-provider.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * linkIdentity's address, forwarded. The attacker signs in to their own account, starts
 * linkIdentity and sends the victim the address it answers (restauth's continue step, which sets
 * the flow's cookie in whichever browser follows it). The victim, signed in at the provider,
 * goes through: linked at the callback, the victim's provider identity joined the attacker's
 * account, and the attacker then signed in as "the victim" wherever that identity is trusted.
 * With PKCE the identity is linked at the code's exchange, which needs the verifier the
 * attacker's app keeps: the victim's browser has the code and no verifier, the attacker the
 * verifier and no code. Without PKCE linkIdentity is refused (identities.implicitLinking off).
 * Two cookie jars (attacker's and victim's browsers), the real auth-js, a real OIDC provider.
 */
const APP = 'https://app.test';
const PASSWORD = 'attacker password 1';

describe("a linkIdentity address followed in someone else's browser", () => {
  let app: OAuthApp<TestIdp>;
  let t: TestApp;
  let url: string;
  let idp: TestIdp;

  before(async () => {
    app = await startKeycloakApp({ siteUrl: APP, identities: { manualLinking: true } });
    ({ t, url, provider: idp } = app);
  });
  after(() => app.close());

  /** A confirmed account signed in through the real auth-js client of `flowType`. */
  async function signedIn(email: string, flowType: 'implicit' | 'pkce') {
    const user = await t.services.auth.register(LOCAL_CALL, {
      email,
      password: PASSWORD,
      emailConfirmed: true,
    });
    const { client } = gotrueClient(url, { flowType });
    assert.equal((await client.signInWithPassword({ email, password: PASSWORD })).error, null);
    return { client, userId: user.id };
  }

  /** `browser`, logged in at the provider as `account`, follows `address` back to the app. */
  function follow(address: string, account: string, browser: CookieJar): Promise<URL> {
    idp.loginAs(account);
    return followRedirects(address, APP, 15, browser);
  }

  it("PKCE: the victim's browser ends with a code it cannot use; nothing is linked to the attacker", async () => {
    const attacker = await signedIn('mal@evil.test', 'pkce');
    const { data, error } = await attacker.client.linkIdentity({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
    });
    assert.equal(error, null);
    idp.accounts.set('kc-vic', { email: 'vic@acme.test', email_verified: true });
    const landed = await follow(data.url!, 'kc-vic', new Map());
    const code = landed.searchParams.get('code');
    assert.ok(code, landed.href);
    assert.equal(
      await t.services.store.findIdentity('keycloak', 'kc-vic'),
      null,
      'not linked at the callback',
    );
    // The victim's copy of the app (auth-js detecting ?code=) holds no verifier of this flow.
    const victimApp = gotrueClient(url, { flowType: 'pkce' }).client;
    const exchanged = await victimApp.exchangeCodeForSession(code);
    assert.notEqual(exchanged.error, null);
    assert.equal(exchanged.data.session, null);
    assert.equal(await t.services.store.findIdentity('keycloak', 'kc-vic'), null, 'never linked');
    assert.deepEqual(
      (await t.services.store.listIdentities(attacker.userId)).map((identity) => identity.provider),
      ['email'],
    );
  });

  it("PKCE: the starter's own app links at the exchange and is answered the user with the identity", async () => {
    const owner = await signedIn('own@acme.test', 'pkce');
    const { data } = await owner.client.linkIdentity({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
    });
    idp.accounts.set('kc-own', { email: 'own@work.test', email_verified: true });
    const landed = await follow(data.url!, 'kc-own', new Map());
    const code = landed.searchParams.get('code');
    assert.ok(code, landed.href);
    assert.equal(await t.services.store.findIdentity('keycloak', 'kc-own'), null, 'waits for the exchange');
    const exchanged = await owner.client.exchangeCodeForSession(code);
    assert.equal(exchanged.error, null);
    assert.equal(exchanged.data.user?.id, owner.userId);
    assert.deepEqual(exchanged.data.user?.identities?.map((identity) => identity.provider).sort(), [
      'email',
      'keycloak',
    ]);
    assert.equal((await t.services.store.findIdentity('keycloak', 'kc-own'))?.userId, owner.userId);
  });

  it('implicit: linkIdentity is refused, no address to forward (identities.implicitLinking off)', async () => {
    const attacker = await signedIn('imp@evil.test', 'implicit');
    const { data, error } = await attacker.client.linkIdentity({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
    });
    assert.equal(error?.status, 400);
    assert.equal(error?.code, 'validation_failed');
    assert.match(error?.message ?? '', /PKCE flow/u);
    assert.equal(data.url ?? null, null, 'no address to forward');
  });

  // A flow stored without PKCE while implicit links were allowed (by an instance from before the
  // rule, or before identities.implicitLinking was switched off and the server restarted) is still
  // forwardable: its callback is refused too, not only a new start.
  it('implicit: a stored implicit link flow forwarded to the victim links nothing at the callback', async () => {
    const attacker = await signedIn('old@evil.test', 'pkce');
    const token = (await attacker.client.getSession()).data.session!.access_token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      session_id: string;
    };
    const { oauth } = t.services;
    const { flow, secrets } = await oauth.flows.start({
      provider: 'keycloak',
      referrer: `${APP}/settings`,
      pkce: null,
      linking: { userId: attacker.userId, sessionId: claims.session_id },
    });
    const address = await oauth.clients.authorizationUrl(oauth.clients.get('keycloak')!, {
      state: flow.id,
      secrets,
      scopes: undefined,
      params: {},
    });
    // The victim's browser after following the old continue step: it holds the flow's cookie.
    const victim: CookieJar = new Map([
      [new URL(url).origin, new Map([[`restauth-oauth-${flow.id}`, secrets.browserBinding]])],
    ]);
    idp.accounts.set('kc-old', { email: 'old@acme.test', email_verified: true });
    const landed = await follow(address, 'kc-old', victim);
    assert.equal(
      new URLSearchParams(landed.hash.slice(1)).get('error_code'),
      'validation_failed',
      landed.href,
    );
    assert.equal(await t.services.store.findIdentity('keycloak', 'kc-old'), null, 'never linked');
  });
});
