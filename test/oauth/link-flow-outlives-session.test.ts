import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { useGithubApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';

/**
 * The attack: a thief holding a stolen access token starts linkIdentity (GET
 * /user/identities/authorize); the owner then ends that session (signs out
 * everywhere, changes the password, signs out on that device); within the
 * flow's 300 s the thief finishes GitHub's callback with their own GitHub
 * account. Before the fix the identity was linked to the owner and the thief
 * got a fresh session for the owner. Now the callback requires the session
 * that started the flow to be live: refused, nothing linked, no session; a PKCE
 * link's exchange requires it too, however late the owner ends it. Over
 * real HTTP with the GitHub-style server, on both stores.
 */
const APP = 'https://app.test';
const PASSWORD = 'correct horse battery';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a link flow does not outlive the session that started it (${storeKind} store)`, () => {
    const started = useGithubApp(storeKind, {
      siteUrl: APP,
      signup: { confirmEmail: false },
      identities: { manualLinking: true, implicitLinking: true },
    });
    let t: TestApp;
    let url: string;
    let github: OAuth2Server;
    before(() => ({ t, url, provider: github } = started.app));

    /**
     * The owner signed in twice (two devices); the thief has the first device's access token and
     * starts linkIdentity with it. The owner's second device, and the provider address the thief goes to.
     */
    async function thiefStartsLink(email: string) {
      const stolen = gotrueClient(url).client;
      const signUp = await stolen.signUp({ email, password: PASSWORD });
      assert.equal(signUp.error, null);
      const stolenToken = signUp.data.session!.access_token;
      const owner = gotrueClient(url).client;
      assert.equal((await owner.signInWithPassword({ email, password: PASSWORD })).error, null);
      const started = await fetch(
        `${url}/user/identities/authorize?provider=github&skip_http_redirect=true&redirect_to=${encodeURIComponent(`${APP}/settings`)}`,
        { headers: { authorization: `Bearer ${stolenToken}` } },
      );
      assert.equal(started.status, 200);
      const { url: providerUrl } = (await started.json()) as { url: string };
      return { userId: signUp.data.user!.id, owner, stolen, providerUrl };
    }

    /** The thief finishes at GitHub as themself: refused, nothing linked, no session for anyone. */
    async function assertThiefRefused(providerUrl: string, userId: string, githubId: number) {
      github.signInAs(githubAccount(githubId, `thief-${githubId}`, `thief-${githubId}@github.test`));
      const landed = await followRedirects(providerUrl, APP);
      assert.equal(landed.searchParams.get('error_code'), 'session_not_found', landed.href);
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('access_token'), null, 'no session');
      assert.equal(await t.services.store.findIdentity('github', String(githubId)), null, 'nothing linked');
      assert.deepEqual(
        (await t.services.store.listIdentities(userId)).map((identity) => identity.provider),
        ['email'],
      );
    }

    it('the owner signs out everywhere: the thief cannot finish the link', async () => {
      const { userId, owner, providerUrl } = await thiefStartsLink('global@acme.test');
      assert.equal((await owner.signOut({ scope: 'global' })).error, null);
      await assertThiefRefused(providerUrl, userId, 8101);
    });

    it("the owner changes the password (ending the other sessions): the thief's link is refused", async () => {
      const { userId, owner, providerUrl } = await thiefStartsLink('password@acme.test');
      assert.equal((await owner.updateUser({ password: 'a brand new passphrase' })).error, null);
      await assertThiefRefused(providerUrl, userId, 8102);
    });

    it('the stolen session itself is signed out: the thief cannot finish the link', async () => {
      const { userId, stolen, providerUrl } = await thiefStartsLink('local@acme.test');
      assert.equal((await stolen.signOut({ scope: 'local' })).error, null);
      await assertThiefRefused(providerUrl, userId, 8103);
    });

    it('PKCE: the owner signs out between the callback and the exchange: the code links nothing', async () => {
      const thief = gotrueClient(url, { flowType: 'pkce' }).client;
      const signUp = await thief.signUp({ email: 'pkce@acme.test', password: PASSWORD });
      assert.equal(signUp.error, null);
      const userId = signUp.data.user!.id;
      const owner = gotrueClient(url).client;
      assert.equal(
        (await owner.signInWithPassword({ email: 'pkce@acme.test', password: PASSWORD })).error,
        null,
      );
      const { data } = await thief.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(8106, 'thief-8106', 'thief-8106@github.test'));
      const code = (await followRedirects(data.url!, APP)).searchParams.get('code');
      assert.ok(code, 'the callback leads back with a code');
      assert.equal((await owner.signOut({ scope: 'global' })).error, null);
      const exchanged = await thief.exchangeCodeForSession(code);
      // auth-js answers restauth's session_not_found with its AuthSessionMissingError.
      assert.equal(exchanged.error?.name, 'AuthSessionMissingError', String(exchanged.error));
      assert.equal(exchanged.data.session, null);
      assert.equal(await t.services.store.findIdentity('github', '8106'), null, 'nothing linked');
      assert.deepEqual(
        (await t.services.store.listIdentities(userId)).map((identity) => identity.provider),
        ['email'],
      );
    });

    it("the owner signs out the other sessions: the thief's link is refused, the owner's own still links", async () => {
      const { userId, owner, providerUrl } = await thiefStartsLink('others@acme.test');
      assert.equal((await owner.signOut({ scope: 'others' })).error, null);
      await assertThiefRefused(providerUrl, userId, 8104);

      const { data } = await owner.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(8105, 'owner-gh', 'owner@github.test'));
      const landed = await followRedirects(data.url!, APP);
      assert.ok(new URLSearchParams(landed.hash.slice(1)).get('access_token'), landed.href);
      assert.equal((await t.services.store.findIdentity('github', '8105'))?.userId, userId);
    });
  });
}
