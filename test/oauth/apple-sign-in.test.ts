import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { startOAuthApp, type OAuthApp } from '../support/oauth-app.js';
import {
  cookieHeader,
  keepCookies,
  startOidcProvider,
  type CookieJar,
  type TestIdp,
} from '../support/oidc-provider.js';

/**
 * Sign in with Apple through the apple preset, oidc-provider standing in for Apple (the preset's
 * `issuer` pointed at it): Apple answers by form post (response_mode=form_post) and, the first
 * time, adds a `user` form field with the name the user gave. restauth takes that name as GoTrue
 * does, and never the field's address: the field is unsigned, the id_token's address is the one.
 */
const APP = 'https://app.test';

describe('Sign in with Apple (form post, the first callback names the user)', () => {
  let app: OAuthApp<TestIdp>;
  let t: TestApp;
  let url: string;
  let idp: TestIdp;

  before(async () => {
    app = await startOAuthApp({
      config: { siteUrl: APP, signup: { confirmEmail: false } },
      provider: (callbackUrl) => startOidcProvider({ redirectUris: [callbackUrl], pkceRequired: false }),
      external: (provider) => ({
        apple: {
          enabled: true,
          client_id: provider.clientId,
          secret: provider.clientSecret,
          issuer: provider.issuer,
        },
      }),
    });
    ({ t, url, provider: idp } = app);
    idp.accounts.set('apple-ada', { email: 'ada@apple.test', email_verified: true });
  });
  after(async () => {
    await app.close();
  });

  /** Follows the provider's redirects (keeping its cookies) to the page that posts the answer back. */
  async function formPostOf(start: string): Promise<{ action: string; fields: Record<string, string> }> {
    const cookies = new Map<string, string>();
    let at = new URL(start);
    for (let hop = 0; hop < 15; hop++) {
      const response = await fetch(at, {
        redirect: 'manual',
        headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') },
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair = ''] = line.split(';');
        const split = pair.indexOf('=');
        cookies.set(pair.slice(0, split).trim(), pair.slice(split + 1).trim());
      }
      const location = response.headers.get('location');
      const body = await response.text();
      if (location !== null) {
        at = new URL(location, at);
        continue;
      }
      const action = /<form[^>]*action="([^"]+)"/u.exec(body)?.[1];
      assert.ok(action, body);
      const fields = Object.fromEntries(
        [...body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/gu)].map((m) => [
          m[1]!,
          m[2]!,
        ]),
      );
      return { action, fields };
    }
    throw new Error('no form post');
  }

  it("takes the name of Apple's user field, never its address; the session is the id_token's user", async () => {
    const authorize = new URL(`${url}/authorize?provider=apple&scopes=openid`);
    const response = await fetch(authorize, { redirect: 'manual' });
    assert.equal(response.status, 302, await response.text());
    // The user's browser: its flow cookie (SameSite=None, for Apple's cross-site form post) goes back.
    const browser: CookieJar = new Map();
    keepCookies(browser, authorize, response);
    assert.match(response.headers.getSetCookie()[0] ?? '', /SameSite=None; Secure/u);
    const start = new URL(response.headers.get('location')!);
    assert.equal(start.searchParams.get('response_mode'), 'form_post');
    idp.loginAs('apple-ada');
    const { action, fields } = await formPostOf(start.href);
    assert.equal(new URL(action).pathname, '/auth/v1/callback');
    assert.ok(fields['code'] && fields['state']);
    const user = JSON.stringify({
      name: { firstName: 'Ada', lastName: 'Lovelace' },
      email: 'someone-else@evil.test',
    });
    const posted = await fetch(action, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookieHeader(browser, new URL(action)) },
      body: new URLSearchParams({ ...fields, user }),
    });
    await posted.arrayBuffer();
    const landed = new URL(posted.headers.get('location')!);
    assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);

    const signedIn = await t.services.store.findUserByEmail('ada@apple.test');
    assert.ok(signedIn, 'the id_token address signed in');
    assert.equal(signedIn.profile['full_name'], 'Ada Lovelace');
    assert.equal(signedIn.profile['name'], 'Ada Lovelace');
    assert.equal(await t.services.store.findUserByEmail('someone-else@evil.test'), null);
    const identity = await t.services.store.findIdentity('apple', 'apple-ada');
    assert.equal(identity?.identityData['email'], 'ada@apple.test');
  });
});
