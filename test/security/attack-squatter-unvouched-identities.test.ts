import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp } from '../support/oauth-app.js';
import { followRedirects, type TestIdp } from '../support/oidc-provider.js';
import { challengeOf, newVerifier } from '../support/pkce.js';

/**
 * Where addresses are confirmed without proof (signup.confirmEmail off), whoever types an address
 * first holds its account until the mailbox's owner proves it: by a provider that verified the
 * address (its sign-in joins the account) or by a recovery. Then the holder must keep no way in.
 * Only the provider identities that claimed the address unverified went, judged by what their data
 * said then, which the holder controls:
 * - the holder changes the address at the provider and signs in once more: the identity's data now
 *   names another address, and it stayed;
 * - the holder links a provider account of their own (linkIdentity: another address, verified): it
 *   never claimed this address, and stayed.
 * Either signed the holder in to the owner's account afterwards, and a provider-only account's
 * sessions outlived the join. Now every provider identity that does not vouch for the address (its
 * provider gave this very address verified) goes, and every session with it.
 */
const APP = 'https://app.test';
const OWNER_PASSWORD = 'owner chose this one 123';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a squatter keeps no provider identity once the owner proves the address (${storeKind} store)`, () => {
    const suite = useKeycloakApp(storeKind, {
      siteUrl: APP,
      signup: { confirmEmail: false },
      identities: { manualLinking: true, implicitLinking: true },
    });

    async function accountOf(token: string | null): Promise<string | null> {
      if (token === null) return null;
      const { data } = await gotrueClient(suite.app.url).client.getUser(token);
      return data.user?.id ?? null;
    }

    /** `subject` claims `address` unverified (an account confirmed at once), then moves to another address at the provider. */
    async function squatThenMove(
      subject: string,
      address: string,
    ): Promise<{ account: string; refreshToken: string }> {
      const idp: TestIdp = suite.app.provider;
      idp.accounts.set(subject, { email: address, email_verified: false });
      const claimed = await signInWithKeycloak(suite.app, subject);
      const account = await accountOf(claimed.accessToken);
      assert.ok(account, claimed.landed);
      idp.accounts.set(subject, { email: `${subject}@evil.test`, email_verified: false });
      const again = await signInWithKeycloak(suite.app, subject);
      assert.equal(await accountOf(again.accessToken), account, 'its identity signs it in as before');
      const refreshToken = new URLSearchParams(new URL(again.landed).hash.slice(1)).get('refresh_token');
      assert.ok(refreshToken);
      return { account, refreshToken };
    }

    /** The holder registers `address` with a password, then links its own provider account `subject`. */
    async function squatThenLink(subject: string, address: string): Promise<string> {
      const { client } = gotrueClient(suite.app.url);
      const since = suite.app.sink.mails.length;
      const signUp = await client.signUp({ email: address, password: 'squatter password 1' });
      assert.equal(signUp.error, null);
      // The welcome mail, sent after the answer: not the recovery's mail, later.
      await nextMail(suite.app.sink, address, since);
      suite.app.provider.accounts.set(subject, { email: `${subject}@evil.test`, email_verified: true });
      const { data, error } = await client.linkIdentity({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      suite.app.provider.loginAs(subject);
      const landed = await followRedirects(data.url!, APP);
      assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);
      return signUp.data.user!.id;
    }

    /** The owner signs in with a provider that verified `address`: the account it opens. */
    async function ownerJoins(subject: string, address: string): Promise<string | null> {
      suite.app.provider.accounts.set(subject, { email: address, email_verified: true });
      return accountOf((await signInWithKeycloak(suite.app, subject)).accessToken);
    }

    /** The owner recovers `address` with the mailed code and sets a password. */
    async function ownerRecovers(address: string): Promise<void> {
      const { t, sink } = suite.app;
      t.advance(61_000);
      const since = sink.mails.length;
      const asked = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/recover',
        payload: { email: address },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const { code } = secretsOf(await nextMail(sink, address, since));
      const verified = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/verify',
        payload: { type: 'recovery', email: address, token: code },
      });
      assert.equal(verified.statusCode, 200, verified.body);
      const set = await t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${verified.json<{ access_token: string }>().access_token}` },
        payload: { password: OWNER_PASSWORD },
      });
      assert.equal(set.statusCode, 200, set.body);
    }

    /**
     * A PKCE sign-in of `subject` up to its code, which the holder keeps for later: the exchange of
     * that code (its status).
     */
    async function pkceCode(subject: string): Promise<() => Promise<number>> {
      const verifier = newVerifier();
      const authorize = new URL(`${suite.app.url}/authorize`);
      authorize.search = new URLSearchParams({
        provider: 'keycloak',
        redirect_to: `${APP}/cb`,
        ...challengeOf(verifier),
      }).toString();
      suite.app.provider.loginAs(subject);
      const code = (await followRedirects(authorize.href, APP)).searchParams.get('code');
      assert.ok(code, 'a code issued');
      return async () =>
        (
          await fetch(`${suite.app.url}/token?grant_type=pkce`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ auth_code: code, code_verifier: verifier }),
          })
        ).status;
    }

    const holderAgain = async (subject: string) =>
      accountOf((await signInWithKeycloak(suite.app, subject)).accessToken);

    it('the holder moved its address at the provider, the owner joins by a verified provider: no way in', async () => {
      const address = 'moved-join@acme.test';
      const { account, refreshToken } = await squatThenMove('kc-moved-1', address);
      assert.equal(
        await ownerJoins('kc-owner-1', address),
        account,
        'the verified address joins its account',
      );

      const refresh = await suite.app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=refresh_token',
        payload: { refresh_token: refreshToken },
      });
      assert.equal(refresh.statusCode, 400, `the holder's refresh token renews: ${refresh.body}`);
      assert.notEqual(
        await holderAgain('kc-moved-1'),
        account,
        "the holder's provider opens the owner's account",
      );
      assert.equal(
        await holderAgain('kc-owner-1'),
        account,
        "the owner's provider vouches for the address: kept",
      );
    });

    it("a code the holder's provider was issued before the owner's join signs nobody in after it", async () => {
      const address = 'kept-code@acme.test';
      const { account } = await squatThenMove('kc-moved-3', address);
      const exchange = await pkceCode('kc-moved-3');
      assert.equal(await ownerJoins('kc-owner-5', address), account);
      assert.equal(await exchange(), 404, "the holder's code opens the owner's account");
    });

    it('the holder moved its address at the provider, the owner recovers the address: no way in', async () => {
      const address = 'moved-recover@acme.test';
      const { account } = await squatThenMove('kc-moved-2', address);
      await ownerRecovers(address);
      assert.notEqual(
        await holderAgain('kc-moved-2'),
        account,
        "the holder's provider opens the owner's account",
      );
    });

    it('the holder linked its own provider, the owner joins by a verified provider: no way in', async () => {
      const address = 'linked-join@acme.test';
      const account = await squatThenLink('kc-linked-1', address);
      assert.equal(await ownerJoins('kc-owner-3', address), account);
      assert.notEqual(
        await holderAgain('kc-linked-1'),
        account,
        "the holder's provider opens the owner's account",
      );
    });

    it('the holder linked its own provider, the owner recovers the address: no way in', async () => {
      const address = 'linked-recover@acme.test';
      const account = await squatThenLink('kc-linked-2', address);
      await ownerRecovers(address);
      assert.notEqual(
        await holderAgain('kc-linked-2'),
        account,
        "the holder's provider opens the owner's account",
      );
    });
  });
}
