import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { nextMail, secretsOf } from '../support/gotrue.js';
import { signInWithKeycloak, useKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';

/**
 * Pre-account takeover through a provider: an attacker signs in with a provider account that claims
 * the victim's address unverified. restauth makes an account with that address, unconfirmed, the
 * attacker's provider identity linked, and mails the victim a confirmation. The victim later signs
 * up with a password (answered as for a new address, mailed again), asks a magic link or recovers
 * the address, and following the mail proves the mailbox and confirms the account. Its password
 * and sessions were retired then, but the attacker's identity stayed: the attacker's next provider
 * sign-in opened the victim's account, with whatever the victim had put in it since.
 */
const APP = 'https://app.test';

/** The attack's steps against `suite`'s restauth and IdP; `confirms`: whether addresses must be confirmed. */
function squatting(suite: { readonly app: OAuthApp<TestIdp> }, confirms = true) {
  /** `subject` signs in claiming `email` unverified: the account it makes (and, where addresses confirm, mails). */
  async function providerSquats(subject: string, email: string): Promise<string> {
    const { t, sink, provider: idp } = suite.app;
    idp.accounts.set(subject, { email, email_verified: false, name: 'Mallory' });
    const since = sink.mails.length;
    const first = await signInWithKeycloak(suite.app, subject);
    const squatted = await t.services.store.findUserByEmail(email);
    assert.ok(squatted, 'the provider made an account with the address');
    if (confirms) {
      assert.equal(first.accessToken, null, 'an unverified address signs nobody in yet');
      assert.match(first.landed, /provider_email_needs_verification/u);
      assert.equal(squatted.emailConfirmedAt, null);
      await nextMail(sink, email, since);
    } else {
      assert.ok(first.accessToken, 'signed in at once, the address taken confirmed');
    }
    return squatted.id;
  }

  /** Follows the link of the next mail to `email` of type `type`: the session it opens. */
  async function follow(
    email: string,
    since: number,
    type: 'signup' | 'magiclink' | 'recovery',
  ): Promise<string> {
    const mail = await nextMail(suite.app.sink, email, since);
    const confirmed = await suite.app.t.app.inject({
      method: 'POST',
      url: '/auth/v1/verify',
      payload: { type, token_hash: new URL(secretsOf(mail).link).searchParams.get('token') },
    });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    return confirmed.json<{ access_token: string }>().access_token;
  }

  /** The attacker's provider signs in again: the account it opens, or null. */
  async function attackerAgain(subject: string): Promise<string | null> {
    const again = await signInWithKeycloak(suite.app, subject);
    return again.accessToken === null ? null : (decodeJwt(again.accessToken).sub ?? null);
  }

  async function providersOf(userId: string): Promise<string[]> {
    return (await suite.app.t.services.store.listIdentities(userId)).map((identity) => identity.provider);
  }

  /**
   * The owner asks a mail for `email` at `url` (past the resend interval: else the request mails
   * nothing, throttled, and the attacker's mail is the only one); returns the mail count before it.
   */
  async function ownerAsks(url: string, payload: Record<string, unknown>): Promise<number> {
    suite.app.t.advance(61_000);
    const since = suite.app.sink.mails.length;
    const asked = await suite.app.t.app.inject({ method: 'POST', url, payload });
    assert.equal(asked.statusCode, 200, asked.body);
    return since;
  }

  /** Sets a password through the hosted form of the next recovery link mailed to `email`. */
  async function recoveryForm(email: string, since: number): Promise<void> {
    const link = new URL(secretsOf(await nextMail(suite.app.sink, email, since)).link);
    const form = await suite.app.t.app.inject({
      method: 'POST',
      url: `${link.pathname}${link.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        password: 'victim passphrase',
        password_confirm: 'victim passphrase',
      }).toString(),
    });
    assert.equal(form.statusCode, 200, form.body);
    assert.match(form.body, /Your password has been changed/u);
  }

  /** Resets the password of `email` with the token postgrest-auth's forgot_password mails. */
  async function postgrestAuthReset(email: string): Promise<void> {
    const since = await ownerAsks('/auth/forgot_password', { username: email });
    const mail = await nextMail(suite.app.sink, email, since);
    const token = /Your token: (\S+)/u.exec(mail.text)?.[1];
    assert.ok(token, mail.text);
    const reset = await suite.app.t.app.inject({
      method: 'POST',
      url: '/auth/change_password',
      payload: {
        username: email,
        reset_token: token,
        new_password: 'victim passphrase',
        new_password_confirm: 'victim passphrase',
      },
    });
    assert.equal(reset.statusCode, 200, reset.body);
  }

  return { providerSquats, follow, attackerAgain, providersOf, ownerAsks, recoveryForm, postgrestAuthReset };
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a provider identity linked before the address was proven (${storeKind} store)`, () => {
    const suite = useKeycloakApp(storeKind, { siteUrl: APP, dialects: { gotrue: {}, postgrestAuth: {} } });

    const {
      providerSquats,
      follow,
      attackerAgain,
      providersOf,
      ownerAsks,
      recoveryForm,
      postgrestAuthReset,
    } = squatting(suite);

    it('the owner signs up and follows the confirmation: the provider identity is gone', async () => {
      const email = 'signs-up@acme.test';
      const squatted = await providerSquats('kc-mallory-1', email);
      const since = await ownerAsks('/auth/v1/signup', { email, password: 'victim passphrase' });
      const victim = await follow(email, since, 'signup');
      assert.equal(decodeJwt(victim).sub, squatted, 'the owner works in the confirmed account');
      assert.deepEqual(await providersOf(squatted), ['email'], 'its address is how it signs in');
      const profile = (await suite.app.t.services.store.findUserById(squatted))?.profile;
      assert.deepEqual(profile, {}, "the attacker's provider profile is not the owner's user_metadata");

      assert.notEqual(await attackerAgain('kc-mallory-1'), squatted, "the attacker's identity opens it");
    });

    it('the owner asks a magic link and follows it: the provider identity is gone', async () => {
      const email = 'magic-link@acme.test';
      const squatted = await providerSquats('kc-mallory-2', email);
      const since = await ownerAsks('/auth/v1/otp', { email });
      const victim = await follow(email, since, 'magiclink');
      assert.equal(decodeJwt(victim).sub, squatted);
      const user = await suite.app.t.services.store.findUserById(squatted);
      assert.ok(user?.emailConfirmedAt, 'the link confirmed the address');
      assert.deepEqual(user.appMetadata['providers'], ['email']);

      assert.notEqual(await attackerAgain('kc-mallory-2'), squatted, "the attacker's identity opens it");
    });

    it("the owner sets a password through the recovery link's form: the provider identity is gone", async () => {
      const email = 'recovers@acme.test';
      const squatted = await providerSquats('kc-mallory-3', email);
      const since = await ownerAsks('/auth/v1/recover', { email });
      await recoveryForm(email, since);
      const user = await suite.app.t.services.store.findUserById(squatted);
      assert.ok(user?.emailConfirmedAt, 'the recovery confirmed the address');
      assert.deepEqual(await providersOf(squatted), ['email']);

      assert.notEqual(await attackerAgain('kc-mallory-3'), squatted, "the attacker's identity opens it");
    });

    it("the owner resets the password with postgrest-auth's mailed token: confirmed, the provider identity is gone", async () => {
      const email = 'resets@acme.test';
      const squatted = await providerSquats('kc-mallory-4', email);
      await postgrestAuthReset(email);
      const user = await suite.app.t.services.store.findUserById(squatted);
      assert.ok(user?.emailConfirmedAt, 'the mailed token confirmed the address, as a recovery link does');
      assert.deepEqual(await providersOf(squatted), ['email']);
      assert.deepEqual(user.profile, {}, "the attacker's provider profile is not the owner's user_metadata");
      const signIn = await suite.app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email, password: 'victim passphrase' },
      });
      assert.equal(signIn.statusCode, 200, 'the owner signs in with the new password, no confirmation asked');

      assert.notEqual(await attackerAgain('kc-mallory-4'), squatted, "the attacker's identity opens it");
    });

    it("the provider's user follows the confirmation its own callback asked for: it keeps its identity", async () => {
      const email = 'honest@acme.test';
      const since = suite.app.sink.mails.length;
      const account = await providerSquats('kc-honest', email);
      await follow(email, since, 'signup');
      assert.deepEqual(await providersOf(account), ['keycloak']);
      assert.equal(await attackerAgain('kc-honest'), account, 'it signs in with its provider as before');
    });
  });
}

/**
 * Where addresses are taken confirmed without a mail (signup.confirmEmail off), a provider's
 * unverified claim of the victim's address makes a confirmed account and signs the attacker in
 * at once. The owner, told the address is registered, recovers it: the recovery's new password
 * ended a password squatter's hold, but the provider identity stayed and signed the attacker in.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a provider's unverified claim where addresses confirm without proof (${storeKind} store)`, () => {
    const suite = useKeycloakApp(storeKind, {
      siteUrl: APP,
      signup: { confirmEmail: false },
      dialects: { gotrue: {}, postgrestAuth: {} },
    });
    const {
      providerSquats,
      follow,
      attackerAgain,
      providersOf,
      ownerAsks,
      recoveryForm,
      postgrestAuthReset,
    } = squatting(suite, false);

    it('the owner recovers the address by its link: the provider identity is gone', async () => {
      const email = 'auto-recovers@acme.test';
      const squatted = await providerSquats('kc-auto-1', email);
      const since = await ownerAsks('/auth/v1/recover', { email });
      assert.equal(decodeJwt(await follow(email, since, 'recovery')).sub, squatted);
      assert.deepEqual(await providersOf(squatted), ['email']);

      assert.notEqual(await attackerAgain('kc-auto-1'), squatted, "the attacker's identity opens it");
    });

    it('the owner recovers the address through the form: the provider identity is gone', async () => {
      const email = 'auto-form@acme.test';
      const squatted = await providerSquats('kc-auto-2', email);
      await recoveryForm(email, await ownerAsks('/auth/v1/recover', { email }));
      assert.deepEqual(await providersOf(squatted), ['email']);

      assert.notEqual(await attackerAgain('kc-auto-2'), squatted, "the attacker's identity opens it");
    });

    it("the owner resets the password with postgrest-auth's mailed token: the provider identity is gone", async () => {
      const email = 'auto-reset@acme.test';
      const squatted = await providerSquats('kc-auto-3', email);
      await postgrestAuthReset(email);
      assert.deepEqual(await providersOf(squatted), ['email']);

      assert.notEqual(await attackerAgain('kc-auto-3'), squatted, "the attacker's identity opens it");
    });

    it('a provider that verified the address keeps its identity through a recovery', async () => {
      const email = 'auto-verified@acme.test';
      suite.app.provider.accounts.set('kc-auto-owner', { email, email_verified: true });
      const owner = await attackerAgain('kc-auto-owner');
      assert.ok(owner);
      const since = await ownerAsks('/auth/v1/recover', { email });
      await follow(email, since, 'recovery');
      assert.deepEqual(await providersOf(owner), ['keycloak']);
      assert.equal(await attackerAgain('kc-auto-owner'), owner);
    });
  });
}
