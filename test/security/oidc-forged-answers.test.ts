import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { gotrueClient } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, openIn, type CookieJar, type TestIdp } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';

/**
 * OIDC sign-in attacked with answers the provider never gave, against a real OIDC provider
 * (oidc-provider) and a listening restauth on both stores:
 * - signInWithIdToken with an unsigned token (alg none), one signed HS256 with the provider's
 *   public key as the secret (key confusion), one whose `nbf` is still ahead, one the provider
 *   signed with a key id it does not publish;
 * - the callback: an attacker's code spliced into a victim's callback (login CSRF by code
 *   injection), a provider `error` answer that must spend its state, and the state of a flow
 *   that already ended with an error used again with a real code;
 * - signInWithIdToken given the nonce hash the token carries instead of the raw nonce.
 * Each of these held when written (no source change): the suite keeps them holding.
 */
const APP = 'https://app.test';
const sha256hex = (value: string) => createHash('sha256').update(value).digest('hex');
const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`OIDC answers the provider never gave (${storeKind} store)`, () => {
    let app: OAuthApp<TestIdp>;
    let url: string;
    let idp: TestIdp;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      app = await startKeycloakApp({ ...store.config, siteUrl: APP });
      ({ url, provider: idp } = app);
    });
    after(async () => {
      await app.close();
      await store.drop();
    });

    async function signInWithIdToken(token: string, nonce?: string) {
      const { client } = gotrueClient(url);
      return client.signInWithIdToken({ provider: 'keycloak', token, ...(nonce ? { nonce } : {}) });
    }

    /** `browser` opens /authorize (keeping the flow's cookie): the provider's address it is sent to. */
    async function authorizationUrl(browser: CookieJar): Promise<URL> {
      const response = await openIn(browser, new URL(`${url}/authorize?provider=keycloak`));
      assert.equal(response.status, 302);
      return new URL(response.headers.get('location')!);
    }

    /** `browser` signs `account` in at the provider; the callback address it leads to, not followed. */
    async function callbackOf(account: string, browser: CookieJar): Promise<URL> {
      idp.loginAs(account);
      const start = (await authorizationUrl(browser)).href;
      return followRedirects(start, (at) => at.pathname === '/auth/v1/callback', 15, browser);
    }

    /** `browser` opens the callback: where restauth sends it. */
    async function land(callback: URL, browser: CookieJar): Promise<URL> {
      const response = await openIn(browser, callback);
      assert.ok([302, 303].includes(response.status), `${response.status}`);
      return new URL(response.headers.get('location')!);
    }

    const sessionOf = (landed: URL) => new URLSearchParams(landed.hash.slice(1)).get('access_token');

    it('signInWithIdToken refuses an unsigned, a key-confused, a not-yet-valid and an unknown-key token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: idp.issuer,
        aud: idp.clientId,
        sub: 'kc-forged',
        email: 'forged@acme.test',
        email_verified: true,
        iat: now,
        exp: now + 600,
      };
      const jwks = (await (await fetch(`${idp.origin}/jwks`)).json()) as { keys: { n: string }[] };
      const publicModulus = new TextEncoder().encode(jwks.keys[0]!.n);
      const cases: [string, string][] = [
        ['alg none', `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`],
        [
          'HS256 with the public key as secret',
          await new SignJWT(claims)
            .setProtectedHeader({ alg: 'HS256', kid: 'test-idp-key' })
            .sign(publicModulus),
        ],
        ['nbf ahead', await idp.idToken({ ...claims, nbf: now + 3600 })],
        ['unknown kid', await idp.idToken(claims, { key: await idp.forgerKey(), kid: 'not-published' })],
      ];
      for (const [name, token] of cases) {
        const { data, error } = await signInWithIdToken(token);
        assert.equal(error?.status, 400, name);
        assert.match(error?.message ?? '', /Bad ID token/u, name);
        assert.equal(data.session, null, name);
      }
    });

    it("an attacker's code in a victim's callback signs nobody in (restauth's PKCE and nonce are the victim's flow's)", async () => {
      idp.accounts.set('kc-mallory', { email: 'mallory@acme.test', email_verified: true });
      idp.accounts.set('kc-victim', { email: 'victim@acme.test', email_verified: true });
      // Each in their own browser: the victim's carries the cookie of the flow the spliced callback names.
      const attacker: CookieJar = new Map();
      const victim: CookieJar = new Map();
      const attackers = await callbackOf('kc-mallory', attacker);
      const victims = await callbackOf('kc-victim', victim);
      const spliced = new URL(victims);
      spliced.searchParams.set('code', attackers.searchParams.get('code')!);
      const landed = await land(spliced, victim);
      assert.equal(sessionOf(landed), null, landed.href);
      assert.equal(landed.searchParams.get('error_code'), 'unexpected_failure');
      // The attacker's own callback is spent neither by that: it still signs the attacker in.
      assert.ok(sessionOf(await land(attackers, attacker)));
    });

    it("a provider's error answer spends the state: its real code afterwards signs nobody in", async () => {
      idp.accounts.set('kc-erin', { email: 'erin@acme.test', email_verified: true });
      const browser: CookieJar = new Map();
      const callback = await callbackOf('kc-erin', browser);
      const denied = new URL(callback);
      denied.searchParams.delete('code');
      denied.searchParams.set('error', 'access_denied');
      denied.searchParams.set('error_description', 'The user said no');
      // The browser's cookies as they were: the error answer clears the flow's, which alone would refuse.
      const asItWas = new Map([...browser].map(([origin, cookies]) => [origin, new Map(cookies)]));
      const first = await land(denied, browser);
      assert.equal(first.searchParams.get('error'), 'access_denied');
      const second = await land(callback, asItWas);
      assert.equal(sessionOf(second), null);
      assert.equal(second.searchParams.get('error_code'), 'bad_oauth_state');
    });

    it("the token's nonce hash sent back as the raw nonce is refused", async () => {
      const token = await idp.idToken({ sub: 'kc-nonce', nonce: sha256hex('raw') });
      const { error } = await signInWithIdToken(token, sha256hex('raw'));
      assert.equal(error?.status, 400);
      assert.match(error?.message ?? '', /Nonces mismatch/u);
    });
  });
}
