import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, openIn, type CookieJar, type TestIdp } from '../support/oidc-provider.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * An OAuth flow finishes only in the browser that started it (identities.oauthBrowserBinding, on
 * by default). GoTrue does not bind its `state`: an attacker starts a flow in their own browser,
 * goes through the provider as themselves, stops before restauth's callback and sends the victim
 * that address (or the provider's address of their flow): the victim ends up signed in as the
 * attacker (login CSRF), holding the attacker's PKCE code, or, through linkIdentity, with their
 * provider identity joined to the attacker's account. Each attack here uses two cookie jars, the
 * attacker's browser and the victim's, against a real OIDC provider and a listening restauth.
 */
const APP = 'https://app.test';
const isCallback = (at: URL) => at.pathname === '/auth/v1/callback';

describe('OAuth flows bound to the browser that started them', () => {
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
    idp.accounts.set('kc-mallory', { email: 'mallory@evil.test', email_verified: true });
    idp.accounts.set('kc-victor', { email: 'victor@acme.test', email_verified: true });
  });
  after(() => app.close());

  /** `browser` goes from `start` through the provider, logged in there as `account`, up to restauth's callback. */
  function toCallback(start: string, account: string, browser: CookieJar): Promise<URL> {
    idp.loginAs(account);
    return followRedirects(start, isCallback, 15, browser);
  }

  /** Where restauth's callback leads `browser` (not followed). */
  async function land(callback: URL, browser: CookieJar): Promise<URL> {
    const response = await openIn(browser, callback);
    return new URL(response.headers.get('location')!);
  }

  function assertRefused(landed: URL): void {
    assert.equal(landed.searchParams.get('error_code'), 'bad_oauth_state', landed.href);
    assert.equal(landed.searchParams.get('error_description'), 'OAuth state was not started in this browser');
    assert.equal(landed.hash.includes('access_token'), false, 'no session');
    assert.equal(landed.searchParams.has('code'), false, 'no PKCE code');
  }

  it("login CSRF: the attacker's callback address, opened in the victim's browser, signs nobody in", async () => {
    const callback = await toCallback(`${url}/authorize?provider=keycloak`, 'kc-mallory', new Map());
    assertRefused(await land(callback, new Map()));
  });

  it("login CSRF: the attacker's address at the provider, completed by the victim, signs nobody in", async () => {
    const start = await fetch(`${url}/authorize?provider=keycloak`, { redirect: 'manual' });
    await start.arrayBuffer();
    const victim: CookieJar = new Map();
    const callback = await toCallback(start.headers.get('location')!, 'kc-victor', victim);
    assertRefused(await land(callback, victim));
    assert.equal(await t.services.store.findUserByEmail('victor@acme.test'), null, 'no account made');
  });

  it("PKCE flow injection: the attacker's PKCE flow, finished in the victim's browser, hands out no code", async () => {
    const { client } = gotrueClient(url, { flowType: 'pkce' });
    const { data } = await client.signInWithOAuth({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/cb`, skipBrowserRedirect: true },
    });
    const callback = await toCallback(data.url!, 'kc-mallory', new Map());
    assertRefused(await land(callback, new Map()));
  });

  it("link CSRF: the attacker's linkIdentity callback, opened by the victim, links nothing", async () => {
    const attacker = await t.services.auth.register(LOCAL_CALL, {
      email: 'mel@evil.test',
      password: 'mel password 123',
      emailConfirmed: true,
    });
    const { client } = gotrueClient(url);
    await client.signInWithPassword({ email: 'mel@evil.test', password: 'mel password 123' });
    const { data, error } = await client.linkIdentity({
      provider: 'keycloak',
      options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
    });
    assert.equal(error, null);
    assert.match(data.url!, /\/auth\/v1\/authorize\/continue\?/u, "restauth's continue step first");
    idp.accounts.set('kc-mel', { email: 'mel@work.test', email_verified: true });
    const callback = await toCallback(data.url!, 'kc-mel', new Map());
    assertRefused(await land(callback, new Map()));
    const identities = await t.services.store.listIdentities(attacker.id);
    assert.deepEqual(
      identities.map((identity) => identity.provider),
      ['email'],
    );
  });

  it('the browser that started a flow finishes it, and its cookie is gone after the callback', async () => {
    idp.accounts.set('kc-bea', { email: 'bea@acme.test', email_verified: true });
    const browser: CookieJar = new Map();
    const callback = await toCallback(`${url}/authorize?provider=keycloak`, 'kc-bea', browser);
    assert.equal(browser.get(new URL(url).origin)?.size, 1, 'one flow cookie');
    const landed = await land(callback, browser);
    assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);
    assert.equal(browser.get(new URL(url).origin)?.size, 0, 'cleared');
  });

  it('the continue step leads only to an address restauth signed', async () => {
    const to = encodeURIComponent('https://evil.test/?state=x');
    for (const query of [
      `provider=keycloak&to=${to}&signature=${'A'.repeat(43)}`,
      `provider=nope&to=${to}&signature=x`,
    ]) {
      const response = await fetch(`${url}/authorize/continue?${query}`, { redirect: 'manual' });
      assert.equal(response.status, 400, query);
      assert.equal(((await response.json()) as { error_code: string }).error_code, 'bad_oauth_state');
    }
  });
});

describe('OAuth flows with identities.oauthBrowserBinding off (clients that keep no cookies)', () => {
  let app: OAuthApp<TestIdp>;

  before(async () => {
    app = await startKeycloakApp({ siteUrl: APP, identities: { oauthBrowserBinding: false } });
  });
  after(() => app.close());

  it('a callback without the cookie signs in, and /authorize sets none', async () => {
    app.provider.accounts.set('kc-nat', { email: 'nat@acme.test', email_verified: true });
    const start = await fetch(`${app.url}/authorize?provider=keycloak`, { redirect: 'manual' });
    await start.arrayBuffer();
    assert.deepEqual(start.headers.getSetCookie(), []);
    app.provider.loginAs('kc-nat');
    const callback = await followRedirects(start.headers.get('location')!, isCallback);
    const answer = await fetch(callback, { redirect: 'manual' });
    await answer.arrayBuffer();
    assert.ok(answer.headers.get('location')?.includes('access_token='));
  });
});
