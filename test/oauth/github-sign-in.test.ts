import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient } from '../support/gotrue.js';
import { useGithubApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';

/**
 * Sign-in with GitHub through the github preset and the unmodified
 * @supabase/auth-js, on both stores, against a GitHub-style OAuth2 server
 * listening in the test process (test/support/oauth2-server.ts) that the
 * preset reaches by its `url` setting, as it would reach a GitHub Enterprise
 * Server: signInWithOAuth's URL followed as a browser follows it comes back to
 * the app signed in, with the session in the fragment (implicit) or ?code=
 * (PKCE).
 */
const APP = 'https://app.test';
/** A Flutter app's deep link, as Supabase's guide lists it in the allow-list. */
const DEEP_LINK = 'io.supabase.flutterquickstart://login-callback/';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`GitHub sign-in with @supabase/auth-js (${storeKind} store)`, () => {
    const started = useGithubApp(storeKind, { siteUrl: APP, redirectAllowList: [DEEP_LINK] });
    let t: TestApp;
    let url: string;
    let github: OAuth2Server;
    let callback: string;
    before(() => ({ t, url, provider: github, callbackUrl: callback } = started.app));

    it('implicit flow: GitHub → the app with the session; the user from /user and its primary address from /user/emails', async () => {
      const { client } = gotrueClient(url);
      const { data, error } = await client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      const octocat = githubAccount(583231, 'octocat', 'octocat@github.test');
      octocat.emails.unshift({ email: 'old@github.test', primary: false, verified: true });
      github.signInAs(octocat);
      const landed = await followRedirects(data.url!, APP);
      assert.equal(landed.pathname, '/welcome');
      const fragment = new URLSearchParams(landed.hash.slice(1));
      const accessToken = fragment.get('access_token');
      assert.ok(accessToken, landed.href);
      assert.ok(fragment.get('provider_token')?.startsWith('gho_'), "GitHub's token, as GoTrue hands it on");

      const user = (await client.getUser(accessToken)).data.user!;
      assert.equal(user.email, 'octocat@github.test', 'the primary address, not the first one listed');
      const identity = user.identities?.find((candidate) => candidate.provider === 'github');
      assert.ok(identity, JSON.stringify(user.identities));
      assert.equal(identity.id, '583231', "GitHub's numeric id, as text");
      assert.equal(identity.identity_data?.['user_name'], 'octocat');
      assert.equal(identity.identity_data?.['email_verified'], true);
      assert.equal(user.user_metadata['avatar_url'], 'https://avatars.githubusercontent.com/u/583231?v=4');
      assert.ok((user.app_metadata.providers as string[]).includes('github'));

      // What restauth asked GitHub for: the preset's scope, restauth's callback, the client's secret.
      const asked = github.authorizations.at(-1)!;
      assert.equal(asked['scope'], 'user:email');
      assert.equal(asked['redirect_uri'], callback);
      assert.equal(github.tokenRequests.at(-1)!['client_secret'], github.clientSecret);
    });

    it('PKCE flow: ?code= exchanged once with the verifier auth-js kept; the same GitHub user signs in to the same account', async () => {
      const { client } = gotrueClient(url, { flowType: 'pkce' });
      const { data } = await client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/callback`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(583231, 'octocat', 'octocat@github.test'));
      const landed = await followRedirects(data.url!, APP);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);
      assert.equal(landed.hash, '', 'no session in the URL');
      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.equal(exchanged.data.user?.email, 'octocat@github.test');
      const again = await gotrueClient(url, { flowType: 'pkce' }).client.exchangeCodeForSession(code);
      assert.ok(again.error, 'the code works once');
      const byAddress = await t.services.store.findUserByEmail('octocat@github.test');
      assert.equal(byAddress?.id, exchanged.data.user?.id, 'one account for one GitHub user');
    });

    it("PKCE flow to a mobile app's listed deep link: back at the app's scheme with ?code=, exchanged", async () => {
      const { client } = gotrueClient(url, { flowType: 'pkce' });
      const { data } = await client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: DEEP_LINK, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(583232, 'flutterer', 'flutterer@github.test'));
      const landed = await followRedirects(data.url!, (at) => at.protocol !== 'http:');
      assert.equal(`${landed.protocol}//${landed.host}${landed.pathname}`, DEEP_LINK);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);
      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.equal(exchanged.data.user?.email, 'flutterer@github.test');
    });

    it('a GitHub account whose address is unverified never joins the account that owns that address', async () => {
      const owner = await gotrueClient(url).client.signUp({
        email: 'ann@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(owner.error, null);
      const ownerId = owner.data.user!.id;
      const { client } = gotrueClient(url);
      const { data } = await client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(666, 'mallory', 'ann@acme.test', false));
      const landed = await followRedirects(data.url!, APP);
      const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
      if (accessToken !== null) {
        const user = (await client.getUser(accessToken)).data.user!;
        assert.notEqual(user.id, ownerId, 'signed in as someone else, never as the owner');
      }
      const identities = await t.services.store.listIdentities(ownerId);
      assert.deepEqual(
        identities.map((identity) => identity.provider),
        ['email'],
        "the owner's account has no GitHub identity",
      );
    });

    it('the user refuses at GitHub: back at the app with access_denied, no session', async () => {
      const { client } = gotrueClient(url);
      const { data } = await client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      github.denyNext();
      const landed = await followRedirects(data.url!, APP);
      assert.equal(landed.searchParams.get('error'), 'access_denied');
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('access_token'), null);
    });
  });
}

describe('GitHub whose /user answers without end (identities.providerAnswerLimit)', () => {
  // The timeout far off: without the size bound the sign-in would wait for it, past the guard.
  const started = useGithubApp('file', {
    siteUrl: APP,
    identities: { providerTimeout: 60, providerAnswerLimit: 64 * 1024 },
  });

  for (const status of [200, 401]) {
    it(
      `${status}: back at the app with unexpected_failure, and the answer let go at once`,
      { timeout: 8_000 },
      async () => {
        const { url, provider: github } = started.app;
        const { data } = await gotrueClient(url).client.signInWithOAuth({
          provider: 'github',
          options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
        });
        github.signInAs(githubAccount(583231, 'octocat', 'octocat@github.test'));
        // A refusal's body is never read: its connection was held until the timeout.
        const letGo = github.floodNextUser(4 * 1024 * 1024, status);
        const landed = await followRedirects(data.url!, APP);
        await letGo;
        assert.equal(landed.searchParams.get('error_code'), 'unexpected_failure', landed.href);
        assert.equal(
          landed.searchParams.get('error_description'),
          'Error getting user profile from external provider',
        );
      },
    );
  }
});

describe('GitHub whose /user redirects elsewhere (an internal address)', () => {
  const started = useGithubApp('file', { siteUrl: APP });

  it('is not followed: back at the app with unexpected_failure, the address never asked', async () => {
    // What the redirect leads to: an address only restauth's network reaches (metadata, an admin page).
    const asked: string[] = [];
    const internal = createServer((request, response) => {
      asked.push(`${request.method} ${request.url} ${request.headers.authorization ?? ''}`);
      response.end('{"id": 1, "login": "internal", "email": "admin@internal.test"}');
    });
    await new Promise<void>((listening) => internal.listen(0, '127.0.0.1', listening));
    try {
      const { port } = internal.address() as AddressInfo;
      const { url, provider: github } = started.app;
      const { data } = await gotrueClient(url).client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(583232, 'octocat2', 'octocat2@github.test'));
      github.redirectNextUser(`http://127.0.0.1:${port}/latest/meta-data/`);
      const landed = await followRedirects(data.url!, APP);
      assert.equal(landed.searchParams.get('error_code'), 'unexpected_failure', landed.href);
      assert.deepEqual(asked, [], 'the redirect was followed');
    } finally {
      await new Promise((closed) => internal.close(closed));
    }
  });
});
