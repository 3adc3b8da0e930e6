import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { gotrueClient, nextMail } from '../support/gotrue.js';
import { startGithubApp, useGithubApp, type OAuthApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * linkIdentity (GoTrue's GET /user/identities/authorize) with the unmodified
 * @supabase/auth-js and a GitHub-style server, on both stores: the signed-in
 * user starts the OAuth flow, and the callback links the GitHub identity to
 * that user instead of signing anyone in; an anonymous user becomes permanent
 * by it. Each refusal is performed for real: a GitHub identity another user
 * has, one the user has already, the setting off, no token.
 */
const APP = 'https://app.test';
const PASSWORD = 'correct horse battery';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`linking a GitHub identity with @supabase/auth-js (${storeKind} store)`, () => {
    const started = useGithubApp(storeKind, {
      siteUrl: APP,
      signup: { confirmEmail: false, anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
      identities: { manualLinking: true, implicitLinking: true },
    });
    let t: TestApp;
    let sink: SmtpSink;
    let url: string;
    let github: OAuth2Server;
    before(() => ({ t, sink, url, provider: github } = started.app));

    /** A new email user, signed in through auth-js. */
    async function signedIn(email: string, flowType: 'implicit' | 'pkce' = 'implicit') {
      const { client } = gotrueClient(url, { flowType });
      const signUp = await client.signUp({ email, password: PASSWORD });
      assert.equal(signUp.error, null);
      return { client, userId: signUp.data.user!.id };
    }

    it('a signed-in user links GitHub: the callback links it to that user and answers its session', async () => {
      const { client, userId } = await signedIn('lin@acme.test');
      const { data, error } = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      github.signInAs(githubAccount(7001, 'lin-gh', 'lin.other@github.test'));
      const landed = await followRedirects(data.url!, APP);
      assert.equal(landed.pathname, '/settings');
      const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
      assert.ok(accessToken, landed.href);
      const user = (await client.getUser(accessToken)).data.user!;
      assert.equal(user.id, userId, 'the same user, not a new one');
      assert.equal(user.email, 'lin@acme.test', 'its address stays');
      assert.deepEqual(user.identities?.map((identity) => identity.provider).sort(), ['email', 'github']);
      const linked = await t.services.store.findIdentity('github', '7001');
      assert.equal(linked?.userId, userId);
      assert.equal(await t.services.store.findUserByEmail('lin.other@github.test'), null, 'no new account');

      // Signing in with GitHub now reaches the same account.
      const again = gotrueClient(url).client;
      const started = await again.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      const back = await followRedirects(started.data.url!, APP);
      const token = new URLSearchParams(back.hash.slice(1)).get('access_token')!;
      assert.equal((await again.getUser(token)).data.user?.id, userId);
    });

    it('PKCE: the link comes back as ?code=, exchanged by the client that started it', async () => {
      const { client, userId } = await signedIn('pk@acme.test', 'pkce');
      const { data } = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(7002, 'pk-gh', 'pk@github.test'));
      const landed = await followRedirects(data.url!, APP);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);
      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.equal(exchanged.data.user?.id, userId);
      assert.equal((await t.services.store.findIdentity('github', '7002'))?.userId, userId);
    });

    it('an anonymous user links a GitHub account with a verified address: it becomes permanent with that address', async () => {
      const { client } = gotrueClient(url);
      const anonymous = await client.signInAnonymously();
      assert.equal(anonymous.error, null);
      const userId = anonymous.data.user!.id;
      const { data } = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(7003, 'anon-gh', 'anon@github.test'));
      const landed = await followRedirects(data.url!, APP);
      const accessToken = new URLSearchParams(landed.hash.slice(1)).get('access_token');
      assert.ok(accessToken, landed.href);
      const user = (await client.getUser(accessToken)).data.user!;
      assert.equal(user.id, userId, 'the same user: its rows stay its own');
      assert.equal(user.is_anonymous, false);
      assert.equal(user.email, 'anon@github.test');
      assert.ok(user.email_confirmed_at);
      const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString());
      assert.equal(claims.is_anonymous, false, 'the new token says so');
    });

    it('an anonymous user linking an unverified address stays anonymous until it confirms the mailed link', async () => {
      const { client } = gotrueClient(url);
      const anonymous = await client.signInAnonymously();
      const userId = anonymous.data.user!.id;
      const since = sink.mails.length;
      const { data } = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(7004, 'unv-gh', 'unverified@github.test', false));
      const landed = await followRedirects(data.url!, APP);
      assert.equal(landed.searchParams.get('error_code'), 'email_not_confirmed', landed.href);
      assert.match(landed.searchParams.get('error_description') ?? '', /Unverified email with github/);
      const user = await t.services.store.findUserById(userId);
      assert.equal(user?.isAnonymous, true);
      assert.equal(user?.email, null);
      const mail = await nextMail(sink, 'unverified@github.test', since);
      assert.ok(mail.text.includes('/verify?'), 'a confirmation of the address');
    });

    it('a GitHub identity another user has is refused: identity_already_exists, nothing moves', async () => {
      const owner = await signedIn('own@acme.test');
      const first = await owner.client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      github.signInAs(githubAccount(7005, 'shared-gh', 'shared@github.test'));
      await followRedirects(first.data.url!, APP);
      assert.equal((await t.services.store.findIdentity('github', '7005'))?.userId, owner.userId);

      const other = await signedIn('thief@acme.test');
      const second = await other.client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      const landed = await followRedirects(second.data.url!, APP);
      assert.equal(landed.searchParams.get('error_code'), 'identity_already_exists', landed.href);
      assert.equal(
        landed.searchParams.get('error_description'),
        'Identity is already linked to another user',
      );
      assert.equal(new URLSearchParams(landed.hash.slice(1)).get('access_token'), null, 'no session');
      assert.equal((await t.services.store.findIdentity('github', '7005'))?.userId, owner.userId);
      assert.deepEqual(
        (await t.services.store.listIdentities(other.userId)).map((identity) => identity.provider),
        ['email'],
      );

      // The owner linking it again: "Identity is already linked".
      const again = await owner.client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      const back = await followRedirects(again.data.url!, APP);
      assert.equal(back.searchParams.get('error_description'), 'Identity is already linked');
    });

    it('without a token: 401; a provider not enabled: 400, as GoTrue', async () => {
      const anonymous = await t.app.inject({
        method: 'GET',
        url: '/auth/v1/user/identities/authorize?provider=github&skip_http_redirect=true',
      });
      assert.equal(anonymous.statusCode, 401);
      const { client } = await signedIn('np@acme.test');
      const refused = await client.linkIdentity({
        provider: 'gitlab',
        options: { skipBrowserRedirect: true },
      });
      assert.equal(refused.error?.status, 400);
      assert.match(refused.error?.message ?? '', /provider is not enabled/);
    });
  });
}

describe('linkIdentity with identities.manualLinking off (the default, as GoTrue)', () => {
  let app: OAuthApp<OAuth2Server>;
  let url: string;
  let github: OAuth2Server;
  before(async () => {
    app = await startGithubApp({ signup: { confirmEmail: false } });
    ({ url, provider: github } = app);
  });
  after(async () => {
    await app.close();
  });

  it('404 manual_linking_disabled, and nothing is started at GitHub', async () => {
    const { client } = gotrueClient(url);
    await client.signUp({ email: 'off@acme.test', password: PASSWORD });
    const refused = await client.linkIdentity({ provider: 'github', options: { skipBrowserRedirect: true } });
    assert.equal(refused.error?.status, 404);
    assert.equal(refused.error?.code, 'manual_linking_disabled');
    assert.equal(github.authorizations.length, 0);
  });
});
