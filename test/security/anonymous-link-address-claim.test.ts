import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp } from '../support/oauth-app.js';
import { followRedirects } from '../support/oidc-provider.js';

/**
 * The anonymous-account address claim (anonymous-address-claim.test.ts) through provider linking:
 * Mallory, signed in anonymously, links a keycloak account of hers that claims the victim's address
 * unverified. restauth links it and mails the victim; the victim follows the mail and uses the
 * account. Mallory's provider login must no longer open it, and her anonymous session is over.
 */
const APP = 'https://app.test';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an anonymous account's address claimed by a linked provider, then proven (${storeKind} store)`, () => {
    const suite = useKeycloakApp(storeKind, {
      siteUrl: APP,
      signup: { anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
      identities: { manualLinking: true, implicitLinking: true },
    });

    it("unlinks Mallory's provider identity and ends her sessions", async () => {
      const { t, sink, url, provider: idp } = suite.app;
      const victimAddress = 'victim.link@acme.test';
      const mallory = gotrueClient(url).client;
      const anonymous = await mallory.signInAnonymously();
      assert.equal(anonymous.error, null);
      const accountId = anonymous.data.user!.id;

      idp.accounts.set('kc-mallory', { email: victimAddress, email_verified: false, name: 'Mallory' });
      const since = sink.mails.length;
      const link = await mallory.linkIdentity({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
      });
      assert.equal(link.error, null);
      idp.loginAs('kc-mallory');
      const landed = await followRedirects(link.data.url!, APP);
      assert.equal(landed.searchParams.get('error_code'), 'email_not_confirmed', landed.href);
      assert.equal((await t.services.store.findIdentity('keycloak', 'kc-mallory'))?.userId, accountId);

      // The victim follows the mail in a browser of their own.
      const mail = await nextMail(sink, victimAddress, since);
      const victim = gotrueClient(url).client;
      const verified = await victim.verifyOtp({
        email: victimAddress,
        token: secretsOf(mail).code,
        type: 'email_change',
      });
      assert.equal(verified.error, null);
      assert.equal(verified.data.user?.id, accountId, 'the account the mail was for');
      assert.equal(verified.data.user?.is_anonymous, false);
      assert.deepEqual(
        verified.data.user?.identities?.map((identity) => identity.provider),
        ['email'],
        'the provider identity that claimed the address went',
      );

      // Mallory's keycloak sign-in no longer opens the account.
      const again = await signInWithKeycloak(suite.app, 'kc-mallory');
      if (again.accessToken !== null) assert.notEqual(decodeJwt(again.accessToken).sub, accountId);
      assert.notEqual((await t.services.store.findIdentity('keycloak', 'kc-mallory'))?.userId, accountId);

      // Her anonymous session is over: neither her access token nor her refresh token works.
      assert.equal((await mallory.getUser()).data.user, null, 'her access token reads nobody');
      assert.ok((await mallory.refreshSession()).error, 'her refresh token refreshes nothing');

      // The victim goes on.
      assert.equal((await victim.updateUser({ password: 'the victim’s own passphrase' })).error, null);
      assert.equal((await victim.getUser()).data.user?.email, victimAddress);
    });
  });
}
