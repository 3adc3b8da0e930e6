import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestApp } from '../support/app.js';
import { gotrueClient, nextMail, secretsOf, serviceAdminOf } from '../support/gotrue.js';
import { startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, type TestIdp } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * app_metadata's `provider` and `providers`, as GoTrue stores them in raw_app_meta_data (signup.go,
 * external.go, identity.go, user.go UpdateAppMetaDataProviders), with the unmodified @supabase/auth-js
 * against a real OIDC provider (oidc-provider as GoTrue's keycloak) on both stores: the access token,
 * fresh and refreshed, says what GET /user says after an OAuth sign-up, an id_token sign-up, a
 * password, magic-link, admin or anonymous sign-up, a manual link, an automatic link by a verified
 * address, and an unlink. RLS policies read `auth.jwt() -> 'app_metadata' ->> 'provider'`.
 */
const APP = 'https://app.test';
const PASSWORD = 'correct horse battery';
const sha256hex = (value: string) => createHash('sha256').update(value).digest('hex');

type AuthClient = ReturnType<typeof gotrueClient>['client'];

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`app_metadata's provider and providers, in the token as on GET /user (${storeKind} store)`, () => {
    let app: OAuthApp<TestIdp>;
    let t: TestApp;
    let sink: SmtpSink;
    let url: string;
    let idp: TestIdp;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      app = await startKeycloakApp({
        ...store.config,
        siteUrl: APP,
        signup: { confirmEmail: false, anonymousUsers: true },
        oneTimeTokens: { resendInterval: 0 },
        identities: { manualLinking: true, implicitLinking: true },
      });
      ({ t, sink, url, provider: idp } = app);
    });
    after(async () => {
      await app.close();
      await store.drop();
    });

    /**
     * The user's app_metadata as GET /user answers it, checked against `accessToken` (without one, the
     * token a refresh issues now: one issued before a change says what was true then, as GoTrue's) and
     * the token of a refresh after: all must agree.
     */
    async function appMetadataOf(client: AuthClient, accessToken?: string): Promise<Record<string, unknown>> {
      const token = accessToken ?? (await client.refreshSession()).data.session!.access_token;
      const fetched = await client.getUser(token);
      assert.equal(fetched.error, null);
      const answered = fetched.data.user!.app_metadata;
      assert.deepEqual(
        decodeJwt(token)['app_metadata'],
        answered,
        'the access token says what GET /user says',
      );
      const refreshed = await client.refreshSession();
      assert.equal(refreshed.error, null);
      assert.deepEqual(refreshed.data.user!.app_metadata, answered);
      assert.deepEqual(
        decodeJwt(refreshed.data.session!.access_token)['app_metadata'],
        answered,
        'so does a refreshed one',
      );
      return answered;
    }

    /** Signs the provider's account in through auth-js's implicit flow: the client and the access token. */
    async function viaProvider(accountId: string, start: (client: AuthClient) => Promise<string>) {
      const { client } = gotrueClient(url);
      return viaProviderWith(client, accountId, start);
    }

    async function viaProviderWith(
      client: AuthClient,
      accountId: string,
      start: (client: AuthClient) => Promise<string>,
    ) {
      const startUrl = await start(client);
      idp.loginAs(accountId);
      const landed = await followRedirects(startUrl, APP);
      const fragment = new URLSearchParams(landed.hash.slice(1));
      const accessToken = fragment.get('access_token');
      assert.ok(accessToken, landed.href);
      const set = await client.setSession({
        access_token: accessToken,
        refresh_token: fragment.get('refresh_token') ?? '',
      });
      assert.equal(set.error, null);
      return { client, accessToken };
    }

    const signInWithKeycloak = async (client: AuthClient) => {
      const { data, error } = await client.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/welcome`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      return data.url!;
    };
    const linkKeycloak = async (client: AuthClient) => {
      const { data, error } = await client.linkIdentity({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/settings`, skipBrowserRedirect: true },
      });
      assert.equal(error, null);
      return data.url!;
    };

    it('an OAuth sign-up: keycloak, in the token as on GET /user, as GoTrue stores it', async () => {
      idp.accounts.set('kc-olga', { email: 'olga@acme.test', email_verified: true });
      const { client, accessToken } = await viaProvider('kc-olga', signInWithKeycloak);
      const expected = { provider: 'keycloak', providers: ['keycloak'] };
      assert.deepEqual(await appMetadataOf(client, accessToken), expected);
      // Signing in again changes nothing.
      const again = await viaProvider('kc-olga', signInWithKeycloak);
      assert.deepEqual(await appMetadataOf(again.client, again.accessToken), expected);
    });

    it('an id_token sign-up: keycloak too', async () => {
      const { client } = gotrueClient(url);
      const token = await idp.idToken({
        sub: 'kc-ivy',
        email: 'ivy@acme.test',
        email_verified: true,
        nonce: sha256hex('ivy-nonce'),
      });
      const signedIn = await client.signInWithIdToken({ provider: 'keycloak', token, nonce: 'ivy-nonce' });
      assert.equal(signedIn.error, null);
      assert.deepEqual(signedIn.data.user!.app_metadata, { provider: 'keycloak', providers: ['keycloak'] });
      assert.deepEqual(await appMetadataOf(client, signedIn.data.session!.access_token), {
        provider: 'keycloak',
        providers: ['keycloak'],
      });
    });

    it('a password sign-up, then a manual link and an unlink: providers follow, provider stays the first', async () => {
      const { client } = gotrueClient(url);
      const signedUp = await client.signUp({ email: 'lou@acme.test', password: PASSWORD });
      assert.equal(signedUp.error, null);
      assert.deepEqual(await appMetadataOf(client, signedUp.data.session!.access_token), {
        provider: 'email',
        providers: ['email'],
      });

      idp.accounts.set('kc-lou', { email: 'lou@work.test', email_verified: true });
      const linked = await viaProviderWith(client, 'kc-lou', linkKeycloak);
      const both = { provider: 'email', providers: ['email', 'keycloak'] };
      assert.deepEqual(await appMetadataOf(client, linked.accessToken), both);

      const identities = (await client.getUserIdentities()).data!.identities;
      const keycloak = identities.find((identity) => identity.provider === 'keycloak')!;
      assert.equal((await client.unlinkIdentity(keycloak)).error, null);
      assert.deepEqual(await appMetadataOf(client), { provider: 'email', providers: ['email'] });
    });

    it('an automatic link by a verified address: the OAuth sign-in joins the account, providers both', async () => {
      const { client } = gotrueClient(url);
      assert.equal((await client.signUp({ email: 'abe@acme.test', password: PASSWORD })).error, null);
      idp.accounts.set('kc-abe', { email: 'abe@acme.test', email_verified: true });
      const joined = await viaProvider('kc-abe', signInWithKeycloak);
      assert.deepEqual(await appMetadataOf(joined.client, joined.accessToken), {
        provider: 'email',
        providers: ['email', 'keycloak'],
      });
    });

    it('a magic-link sign-up and an admin-created user: email', async () => {
      const { client } = gotrueClient(url);
      const since = sink.mails.length;
      assert.equal((await client.signInWithOtp({ email: 'mia@acme.test' })).error, null);
      const mail = await nextMail(sink, 'mia@acme.test', since);
      const verified = await client.verifyOtp({
        email: 'mia@acme.test',
        token: secretsOf(mail).code,
        type: 'email',
      });
      assert.equal(verified.error, null);
      assert.deepEqual(await appMetadataOf(client, verified.data.session!.access_token), {
        provider: 'email',
        providers: ['email'],
      });

      const admin = await serviceAdminOf({ url, t });
      const created = await admin.createUser({
        email: 'ada@acme.test',
        password: PASSWORD,
        email_confirm: true,
        app_metadata: { plan: 'pro' },
      });
      assert.equal(created.error, null);
      assert.deepEqual(created.data.user!.app_metadata, {
        provider: 'email',
        providers: ['email'],
        plan: 'pro',
      });
      const { client: ada } = gotrueClient(url);
      const signedIn = await ada.signInWithPassword({ email: 'ada@acme.test', password: PASSWORD });
      assert.deepEqual(await appMetadataOf(ada, signedIn.data.session!.access_token), {
        provider: 'email',
        providers: ['email'],
        plan: 'pro',
      });
    });

    it("an admin's provider stands, as GoTrue's, until the next link sets them from the identities", async () => {
      const { client } = gotrueClient(url);
      const signedUp = await client.signUp({ email: 'ed@acme.test', password: PASSWORD });
      const admin = await serviceAdminOf({ url, t });
      const updated = await admin.updateUserById(signedUp.data.user!.id, {
        app_metadata: { provider: 'legacy', providers: ['legacy'] },
      });
      assert.equal(updated.error, null);
      assert.deepEqual(await appMetadataOf(client), { provider: 'legacy', providers: ['legacy'] });

      idp.accounts.set('kc-ed', { email: 'ed@work.test', email_verified: true });
      const linked = await viaProviderWith(client, 'kc-ed', linkKeycloak);
      // GoTrue's UpdateAppMetaDataProviders: providers from the identities, provider their first.
      assert.deepEqual(await appMetadataOf(client, linked.accessToken), {
        provider: 'email',
        providers: ['email', 'keycloak'],
      });
    });

    it("an anonymous user: none, as GoTrue's; linking a verified provider makes it that provider's", async () => {
      const { client } = gotrueClient(url);
      const anonymous = await client.signInAnonymously();
      assert.equal(anonymous.error, null);
      assert.deepEqual(await appMetadataOf(client, anonymous.data.session!.access_token), {});
      idp.accounts.set('kc-ann', { email: 'ann@acme.test', email_verified: true });
      const linked = await viaProviderWith(client, 'kc-ann', linkKeycloak);
      assert.deepEqual(await appMetadataOf(client, linked.accessToken), {
        provider: 'keycloak',
        providers: ['keycloak'],
      });
    });
  });
}
