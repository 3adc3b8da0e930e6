import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitAfterRead } from '../support/commit-after-read.js';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';

/**
 * Where addresses confirm without proof (`signup.confirmEmail: false`), whoever types an address
 * first holds it confirmed: an anonymous user's PUT /user { email } takes the owner's address at
 * once, and so does a sign-up with a password. When the owner then proves the address (a provider
 * that verified it joins the account, by the OAuth flow or an id_token; a magic link's code; a
 * recovery), everything the holder set up before the proof ends, whether or not it had a password
 * or a provider identity: its sessions (access and refresh tokens) and its password.
 *
 * Before, a verified join ended sessions only through a password's replacement or an unvouched
 * identity's removal, and a magic link or a recovery into a confirmed account ended nothing but
 * unvouched identities: the anonymous squatter, with neither, read the owner's account with its
 * access token and refreshed it, and a password squatter kept its password and session after the
 * owner's magic-link sign-in.
 */
const APP = 'https://app.test';

interface Squatter {
  id: string;
  accessToken: string;
  refreshToken: string;
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an address confirmed without proof, then proven by its owner (${storeKind} store)`, () => {
    const suite = useKeycloakApp(storeKind, {
      siteUrl: APP,
      signup: { confirmEmail: false, anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
    });

    /** Mallory signs in anonymously and takes `address` with PUT /user: confirmed at once. */
    async function anonymousSquat(app: OAuthApp<TestIdp>, address: string): Promise<Squatter> {
      const anonymous = await app.t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: {} });
      assert.equal(anonymous.statusCode, 200, anonymous.body);
      const session = anonymous.json<{ access_token: string; refresh_token: string; user: { id: string } }>();
      const claim = await app.t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${session.access_token}` },
        payload: { email: address },
      });
      assert.equal(claim.statusCode, 200, claim.body);
      assert.equal(claim.json<{ email: string }>().email, address, 'taken at once, no proof');
      assert.notEqual((await app.t.services.store.findUserById(session.user.id))?.emailConfirmedAt, null);
      return { id: session.user.id, accessToken: session.access_token, refreshToken: session.refresh_token };
    }

    /** Mallory signs `address` up with a password: a session at once. */
    async function passwordSquat(app: OAuthApp<TestIdp>, address: string): Promise<Squatter> {
      const since = app.sink.mails.length;
      const signUp = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: address, password: 'squatter password' },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      await nextMail(app.sink, address, since); // its welcome: the owner's code comes after
      const session = signUp.json<{ access_token: string; refresh_token: string; user: { id: string } }>();
      return { id: session.user.id, accessToken: session.access_token, refreshToken: session.refresh_token };
    }

    /** What of the squatter's still opens the account: each answer's status. */
    async function squatterWaysIn(app: OAuthApp<TestIdp>, squatter: Squatter, address: string) {
      const read = await app.t.app.inject({
        method: 'GET',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${squatter.accessToken}` },
      });
      const refresh = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=refresh_token',
        payload: { refresh_token: squatter.refreshToken },
      });
      const password = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: address, password: 'squatter password' },
      });
      return {
        accessToken: read.statusCode,
        refreshToken: refresh.statusCode,
        password: password.statusCode,
      };
    }
    const NONE = { accessToken: 403, refreshToken: 400, password: 400 };

    /** The owner signs in with a code mailed to `address` (signInWithOtp): the account it opened. */
    async function magicLinkSignIn(app: OAuthApp<TestIdp>, address: string): Promise<string | undefined> {
      const since = app.sink.mails.length;
      const owner = gotrueClient(app.url).client;
      assert.equal((await owner.signInWithOtp({ email: address })).error, null);
      const mail = await nextMail(app.sink, address, since);
      const verified = await owner.verifyOtp({ email: address, token: secretsOf(mail).code, type: 'email' });
      assert.equal(verified.error, null);
      return verified.data.user?.id;
    }

    it("an anonymous squatter's session ends when a verified provider joins the account", async () => {
      const { app } = suite;
      const address = `owner.join.${storeKind}@acme.test`;
      const squatter = await anonymousSquat(app, address);

      app.provider.accounts.set(`kc-owner-join-${storeKind}`, { email: address, email_verified: true });
      const { accessToken: ownerToken, landed } = await signInWithKeycloak(app, `kc-owner-join-${storeKind}`);
      assert.ok(ownerToken, landed);
      const { data } = await gotrueClient(app.url).client.getUser(ownerToken);
      assert.equal(data.user?.id, squatter.id, 'the verified address joins the squatted account');

      assert.deepEqual(await squatterWaysIn(app, squatter, address), NONE);
      assert.equal(
        (await gotrueClient(app.url).client.getUser(ownerToken)).error,
        null,
        "the owner's session lives",
      );
    });

    it("an anonymous squatter's session ends when a verified id_token joins the account", async () => {
      const { app } = suite;
      const address = `owner.idtoken.${storeKind}@acme.test`;
      const squatter = await anonymousSquat(app, address);

      const owner = gotrueClient(app.url).client;
      const token = await app.provider.idToken({
        sub: `kc-owner-idtoken-${storeKind}`,
        email: address,
        email_verified: true,
      });
      const signedIn = await owner.signInWithIdToken({ provider: 'keycloak', token });
      assert.equal(signedIn.error, null);
      assert.equal(signedIn.data.user?.id, squatter.id, 'the verified address joins the squatted account');

      assert.deepEqual(await squatterWaysIn(app, squatter, address), NONE);
      assert.equal((await owner.getUser()).error, null, "the owner's session lives");
    });

    it("an anonymous squatter's session ends when the owner signs in by a magic link's code", async () => {
      const { app } = suite;
      const address = `owner.otp.${storeKind}@acme.test`;
      const squatter = await anonymousSquat(app, address);
      assert.equal(await magicLinkSignIn(app, address), squatter.id, 'the owner is in the squatted account');
      assert.deepEqual(await squatterWaysIn(app, squatter, address), NONE);
    });

    it("a password squatter's password and session end when the owner signs in by a magic link's code", async () => {
      const { app } = suite;
      const address = `owner.otp.password.${storeKind}@acme.test`;
      const squatter = await passwordSquat(app, address);
      assert.equal(await magicLinkSignIn(app, address), squatter.id, 'the owner is in the squatted account');
      assert.deepEqual(await squatterWaysIn(app, squatter, address), NONE);
    });

    it('a password the squatter sets while the proof reads the account is retired all the same', async () => {
      const { app } = suite;
      const address = `owner.race.${storeKind}@acme.test`;
      const squatter = await anonymousSquat(app, address);
      const since = app.sink.mails.length;
      const owner = gotrueClient(app.url).client;
      assert.equal((await owner.signInWithOtp({ email: address })).error, null);
      const { code } = secretsOf(await nextMail(app.sink, address, since));

      // The squatter's PUT /user { password } commits just after the proof has read whether the
      // account has a password: the sessions end before that read, and the change, judged in its
      // write against a session ended, is refused. Read first, a password set then outlived the proof.
      let set: { statusCode: number; body: string } | undefined;
      const verified = await commitAfterRead(
        app.t.services.store,
        async () => {
          set = await app.t.app.inject({
            method: 'PUT',
            url: '/auth/v1/user',
            headers: { authorization: `Bearer ${squatter.accessToken}` },
            payload: { password: 'squatter password' },
          });
        },
        ['getPasswordHash'],
        () => owner.verifyOtp({ email: address, token: code, type: 'email' }),
      );
      assert.equal(verified.error, null);
      assert.equal(verified.data.user?.id, squatter.id);
      assert.notEqual(set?.statusCode, 200, `the squatter's password change: ${set?.body}`);
      assert.deepEqual(await squatterWaysIn(app, squatter, address), NONE);
    });

    it("an anonymous squatter's session ends when the owner follows a recovery's code", async () => {
      const { app } = suite;
      const address = `owner.recovery.${storeKind}@acme.test`;
      const squatter = await anonymousSquat(app, address);
      const since = app.sink.mails.length;
      const owner = gotrueClient(app.url).client;
      assert.equal((await owner.resetPasswordForEmail(address)).error, null);
      const mail = await nextMail(app.sink, address, since);
      const verified = await owner.verifyOtp({
        email: address,
        token: secretsOf(mail).code,
        type: 'recovery',
      });
      assert.equal(verified.error, null);
      assert.equal(verified.data.user?.id, squatter.id);

      assert.deepEqual(await squatterWaysIn(app, squatter, address), NONE);
      assert.equal((await owner.updateUser({ password: 'the owner’s own passphrase' })).error, null);
    });
  });
}
