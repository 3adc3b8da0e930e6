import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startOAuthApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, startOidcProvider, type TestIdp } from '../support/oidc-provider.js';

/**
 * Cookie tossing against the flow's browser binding. restauth's public address is https (its
 * provider's redirect URI); another app of the same site (a sibling subdomain) is the attacker's.
 * The attacker starts a sign-in in their own browser, which is given the flow's cookie, goes
 * through the provider as themselves and stops before restauth's callback. From the sibling host
 * they set that cookie, for the whole site, in the victim's browser, and send the victim the
 * callback address: unprefixed, the cookie passed and the victim was signed in as the attacker.
 * A Secure binding cookie is `__Host-` now, which a browser takes only from restauth's own host,
 * and the callback reads no other name. Requests are made as the browsers would send them (the
 * tossed cookie under the name a sibling can set); the provider is a real OIDC one.
 */
const APP = 'https://app.test';
const CALLBACK = 'https://auth.test/auth/v1/callback';

describe('the binding cookie of a flow whose callback is https', () => {
  let app: OAuthApp<TestIdp>;

  before(async () => {
    app = await startOAuthApp({
      config: { siteUrl: APP },
      provider: () => startOidcProvider({ redirectUris: [CALLBACK] }),
      external: (idp) => ({
        keycloak: {
          enabled: true,
          client_id: idp.clientId,
          secret: idp.clientSecret,
          url: idp.issuer,
          redirect_uri: CALLBACK,
        },
      }),
    });
    app.provider.accounts.set('kc-mallory', { email: 'mallory@evil.test', email_verified: true });
  });
  after(() => app.close());

  /** The attacker's flow: its cookie (as set), and restauth's callback address they stopped at. */
  async function attackersFlow(): Promise<{ setCookie: string; name: string; value: string; callback: URL }> {
    const start = await fetch(`${app.url}/authorize?provider=keycloak`, { redirect: 'manual' });
    await start.arrayBuffer();
    const [setCookie = ''] = start.headers.getSetCookie();
    const [pair = ''] = setCookie.split(';');
    const at = pair.indexOf('=');
    app.provider.loginAs('kc-mallory');
    const stoppedAt = await followRedirects(start.headers.get('location')!, (url) =>
      url.href.startsWith(`${CALLBACK}?`),
    );
    // auth.test is restauth's public name; this test reaches it at its listening address.
    const callback = new URL(`${stoppedAt.pathname}${stoppedAt.search}`, app.base);
    return { setCookie, name: pair.slice(0, at), value: pair.slice(at + 1), callback };
  }

  async function callbackWith(callback: URL, cookie: string): Promise<Response> {
    const response = await fetch(callback, { redirect: 'manual', headers: { cookie } });
    await response.arrayBuffer();
    return response;
  }

  it('is a __Host- cookie: Secure, Path=/, no Domain', async () => {
    const { setCookie, name } = await attackersFlow();
    assert.match(name, /^__Host-restauth-oauth-[0-9a-f-]{36}$/u, setCookie);
    assert.match(setCookie, /; Path=\/;/u);
    assert.match(setCookie, /; SameSite=Lax\b/u);
    assert.match(setCookie, /; Secure\b/u);
    assert.doesNotMatch(setCookie, /domain=/iu);
  });

  it("the attacker's cookie tossed in unprefixed (a sibling host's) signs the victim in as nobody", async () => {
    const { name, value, callback } = await attackersFlow();
    const tossed = `${name.replace(/^__Host-/u, '')}=${value}`;
    const landed = new URL((await callbackWith(callback, tossed)).headers.get('location')!);
    assert.equal(landed.searchParams.get('error_code'), 'bad_oauth_state', landed.href);
    assert.equal(landed.hash.includes('access_token'), false, 'no session');
  });

  it('the browser restauth set it in finishes the flow, and its answer clears that cookie', async () => {
    const { name, value, callback } = await attackersFlow();
    const answer = await callbackWith(callback, `${name}=${value}`);
    assert.ok(answer.headers.get('location')?.includes('access_token='), answer.headers.get('location')!);
    assert.deepEqual(answer.headers.getSetCookie(), [`${name}=; Path=/; Max-Age=0; HttpOnly; Secure`]);
  });
});
