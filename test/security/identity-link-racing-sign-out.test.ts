import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { gotrueClient } from '../support/gotrue.js';
import { useGithubApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';

/**
 * linkIdentity's flow outlives no sign-out of the session that started it: a stolen token's thief
 * who links their own provider identity keeps the account for good, whatever the owner ends. The
 * callback looked the starting session up, then linked: a sign-out everywhere committed in between
 * let the link land all the same. The race is made, not hoped for: the sign-out commits once the
 * link's session lookup (findTokenStanding) has answered, or, for the address an anonymous user takes
 * with the link, once the identity was linked (commitAfterRead). Likewise an unlink (DELETE
 * /user/identities/{id}) asked in a session: the sign-out commits once its token check read the session.
 */
const APP = 'https://app.test';
const PASSWORD = 'correct horse battery';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a provider identity linked while its session is signed out (${storeKind} store)`, () => {
    const started = useGithubApp(storeKind, {
      siteUrl: APP,
      signup: { confirmEmail: false, anonymousUsers: true },
      identities: { manualLinking: true, implicitLinking: true },
    });
    let t: TestApp;
    let url: string;
    let github: OAuth2Server;
    before(() => ({ t, url, provider: github } = started.app));

    /** A signed-in client (a new email user, or an anonymous one) and the link address it was given. */
    async function linkStarted(email: string | null) {
      const { client } = gotrueClient(url);
      const signedIn =
        email === null
          ? await client.signInAnonymously()
          : await client.signUp({ email, password: PASSWORD });
      assert.equal(signedIn.error, null);
      const { session, user } = signedIn.data;
      const { data, error } = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      const signOut = () =>
        t.app.inject({
          method: 'POST',
          url: '/auth/v1/logout?scope=global',
          headers: { authorization: `Bearer ${session!.access_token}` },
        });
      return { userId: user!.id, linkAddress: data.url!, signOut, accessToken: session!.access_token };
    }

    it('the owner signs out everywhere as the callback links: nothing linked, no session answered', async () => {
      const { userId, linkAddress, signOut } = await linkStarted('owner1@acme.test');
      github.signInAs(githubAccount(8101, 'thief-gh', 'thief1@github.test'));
      const landed = await commitAfterRead(t.services.store, signOut, ['findTokenStanding'], () =>
        followRedirects(linkAddress, APP),
      );
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('access_token'), null, landed.href);
      assert.equal(await t.services.store.findIdentity('github', '8101'), null, 'no identity linked');
      const identities = await t.services.store.listIdentities(userId);
      assert.deepEqual(
        identities.map((identity) => identity.provider),
        ['email'],
      );
    });

    it('an anonymous user signed out once its identity is linked: the provider address is not taken', async () => {
      const { userId, linkAddress, signOut } = await linkStarted(null);
      github.signInAs(githubAccount(8102, 'anon-gh', 'anon2@github.test'));
      const landed = await commitAfterRead(t.services.store, signOut, ['linkIdentity'], () =>
        followRedirects(linkAddress, APP),
      );
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('access_token'), null, landed.href);
      const user = await t.services.store.findUserById(userId);
      assert.equal(user?.email, null, 'the address is not the account’s');
      assert.equal(user?.isAnonymous, true);
    });

    it('an unlink asked as the owner signs out everywhere: refused, the identity stays', async () => {
      const { userId, linkAddress, signOut, accessToken } = await linkStarted('owner4@acme.test');
      github.signInAs(githubAccount(8104, 'own4-gh', 'own4@github.test'));
      await followRedirects(linkAddress, APP);
      const linked = await t.services.store.findIdentity('github', '8104');
      assert.equal(linked?.userId, userId);
      const unlinked = await commitAfterRead(t.services.store, signOut, ['findSession'], () =>
        t.app.inject({
          method: 'DELETE',
          url: `/auth/v1/user/identities/${linked.id}`,
          headers: { authorization: `Bearer ${accessToken}` },
        }),
      );
      assert.equal(unlinked.statusCode, 403, unlinked.body);
      assert.equal(unlinked.json().error_code, 'session_not_found');
      assert.equal((await t.services.store.findIdentity('github', '8104'))?.userId, userId);
    });

    it('a session still live: the identity is linked to its user', async () => {
      const { userId, linkAddress } = await linkStarted('owner3@acme.test');
      github.signInAs(githubAccount(8103, 'own-gh', 'own3@github.test'));
      const landed = await followRedirects(linkAddress, APP);
      assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);
      assert.equal((await t.services.store.findIdentity('github', '8103'))?.userId, userId);
    });
  });
}
