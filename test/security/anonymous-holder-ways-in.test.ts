import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GoTrueClient } from '@supabase/auth-js';
import { decodeJwt } from 'jose';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import { followRedirects, type TestIdp } from '../support/oidc-provider.js';
import {
  challengeOf,
  exchangePkceCode,
  newVerifier,
  pressedLinkTarget,
  type Inject,
} from '../support/pkce.js';

/**
 * An anonymous account's first address is asked by whoever holds its session and proven by whoever
 * follows the mail (anonymous-address-claim.test.ts, anonymous-link-address-claim.test.ts). Here
 * Mallory, anonymous, sets up other ways in before asking for the victim's address: a provider
 * identity of her own that gives no address, or another address (hers, unverified); an OAuth
 * sign-in's PKCE code issued before the proof and exchanged after it; a password (refused while
 * anonymous); a pending change to an address of hers. Once the victim proves the address, none of
 * them may open the account: only the follower of the mail holds it.
 */
const APP = 'https://app.test';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`an anonymous holder's other ways in, once the mailbox proved the address (${storeKind} store)`, () => {
    const suite = useKeycloakApp(
      storeKind,
      {
        siteUrl: APP,
        signup: { anonymousUsers: true },
        oneTimeTokens: { resendInterval: 0 },
        identities: { manualLinking: true, implicitLinking: true },
      },
      // Some of the provider's users have no address, and sign in all the same (GoTrue's email_optional).
      { email_optional: true },
    );

    it('a provider identity linked while anonymous that gives no address no longer opens the account', async () => {
      const { app, mallory, accountId } = await anonymousWithLinked(suite.app, 'kc-mallory-bare', {
        name: 'Mallory',
      });
      // Linking an identity without an address leaves the account anonymous (GoTrue's linkIdentityToUser).
      assert.equal((await mallory.getUser()).data.user?.is_anonymous, true);

      const { verified } = await askAndProve(app, mallory, 'victim.bare@acme.test');
      assert.equal(verified.data.user?.id, accountId, 'the account the mail was for');
      assert.deepEqual(
        verified.data.user?.identities?.map((identity) => identity.provider),
        ['email'],
        "Mallory's provider identity went",
      );
      const again = await signInWithKeycloak(app, 'kc-mallory-bare');
      if (again.accessToken !== null) assert.notEqual(decodeJwt(again.accessToken).sub, accountId);
      assert.notEqual(
        (await app.t.services.store.findIdentity('keycloak', 'kc-mallory-bare'))?.userId,
        accountId,
      );
    });

    it('a provider identity linked while anonymous that gives another address no longer opens the account', async () => {
      const hers = 'mallory.other@evil.test';
      const before = suite.app.sink.mails.length;
      const { app, mallory, accountId } = await anonymousWithLinked(
        suite.app,
        'kc-mallory-other',
        { email: hers, email_verified: false, name: 'Mallory' },
        'email_not_confirmed',
      );
      const herMail = await nextMail(app.sink, hers, before);

      const { verified } = await askAndProve(app, mallory, 'victim.other@acme.test');
      assert.equal(verified.data.user?.id, accountId);
      assert.deepEqual(
        verified.data.user?.identities?.map((identity) => identity.provider),
        ['email'],
        "Mallory's provider identity went",
      );
      const again = await signInWithKeycloak(app, 'kc-mallory-other');
      if (again.accessToken !== null) assert.notEqual(decodeJwt(again.accessToken).sub, accountId);
      assert.notEqual(
        (await app.t.services.store.findIdentity('keycloak', 'kc-mallory-other'))?.userId,
        accountId,
      );

      // The change to her own address, mailed at the link, was asked in her session: it ended with it.
      const hersFollowed = await gotrueClient(app.url).client.verifyOtp({
        email: hers,
        token: secretsOf(herMail).code,
        type: 'email_change',
      });
      assert.ok(hersFollowed.error, 'her pending change moves nothing');
      assert.equal((await app.t.services.store.findUserById(accountId))?.email, 'victim.other@acme.test');
    });

    it("an OAuth sign-in's PKCE code issued before the proof opens no session after it", async () => {
      const { app, mallory, accountId } = await anonymousWithLinked(suite.app, 'kc-mallory-code', {
        name: 'Mallory',
      });
      // Mallory signs in with her provider by PKCE and keeps the code, unexchanged.
      const { client: pkce } = gotrueClient(app.url, { flowType: 'pkce' });
      const started = await pkce.signInWithOAuth({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/callback`, skipBrowserRedirect: true },
      });
      assert.equal(started.error, null);
      app.provider.loginAs('kc-mallory-code');
      const landed = await followRedirects(started.data.url!, APP);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);

      await askAndProve(app, mallory, 'victim.code@acme.test');
      const exchanged = await pkce.exchangeCodeForSession(code);
      if (exchanged.error === null)
        assert.notEqual(exchanged.data.user?.id, accountId, 'a session of the account');
      assert.ok(exchanged.error, 'the code opens nothing');
    });

    it('refuses a password while anonymous, with or without the address asked in the same request', async () => {
      const { client: mallory } = gotrueClient(suite.app.url);
      const anonymous = await mallory.signInAnonymously();
      assert.equal(anonymous.error, null);
      const accountId = anonymous.data.user!.id;
      const alone = await mallory.updateUser({ password: 'mallory’s own passphrase' });
      assert.equal(alone.error?.status, 422);
      const withAddress = await mallory.updateUser({
        email: 'victim.password@acme.test',
        password: 'mallory’s own passphrase',
      });
      assert.equal(withAddress.error?.status, 422);
      assert.equal(await suite.app.t.services.store.getPasswordHash(accountId), null);
    });

    it('a password the anonymous account holds no longer signs in once the address is proven', async () => {
      // None of restauth's routes gives an anonymous account a password: PUT /user refuses one (the test
      // above), and the admin API's ends every session, so the change its holder asked dies with hers.
      // A database could hold one all the same (written by hand, or adopted): the store is given one here,
      // her session kept, as a defence for what the routes cannot reach.
      const { client: mallory } = gotrueClient(suite.app.url);
      const anonymous = await mallory.signInAnonymously();
      assert.equal(anonymous.error, null);
      const accountId = anonymous.data.user!.id;
      const sessionId = decodeJwt(anonymous.data.session!.access_token)['session_id'];
      assert.equal(typeof sessionId, 'string');
      const { store, hasher } = suite.app.t.services;
      const hash = await hasher.hash('mallory’s own passphrase');
      await store.changePassword(accountId, hash, sessionId as string, new Date());

      await askAndProve(suite.app, mallory, 'victim.password.held@acme.test');
      const signIn = await gotrueClient(suite.app.url).client.signInWithPassword({
        email: 'victim.password.held@acme.test',
        password: 'mallory’s own passphrase',
      });
      assert.equal(signIn.data.session, null, 'her password opens nothing');
      assert.equal(signIn.error?.code, 'invalid_credentials');
    });

    it("an honest anonymous user's PKCE link still exchanges its code: the link's own flow stays", async () => {
      const app = suite.app;
      const inject: Inject = (options) => app.t.app.inject(options);
      const { client: owner } = gotrueClient(app.url);
      const anonymous = await owner.signInAnonymously();
      assert.equal(anonymous.error, null);
      const verifier = newVerifier();
      const since = app.sink.mails.length;
      const asked = await inject({
        method: 'PUT',
        url: `/auth/v1/user?redirect_to=${encodeURIComponent(`${APP}/converted`)}`,
        headers: { authorization: `Bearer ${anonymous.data.session!.access_token}` },
        payload: { email: 'honest.pkce@acme.test', ...challengeOf(verifier) },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const { link } = secretsOf(await nextMail(app.sink, 'honest.pkce@acme.test', since));
      assert.match(link, /token=pkce_/u);
      const landed = await pressedLinkTarget(inject, link);
      const code = landed.searchParams.get('code');
      assert.ok(code, landed.href);
      const exchanged = await exchangePkceCode(inject, code, verifier);
      assert.equal(exchanged.statusCode, 200, exchanged.body);
      const user = exchanged.json<{ user: { id: string; is_anonymous: boolean } }>().user;
      assert.equal(user.id, anonymous.data.user?.id);
      assert.equal(user.is_anonymous, false);
    });

    it('an honest anonymous user who linked their provider keeps a session on their own device, and links it again', async () => {
      const {
        app,
        mallory: owner,
        accountId,
      } = await anonymousWithLinked(suite.app, 'kc-honest', {
        name: 'Honest',
      });
      const since = app.sink.mails.length;
      assert.equal((await owner.updateUser({ email: 'honest@acme.test' })).error, null);
      const mail = await nextMail(app.sink, 'honest@acme.test', since);
      // The same browser follows the mail: its new session is the follower's.
      const verified = await owner.verifyOtp({
        email: 'honest@acme.test',
        token: secretsOf(mail).code,
        type: 'email_change',
      });
      assert.equal(verified.error, null);
      assert.equal((await owner.getUser()).data.user?.id, accountId);
      // The provider linked while anonymous went: linked again, it signs in to the account.
      const link = await owner.linkIdentity({
        provider: 'keycloak',
        options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
      });
      assert.equal(link.error, null);
      app.provider.loginAs('kc-honest');
      const landed = await followRedirects(link.data.url!, APP);
      assert.equal(landed.searchParams.get('error_code'), null, landed.href);
      const signedIn = await signInWithKeycloak(app, 'kc-honest');
      assert.ok(signedIn.accessToken, signedIn.landed);
      assert.equal(decodeJwt(signedIn.accessToken).sub, accountId);
    });
  });
}

/**
 * Mallory signs in anonymously and links `subject`, a provider account of hers with `claims`;
 * `refusal`: the error_code the link's redirect carries (an unverified address is mailed first).
 */
async function anonymousWithLinked(
  app: OAuthApp<TestIdp>,
  subject: string,
  claims: Record<string, unknown>,
  refusal: string | null = null,
): Promise<{ app: OAuthApp<TestIdp>; mallory: GoTrueClient; accountId: string }> {
  const { client: mallory } = gotrueClient(app.url);
  const anonymous = await mallory.signInAnonymously();
  assert.equal(anonymous.error, null);
  const accountId = anonymous.data.user!.id;
  app.provider.accounts.set(subject, claims);
  const link = await mallory.linkIdentity({
    provider: 'keycloak',
    options: { redirectTo: `${APP}/linked`, skipBrowserRedirect: true },
  });
  assert.equal(link.error, null);
  app.provider.loginAs(subject);
  const landed = await followRedirects(link.data.url!, APP);
  assert.equal(landed.searchParams.get('error_code'), refusal, landed.href);
  assert.equal((await app.t.services.store.findIdentity('keycloak', subject))?.userId, accountId);
  return { app, mallory, accountId };
}

/** Mallory asks for `victimAddress` (PUT /user); the victim follows the mail in a browser of their own. */
async function askAndProve(
  app: OAuthApp<TestIdp>,
  mallory: GoTrueClient,
  victimAddress: string,
): Promise<{ victim: GoTrueClient; verified: Awaited<ReturnType<GoTrueClient['verifyOtp']>> }> {
  const since = app.sink.mails.length;
  assert.equal((await mallory.updateUser({ email: victimAddress })).error, null);
  const mail = await nextMail(app.sink, victimAddress, since);
  const { client: victim } = gotrueClient(app.url);
  const verified = await victim.verifyOtp({
    email: victimAddress,
    token: secretsOf(mail).code,
    type: 'email_change',
  });
  assert.equal(verified.error, null);
  assert.equal(verified.data.user?.is_anonymous, false);
  // Her anonymous session is over, and the victim's goes on.
  assert.equal((await mallory.getUser()).data.user, null, 'her access token reads nobody');
  assert.equal((await victim.getUser()).data.user?.email, victimAddress);
  return { victim, verified };
}
