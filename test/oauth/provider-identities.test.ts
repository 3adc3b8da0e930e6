import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient, nextMail, secretsOf, serviceAdminOf } from '../support/gotrue.js';
import { useGithubApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * Which identities a provider's user has, as GoTrue gives them (external.go, identity.go, user.go,
 * verify.go), with the unmodified @supabase/auth-js and a GitHub-style server, on both stores: a
 * GitHub sign-up has only its GitHub identity (not also an `email` one for the address), a
 * password set adds none and signs in by the address, an email change confirmed adds the `email`
 * identity, an anonymous user taking GitHub's verified address has only GitHub's, and the last
 * identity cannot be unlinked.
 */
const APP = 'https://app.test';
const PASSWORD = 'correct horse battery';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a provider's user's identities, as GoTrue's (${storeKind} store)`, () => {
    const started = useGithubApp(storeKind, {
      siteUrl: APP,
      signup: { anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
      identities: { manualLinking: true, implicitLinking: true },
    });
    let t: TestApp;
    let sink: SmtpSink;
    let url: string;
    let github: OAuth2Server;
    before(() => ({ t, sink, url, provider: github } = started.app));

    const providersOf = (user: { identities?: { provider: string }[] } | null | undefined) =>
      (user?.identities ?? []).map((identity) => identity.provider);

    /** Signs a new GitHub account in through auth-js: its client, holding the session. */
    async function gitHubSignUp(id: number, login: string, email: string) {
      const { client } = gotrueClient(url);
      const { data } = await client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(id, login, email));
      const landed = await followRedirects(data.url!, APP);
      const fragment = new URLSearchParams(landed.hash.slice(1));
      const session = await client.setSession({
        access_token: fragment.get('access_token') ?? '',
        refresh_token: fragment.get('refresh_token') ?? '',
      });
      assert.equal(session.error, null, landed.href);
      return { client, user: session.data.user! };
    }

    it('a GitHub sign-up has only its GitHub identity: on /user, app_metadata, the admin API', async () => {
      const { client, user } = await gitHubSignUp(9101, 'solo', 'solo@github.test');
      assert.equal(user.email, 'solo@github.test');
      assert.deepEqual(providersOf(user), ['github']);
      assert.deepEqual(user.app_metadata, { provider: 'github', providers: ['github'] });
      const admin = await serviceAdminOf({ url, t });
      assert.deepEqual(providersOf((await admin.getUserById(user.id)).data.user), ['github']);
      const listed = (await admin.listUsers()).data.users.find((candidate) => candidate.id === user.id);
      assert.deepEqual(providersOf(listed), ['github']);

      // Its only identity cannot be unlinked (GoTrue's single_identity_not_deletable).
      const unlinked = await client.unlinkIdentity(user.identities![0]!);
      assert.equal(unlinked.error?.code, 'single_identity_not_deletable');
      assert.deepEqual(providersOf((await client.getUser()).data.user), ['github']);

      // Signing in again with GitHub adds nothing.
      const again = await gitHubSignUp(9101, 'solo', 'solo@github.test');
      assert.equal(again.user.id, user.id);
      assert.deepEqual(providersOf(again.user), ['github']);
    });

    it('a password set adds no identity (GoTrue without its experimental flag) and signs in by the address', async () => {
      const { client, user } = await gitHubSignUp(9102, 'setter', 'setter@github.test');
      assert.equal((await client.updateUser({ password: PASSWORD })).error, null);
      assert.deepEqual(providersOf((await client.getUser()).data.user), ['github']);
      const byPassword = await gotrueClient(url).client.signInWithPassword({
        email: 'setter@github.test',
        password: PASSWORD,
      });
      assert.equal(byPassword.error, null, 'password sign-in reads the address, not an identity');
      assert.equal(byPassword.data.user?.id, user.id);
      assert.deepEqual(providersOf(byPassword.data.user), ['github']);
    });

    it('an email change confirmed gives a GitHub user the email identity of its new address, as verify.go', async () => {
      const { client, user } = await gitHubSignUp(9103, 'mover', 'mover@github.test');
      const since = sink.mails.length;
      assert.equal((await client.updateUser({ email: 'mover@acme.test' })).error, null);
      const toNew = secretsOf(await nextMail(sink, 'mover@acme.test', since));
      const toOld = secretsOf(await nextMail(sink, 'mover@github.test', since));
      await client.verifyOtp({ email: 'mover@acme.test', token: toNew.code, type: 'email_change' });
      await client.verifyOtp({ email: 'mover@github.test', token: toOld.code, type: 'email_change' });
      const moved = (await client.getUser()).data.user!;
      assert.equal(moved.email, 'mover@acme.test');
      assert.deepEqual(providersOf(moved).sort(), ['email', 'github']);
      const email = moved.identities!.find((identity) => identity.provider === 'email')!;
      assert.equal(email.id, user.id);
      assert.equal(email.identity_data?.['email'], 'mover@acme.test');
    });

    it("an anonymous user taking GitHub's verified address has only the GitHub identity", async () => {
      const { client } = gotrueClient(url);
      const anonymous = await client.signInAnonymously();
      assert.equal(anonymous.error, null);
      const { data } = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(9104, 'anon-only', 'anon-only@github.test'));
      const landed = await followRedirects(data.url!, APP);
      const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
      assert.ok(accessToken, landed.href);
      const user = (await client.getUser(accessToken)).data.user!;
      assert.equal(user.email, 'anon-only@github.test');
      assert.equal(user.is_anonymous, false);
      assert.deepEqual(providersOf(user), ['github']);
    });
  });
}
