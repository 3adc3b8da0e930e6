import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, type TestIdp } from '../support/oidc-provider.js';

/**
 * A permanent account without an address (a provider that gives none: its `email_optional`) is in
 * an anonymous account's position when it asks for its first address: only the new address is
 * mailed, and whoever follows that mail proves it, not necessarily whoever asked. Mallory signs in
 * with a provider account of hers that gives no address, asks for the victim's (PUT /user, or by
 * linking a provider that gives it unverified), and the victim follows the mail and uses the
 * account. Everything Mallory set up to get in must end then: her sessions (access and refresh
 * tokens) and her provider identities, none of which vouches for the victim's address.
 *
 * Before, only an `is_anonymous` account's holder was ended (EmailFlows.verifyEmailChange): Mallory
 * read the victim's account with her old tokens and her provider sign-in landed in it. Likewise when
 * the account took another address between the change's request and its mail being followed (a
 * provider linked that verified one of Mallory's): the change, asked without a current address,
 * is confirmed by the new side alone all the same.
 */
const APP = 'https://app.test';

interface Holder {
  accountId: string;
  accessToken: string;
  refreshToken: string;
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an address-less provider account's first address, proven by another (${storeKind} store)`, () => {
    const suite = useKeycloakApp(
      storeKind,
      {
        siteUrl: APP,
        oneTimeTokens: { resendInterval: 0 },
        identities: { manualLinking: true, implicitLinking: true },
      },
      { email_optional: true },
    );

    /** Mallory's provider account `subject`, which gives no address, signs in: a permanent account without one. */
    async function addressless(app: OAuthApp<TestIdp>, subject: string): Promise<Holder> {
      app.provider.accounts.set(subject, { name: 'Mallory' });
      const signedIn = await signInWithKeycloak(app, subject);
      assert.ok(signedIn.accessToken, signedIn.landed);
      const fragment = new URLSearchParams(new URL(signedIn.landed).hash.slice(1));
      const me = await app.t.app.inject({
        method: 'GET',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${signedIn.accessToken}` },
      });
      assert.equal(me.json<{ email: string }>().email, '', 'no address');
      assert.equal(me.json<{ is_anonymous: boolean }>().is_anonymous, false, 'a permanent account');
      return {
        accountId: decodeJwt(signedIn.accessToken).sub!,
        accessToken: signedIn.accessToken,
        refreshToken: fragment.get('refresh_token')!,
      };
    }

    /** Mallory links `subject` (claims given) to her account by linkIdentity: where its callback led. */
    async function link(
      app: OAuthApp<TestIdp>,
      holder: Holder,
      subject: string,
      claims: Record<string, unknown>,
    ) {
      const mallory = gotrueClient(app.url).client;
      const session = await mallory.setSession({
        access_token: holder.accessToken,
        refresh_token: holder.refreshToken,
      });
      assert.equal(session.error, null);
      // setSession may have refreshed: her newest tokens are the ones to try afterwards.
      holder.accessToken = session.data.session!.access_token;
      holder.refreshToken = session.data.session!.refresh_token;
      app.provider.accounts.set(subject, claims);
      const started = await mallory.linkIdentity({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
      });
      assert.equal(started.error, null);
      app.provider.loginAs(subject);
      return followRedirects(started.data.url!, APP);
    }

    /** The victim follows the email-change mail to `address` in a browser of their own. */
    async function victimFollows(app: OAuthApp<TestIdp>, address: string, since: number) {
      const mail = await nextMail(app.sink, address, since);
      const victim = gotrueClient(app.url).client;
      const verified = await victim.verifyOtp({
        email: address,
        token: secretsOf(mail).code,
        type: 'email_change',
      });
      assert.equal(verified.error, null);
      return { victim, accountId: verified.data.user?.id };
    }

    /** What of Mallory's still opens the account: her tokens, and each of her provider accounts' sign-in. */
    async function holderWaysIn(app: OAuthApp<TestIdp>, holder: Holder, subjects: readonly string[]) {
      const read = await app.t.app.inject({
        method: 'GET',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${holder.accessToken}` },
      });
      const refresh = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=refresh_token',
        payload: { refresh_token: holder.refreshToken },
      });
      const providerSignIns: string[] = [];
      for (const subject of subjects) {
        const again = await signInWithKeycloak(app, subject);
        if (again.accessToken !== null && decodeJwt(again.accessToken).sub === holder.accountId)
          providerSignIns.push(subject);
      }
      return { accessToken: read.statusCode, refreshToken: refresh.statusCode, providerSignIns };
    }
    const NONE = { accessToken: 403, refreshToken: 400, providerSignIns: [] };

    it("PUT /user { email }: the victim follows the mail, and Mallory's ways in end", async () => {
      const { app } = suite;
      const subject = `kc-mallory-bare-${storeKind}`;
      const address = `victim.bare.${storeKind}@acme.test`;
      const mallory = await addressless(app, subject);

      const since = app.sink.mails.length;
      const ask = await app.t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${mallory.accessToken}` },
        payload: { email: address },
      });
      assert.equal(ask.statusCode, 200, ask.body);
      const { victim, accountId } = await victimFollows(app, address, since);
      assert.equal(accountId, mallory.accountId, 'the account the mail was for');

      // (The victim setting a password would end the other sessions, but not the provider identity.)
      assert.equal((await victim.updateUser({ password: 'the victim’s own passphrase' })).error, null);
      assert.deepEqual(await holderWaysIn(app, mallory, [subject]), NONE);
      assert.equal((await victim.getUser()).data.user?.email, address, 'the victim goes on');
    });

    it("linkIdentity with the victim's address unverified: the victim follows the mail, and Mallory's ways in end", async () => {
      const { app } = suite;
      const bare = `kc-mallory-bare-link-${storeKind}`;
      const claimant = `kc-mallory-claimant-${storeKind}`;
      const address = `victim.link.${storeKind}@acme.test`;
      const mallory = await addressless(app, bare);

      const since = app.sink.mails.length;
      const landed = await link(app, mallory, claimant, { email: address, email_verified: false });
      assert.equal(landed.searchParams.get('error_code'), 'email_not_confirmed', landed.href);
      assert.equal(
        (await app.t.services.store.findIdentity('keycloak', claimant))?.userId,
        mallory.accountId,
      );
      const { victim, accountId } = await victimFollows(app, address, since);
      assert.equal(accountId, mallory.accountId, 'the account the mail was for');

      assert.deepEqual(await holderWaysIn(app, mallory, [bare, claimant]), NONE);
      assert.deepEqual(
        (await victim.getUser()).data.user?.identities?.map((identity) => identity.provider),
        ['email'],
        "only the proven address's identity is left",
      );
    });

    it("an address taken between the change's request and its mail: the victim follows it, and Mallory's ways in end", async () => {
      const { app } = suite;
      const bare = `kc-mallory-bare-between-${storeKind}`;
      const verified = `kc-mallory-verified-${storeKind}`;
      const address = `victim.between.${storeKind}@acme.test`;
      const mallory = await addressless(app, bare);

      const since = app.sink.mails.length;
      const ask = await app.t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${mallory.accessToken}` },
        payload: { email: address },
      });
      assert.equal(ask.statusCode, 200, ask.body);
      // A provider of hers that verified an address of her own: the account takes it at once.
      const own = `mallory.${storeKind}@acme.test`;
      const landed = await link(app, mallory, verified, { email: own, email_verified: true });
      assert.equal(landed.searchParams.get('error'), null, landed.href);
      assert.equal((await app.t.services.store.findUserById(mallory.accountId))?.email, own);

      const { accountId } = await victimFollows(app, address, since);
      assert.equal(accountId, mallory.accountId, 'the account the mail was for');
      assert.equal((await app.t.services.store.findUserById(mallory.accountId))?.email, address);
      assert.deepEqual(await holderWaysIn(app, mallory, [bare, verified]), NONE);
    });
  });
}
