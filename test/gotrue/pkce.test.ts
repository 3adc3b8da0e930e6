import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import {
  challengeOf,
  exchangePkceCode,
  newVerifier,
  pressedLinkTarget,
  pressLinkButton,
  type Inject,
} from '../support/pkce.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/** The amr claim of an access token, as GoTrue states how its session was authenticated. */
function amrOf(accessToken: string | undefined): unknown {
  return decodeJwt(accessToken ?? '')['amr'];
}

/**
 * The PKCE flow with the unmodified @supabase/auth-js (`flowType: 'pkce'`, what @supabase/ssr
 * hard-codes) against a listening restauth on both stores, mail over real SMTP: the mailed link's
 * redirect carries `?code=`, which exchangeCodeForSession trades, with the verifier the client kept,
 * for the session.
 */
const APP = 'https://app.test';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`PKCE with @supabase/auth-js (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, {
      siteUrl: APP,
      oneTimeTokens: { resendInterval: 0 },
    });
    const inject: Inject = (options) => app.t.app.inject(options);

    /** What the mail's reader does: opens the link (a page) and presses its button; returns where it leads. */
    async function click(link: string): Promise<URL> {
      const { pathname, search } = new URL(link);
      const page = await app.t.app.inject({ method: 'GET', url: pathname + search });
      assert.equal(page.statusCode, 200);
      return pressedLinkTarget(inject, link);
    }

    /** The code of the link in the next mail to `email`: the link is GoTrue's PKCE one, its redirect `?code=`. */
    async function codeFromMail(email: string, since: number, type: string): Promise<string> {
      const { link } = secretsOf(await nextMail(app.sink, email, since));
      assert.match(link, new RegExp(`/verify\\?token=pkce_[\\w-]+&type=${type}&redirect_to=`, 'u'));
      const landed = await click(link);
      assert.equal(landed.origin, APP);
      assert.equal(landed.hash, '', 'no session in the fragment: PKCE hands over a code only');
      const code = landed.searchParams.get('code');
      assert.ok(code, `a code in ${landed.href}`);
      return code;
    }

    it('signUp → mailed link → exchangeCodeForSession → getUser; the code works once', async () => {
      const { client, events } = gotrueClient(app.url, { flowType: 'pkce' });
      const since = app.sink.mails.length;
      const signUp = await client.signUp({
        email: 'pia@acme.test',
        password: 'correct horse battery',
        options: { emailRedirectTo: `${APP}/auth/callback` },
      });
      assert.equal(signUp.error, null);
      assert.equal(signUp.data.session, null);
      const code = await codeFromMail('pia@acme.test', since, 'signup');

      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.ok(exchanged.data.session?.access_token);
      assert.ok(events.includes('SIGNED_IN'));
      // The flow's method, as GoTrue's PKCE exchange states it, kept by a refresh a minute later.
      const amr = amrOf(exchanged.data.session?.access_token) as { method: string; timestamp: number }[];
      assert.deepEqual(
        amr.map((claim) => claim.method),
        ['email/signup'],
      );
      app.t.advance(60_000);
      const refreshed = await client.refreshSession();
      assert.equal(refreshed.error, null);
      assert.deepEqual(amrOf(refreshed.data.session?.access_token), amr);
      const { data, error } = await client.getUser();
      assert.equal(error, null);
      assert.equal(data.user?.email, 'pia@acme.test');
      assert.ok(data.user?.email_confirmed_at, 'the link confirmed the address');

      // auth-js forgot its verifier after the exchange; another client that kept it is refused too.
      const replay = await gotrueClient(app.url, { flowType: 'pkce' }).client.exchangeCodeForSession(code);
      assert.ok(replay.error);
    });

    it('signInWithOtp (magic link) → exchangeCodeForSession signs in', async () => {
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email: 'max@acme.test',
        password: 'correct horse battery',
        emailConfirm: true,
      });
      const { client } = gotrueClient(app.url, { flowType: 'pkce' });
      const since = app.sink.mails.length;
      const asked = await client.signInWithOtp({
        email: 'max@acme.test',
        options: { emailRedirectTo: `${APP}/welcome`, shouldCreateUser: false },
      });
      assert.equal(asked.error, null);
      const code = await codeFromMail('max@acme.test', since, 'magiclink');
      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.deepEqual(
        (amrOf(exchanged.data.session?.access_token) as { method: string }[]).map((claim) => claim.method),
        ['magiclink'],
      );
      assert.equal(exchanged.data.user?.email, 'max@acme.test');
      assert.equal((await client.getUser()).data.user?.email, 'max@acme.test');
    });

    it("verifyOtp with a PKCE link's token_hash (an SSR app's /auth/confirm route) answers the session itself", async () => {
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email: 'tia@acme.test',
        password: 'correct horse battery',
        emailConfirm: true,
      });
      const { client } = gotrueClient(app.url, { flowType: 'pkce' });
      const since = app.sink.mails.length;
      await client.signInWithOtp({ email: 'tia@acme.test', options: { shouldCreateUser: false } });
      const { link } = secretsOf(await nextMail(app.sink, 'tia@acme.test', since));
      const tokenHash = new URL(link).searchParams.get('token')!;
      assert.match(tokenHash, /^pkce_/u);
      const verified = await client.verifyOtp({ type: 'magiclink', token_hash: tokenHash });
      assert.equal(verified.error, null);
      assert.equal(verified.data.user?.email, 'tia@acme.test');
      const again = await client.verifyOtp({ type: 'magiclink', token_hash: tokenHash });
      assert.equal(again.error?.code, 'otp_expired', 'once');
    });

    it('resetPasswordForEmail → exchangeCodeForSession (PASSWORD_RECOVERY) → updateUser sets the password', async () => {
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email: 'rita@acme.test',
        password: 'forgotten passphrase',
        emailConfirm: true,
      });
      const { client, events } = gotrueClient(app.url, { flowType: 'pkce' });
      const since = app.sink.mails.length;
      const asked = await client.resetPasswordForEmail('rita@acme.test', { redirectTo: `${APP}/reset` });
      assert.equal(asked.error, null);
      const code = await codeFromMail('rita@acme.test', since, 'recovery');
      const exchanged = await client.exchangeCodeForSession(code);
      assert.equal(exchanged.error, null);
      assert.deepEqual(
        (amrOf(exchanged.data.session?.access_token) as { method: string }[]).map((claim) => claim.method),
        ['recovery'],
      );
      assert.ok(events.includes('PASSWORD_RECOVERY'), `events: ${events.join(', ')}`);
      const updated = await client.updateUser({ password: 'a brand new passphrase' });
      assert.equal(updated.error, null);

      const fresh = gotrueClient(app.url).client;
      const signIn = await fresh.signInWithPassword({
        email: 'rita@acme.test',
        password: 'a brand new passphrase',
      });
      assert.equal(signIn.error, null);
    });

    it('an email change with a code_challenge → both mailed links → grant_type=pkce: the address changed', async () => {
      // auth-js's updateUser({ email }) sends a challenge in PKCE mode, but then saves the session,
      // which deletes its verifier (auth-js 2.109's _saveSession): the exchange is made here by hand.
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email: 'old@acme.test',
        password: 'correct horse battery',
        emailConfirm: true,
      });
      const { client } = gotrueClient(app.url, { flowType: 'pkce' });
      const signedIn = await client.signInWithPassword({
        email: 'old@acme.test',
        password: 'correct horse battery',
      });
      assert.equal(signedIn.error, null);
      const verifier = newVerifier();
      const since = app.sink.mails.length;
      const asked = await app.t.app.inject({
        method: 'PUT',
        url: `/auth/v1/user?redirect_to=${encodeURIComponent(`${APP}/email-changed`)}`,
        headers: { authorization: `Bearer ${signedIn.data.session!.access_token}` },
        payload: { email: 'new@acme.test', ...challengeOf(verifier) },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      // The first confirmation waits for the second (a page says so); the second hands over the code.
      const toOld = secretsOf(await nextMail(app.sink, 'old@acme.test', since));
      const first = await pressLinkButton(inject, toOld.link);
      assert.equal(first.statusCode, 200);
      const code = await codeFromMail('new@acme.test', since, 'email_change');
      const exchanged = await exchangePkceCode(inject, code, verifier);
      assert.equal(exchanged.statusCode, 200, exchanged.body);
      assert.equal(exchanged.json<{ user: { email: string } }>().user.email, 'new@acme.test');
    });
  });
}
