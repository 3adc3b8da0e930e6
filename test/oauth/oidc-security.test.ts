import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient, nextMail } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, openIn, type CookieJar, type TestIdp } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * OAuth/OIDC sign-in under attack, against a real OIDC provider (oidc-provider) and a listening
 * restauth on both stores: a forged, replayed or expired state; a nonce or PKCE challenge changed
 * on the way to the provider; signInWithIdToken's id_token with a wrong audience, issuer, nonce or
 * signature, or expired; and who an account belongs to: an unverified provider address never
 * joins an existing account, a verified one does (retiring an unconfirmed squatter's password),
 * signups off and bans refuse as GoTrue's redirects say.
 */
const APP = 'https://app.test';
const sha256hex = (value: string) => createHash('sha256').update(value).digest('hex');

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`OIDC sign-in security (${storeKind} store)`, () => {
    let app: OAuthApp<TestIdp>;
    let t: TestApp;
    let sink: SmtpSink;
    let url: string;
    let idp: TestIdp;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      app = await startKeycloakApp({ ...store.config, siteUrl: APP });
      ({ t, sink, url, provider: idp } = app);
    });
    after(async () => {
      await app.close();
      await store.drop();
    });

    /** The user's browser: the cookie /authorize sets goes back with the callback. */
    const userBrowser: CookieJar = new Map();

    /** GET /authorize's redirect to the provider. */
    async function authorizationUrl(query = 'provider=keycloak', browser = userBrowser): Promise<URL> {
      const response = await openIn(browser, new URL(`${url}/authorize?${query}`));
      assert.equal(response.status, 302);
      return new URL(response.headers.get('location')!);
    }

    /** Signs `account` in at the provider from `start`; returns the callback address it leads to, not followed. */
    async function callbackOf(start: URL, account: string): Promise<URL> {
      idp.loginAs(account);
      return followRedirects(start.href, (at) => at.pathname === '/auth/v1/callback');
    }

    /** Where restauth's callback leads (not followed). */
    async function land(callback: URL, browser = userBrowser): Promise<URL> {
      const response = await openIn(browser, callback);
      assert.ok([302, 303].includes(response.status), `${response.status}`);
      return new URL(response.headers.get('location')!);
    }

    function errorOf(landed: URL): Record<string, string | null> {
      return {
        error: landed.searchParams.get('error'),
        error_code: landed.searchParams.get('error_code'),
        error_description: landed.searchParams.get('error_description'),
      };
    }

    it('a forged state leads to the site URL with bad_oauth_state, signing nobody in', async () => {
      const landed = await land(new URL(`${url}/callback?code=x&state=6b0d4ae3-5a1e-4a0c-9f0e-6a3b6b0c9d11`));
      assert.equal(landed.origin, APP);
      assert.deepEqual(errorOf(landed), {
        error: 'invalid_request',
        error_code: 'bad_oauth_state',
        error_description: 'OAuth state not found or expired',
      });
      const notUuid = await land(
        new URL(`${url}/callback?code=x&state=${encodeURIComponent("1' OR '1'='1")}`),
      );
      assert.equal(notUuid.searchParams.get('error_code'), 'bad_oauth_state');
      const none = await land(new URL(`${url}/callback?code=x`));
      assert.equal(none.searchParams.get('error_code'), 'bad_oauth_callback');
    });

    it('a callback replayed (its state and code again) signs nobody in the second time', async () => {
      idp.accounts.set('kc-rita', { email: 'rita@acme.test', email_verified: true });
      const callback = await callbackOf(await authorizationUrl(), 'kc-rita');
      const first = await land(callback);
      assert.ok(new URLSearchParams(first.hash.slice(1)).get('access_token'), first.href);
      const replayed = await land(callback);
      assert.equal(replayed.hash.includes('access_token'), false);
      assert.equal(replayed.searchParams.get('error_code'), 'bad_oauth_state');
    });

    it('a state older than 300 s has expired', async () => {
      idp.accounts.set('kc-slow', { email: 'slow@acme.test', email_verified: true });
      const callback = await callbackOf(await authorizationUrl(), 'kc-slow');
      t.advance(301_000);
      try {
        const landed = await land(callback);
        assert.deepEqual(errorOf(landed), {
          error: 'invalid_request',
          error_code: 'bad_oauth_state',
          error_description: 'OAuth state has expired',
        });
      } finally {
        t.advance(-301_000);
      }
    });

    it('a state started before the clock went back a day has expired (its 300 s would last a day more)', async () => {
      idp.accounts.set('kc-jump', { email: 'jump@acme.test', email_verified: true });
      const callback = await callbackOf(await authorizationUrl(), 'kc-jump');
      t.advance(-24 * 3600 * 1000);
      try {
        const landed = await land(callback);
        assert.deepEqual(errorOf(landed), {
          error: 'invalid_request',
          error_code: 'bad_oauth_state',
          error_description: 'OAuth state has expired',
        });
      } finally {
        t.advance(24 * 3600 * 1000);
      }
    });

    it('a nonce changed on the way to the provider fails the id_token check: nobody signs in', async () => {
      idp.accounts.set('kc-nina', { email: 'nina@acme.test', email_verified: true });
      const start = await authorizationUrl();
      assert.ok(start.searchParams.get('nonce'));
      start.searchParams.set('nonce', 'attacker-chosen-nonce');
      const landed = await land(await callbackOf(start, 'kc-nina'));
      assert.deepEqual(errorOf(landed), {
        error: 'server_error',
        error_code: 'unexpected_failure',
        error_description: 'Unable to exchange external code',
      });
      assert.equal(await t.services.store.findUserByEmail('nina@acme.test'), null);
    });

    it("a PKCE challenge changed on the way to the provider: the provider refuses restauth's verifier", async () => {
      idp.accounts.set('kc-paco', { email: 'paco@acme.test', email_verified: true });
      const start = await authorizationUrl();
      assert.equal(start.searchParams.get('code_challenge_method'), 'S256');
      start.searchParams.set('code_challenge', 'A'.repeat(43));
      const landed = await land(await callbackOf(start, 'kc-paco'));
      assert.equal(landed.searchParams.get('error_code'), 'unexpected_failure');
      assert.equal(await t.services.store.findUserByEmail('paco@acme.test'), null);
    });

    it("the app's PKCE: a code exchanged with the wrong verifier is refused, the right one then works", async () => {
      idp.accounts.set('kc-vera', { email: 'vera@acme.test', email_verified: true });
      const { client } = gotrueClient(url, { flowType: 'pkce' });
      const { data } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/cb`, skipBrowserRedirect: true },
      });
      assert.ok(data.url);
      idp.loginAs('kc-vera');
      const landed = await followRedirects(data.url, APP);
      const code = landed.searchParams.get('code') ?? '';
      const wrong = await fetch(`${url}/token?grant_type=pkce`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ auth_code: code, code_verifier: 'w'.repeat(43) }),
      });
      assert.equal(wrong.status, 400);
      assert.equal(((await wrong.json()) as { error_code: string }).error_code, 'bad_code_verifier');
      assert.equal((await client.exchangeCodeForSession(code)).data.user?.email, 'vera@acme.test');
    });

    describe('signInWithIdToken', () => {
      const subject = 'kc-ida';
      const claims = { sub: subject, email: 'ida@acme.test', email_verified: true };

      async function signIn(token: string, nonce?: string) {
        const { client } = gotrueClient(url);
        return client.signInWithIdToken({ provider: 'keycloak', token, ...(nonce ? { nonce } : {}) });
      }

      it('a valid id_token with its nonce signs in (amr oauth)', async () => {
        const token = await idp.idToken({ ...claims, nonce: sha256hex('raw-nonce') });
        const { data, error } = await signIn(token, 'raw-nonce');
        assert.equal(error, null);
        assert.equal(data.user?.email, 'ida@acme.test');
        assert.ok(data.user?.identities?.some((identity) => identity.provider === 'keycloak'));
        const payload = JSON.parse(
          Buffer.from(data.session!.access_token.split('.')[1]!, 'base64url').toString(),
        );
        assert.equal(payload.amr[0].method, 'oauth');
      });

      it('refuses a wrong nonce, a nonce on one side only, a wrong audience, issuer or signature, an expired token', async () => {
        const cases: [string, Promise<string>, string | undefined, RegExp][] = [
          [
            'wrong nonce',
            idp.idToken({ ...claims, nonce: sha256hex('other') }),
            'raw-nonce',
            /Nonces mismatch/u,
          ],
          [
            'nonce not sent',
            idp.idToken({ ...claims, nonce: sha256hex('raw') }),
            undefined,
            /either both exist/u,
          ],
          ['nonce not in the token', idp.idToken(claims), 'raw-nonce', /either both exist/u],
          [
            'wrong audience',
            idp.idToken({ ...claims, aud: 'someone-else' }),
            undefined,
            /Unacceptable audience/u,
          ],
          ['wrong issuer', idp.idToken({ ...claims, iss: 'https://evil.test' }), undefined, /Bad ID token/u],
          [
            'forged signature',
            idp.forgerKey().then((key) => idp.idToken(claims, { key })),
            undefined,
            /Bad ID token/u,
          ],
          ['expired', idp.idToken({ ...claims, iat: 1_000_000, exp: 1_000_600 }), undefined, /Bad ID token/u],
        ];
        for (const [name, token, nonce, message] of cases) {
          const { data, error } = await signIn(await token, nonce);
          assert.ok(error, name);
          assert.equal(error.status, 400, name);
          assert.match(error.message, message, name);
          assert.equal(data.session, null, name);
        }
      });

      it('an id_token signs in once: a replay, even with its signature spelled otherwise, is refused', async () => {
        const token = await idp.idToken({ ...claims, nonce: sha256hex('once-nonce') });
        assert.equal((await signIn(token, 'once-nonce')).error, null);
        // The RS256 signature's last base64url character carries 4 unused bits: another spelling
        // of the same signature, which the verifier accepts, and a hash of the whole token misses.
        const [head, payload, signature] = token.split('.') as [string, string, string];
        const last = signature.at(-1)!;
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const respelled = alphabet[alphabet.indexOf(last) ^ 1]!;
        for (const replay of [token, `${head}.${payload}.${signature.slice(0, -1)}${respelled}`]) {
          const { data, error } = await signIn(replay, 'once-nonce');
          assert.equal(error?.status, 400);
          assert.equal(error?.code, 'validation_failed');
          assert.match(error?.message ?? '', /already been used/u);
          assert.equal(data.session, null);
        }
        // Past its expiry (and the clock tolerance) the upkeep forgets it: it no longer verifies anyway.
        const expiry = JSON.parse(Buffer.from(payload, 'base64url').toString()).exp as number;
        assert.ok((await t.services.oauth.spentIdTokens.prune(new Date(expiry * 1000 + 60_000))) >= 1);
      });

      it("a provider that is not enabled answers GoTrue's refusal", async () => {
        const { client } = gotrueClient(url);
        const { error } = await client.signInWithIdToken({ provider: 'google', token: 'x.y.z' });
        assert.equal(error?.status, 400);
        assert.match(
          error?.message ?? '',
          /Provider \(issuer "https:\/\/accounts.google.com"\) is not enabled/u,
        );
      });
    });

    describe('whose account it is', () => {
      it('an unverified provider address never joins the account that has it', async () => {
        const owner = await t.services.auth.register(LOCAL_CALL, {
          email: 'owen@acme.test',
          password: 'owner password 1',
          emailConfirmed: true,
        });
        idp.accounts.set('kc-mallory', { email: 'owen@acme.test', email_verified: false });
        const landed = await land(await callbackOf(await authorizationUrl(), 'kc-mallory'));
        const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
        assert.ok(accessToken, landed.href);
        const { data } = await gotrueClient(url).client.getUser(accessToken);
        assert.notEqual(data.user?.id, owner.id, 'another user');
        assert.equal(data.user?.email, '', 'without the address someone else has');
        const ownerIdentities = await t.services.store.listIdentities(owner.id);
        assert.deepEqual(
          ownerIdentities.map((identity) => identity.provider),
          ['email'],
        );
      });

      it("a verified provider address joins its account; an unconfirmed one loses the squatter's password", async () => {
        const squatted = await t.services.auth.register(LOCAL_CALL, {
          email: 'sam@acme.test',
          password: 'squatter password',
          emailConfirmed: false,
          sendMail: false,
        });
        const squatterSession = await t.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          payload: { email: 'sam@acme.test', password: 'squatter password' },
        });
        assert.notEqual(squatterSession.statusCode, 200, 'unconfirmed: no session yet');
        idp.accounts.set('kc-sam', { email: 'sam@acme.test', email_verified: true });
        const landed = await land(await callbackOf(await authorizationUrl(), 'kc-sam'));
        const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
        assert.ok(accessToken, landed.href);
        const { data } = await gotrueClient(url).client.getUser(accessToken);
        assert.equal(data.user?.id, squatted.id, 'joined');
        assert.ok(data.user?.email_confirmed_at);
        const squatter = await t.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          payload: { email: 'sam@acme.test', password: 'squatter password' },
        });
        assert.equal(squatter.statusCode, 400, "the squatter's password no longer signs in");
      });

      it('an unverified new address gets the confirmation mail and provider_email_needs_verification', async () => {
        idp.accounts.set('kc-una', { email: 'una@acme.test', email_verified: false });
        const since = sink.mails.length;
        const landed = await land(await callbackOf(await authorizationUrl(), 'kc-una'));
        assert.deepEqual(errorOf(landed), {
          error: 'access_denied',
          error_code: 'provider_email_needs_verification',
          error_description:
            'Unverified email with keycloak. A confirmation email has been sent to your keycloak email',
        });
        assert.equal((await nextMail(sink, 'una@acme.test', since)).to, 'una@acme.test');
      });

      it('a banned user is refused with access_denied user_banned', async () => {
        idp.accounts.set('kc-bea', { email: 'bea@acme.test', email_verified: true });
        await land(await callbackOf(await authorizationUrl(), 'kc-bea'));
        const bea = await t.services.store.findUserByEmail('bea@acme.test');
        assert.ok(bea);
        await t.services.store.updateUser(bea.id, { bannedUntil: new Date(Date.now() + 86_400_000) });
        const landed = await land(await callbackOf(await authorizationUrl(), 'kc-bea'));
        assert.deepEqual(errorOf(landed), {
          error: 'access_denied',
          error_code: 'user_banned',
          error_description: 'User is banned',
        });
        assert.equal(landed.hash.includes('access_token'), false);
      });

      it('a redirect_to outside the allow list leads to the site URL instead', async () => {
        idp.accounts.set('kc-rob', { email: 'rob@acme.test', email_verified: true });
        const start = await authorizationUrl(
          `provider=keycloak&redirect_to=${encodeURIComponent('https://evil.test/steal')}`,
        );
        const landed = await land(await callbackOf(start, 'kc-rob'));
        assert.equal(landed.origin, APP);
        assert.ok(landed.hash.includes('access_token'));
      });
    });
  });
}
