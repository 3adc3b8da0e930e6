import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { gotrueClient, nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { useGithubApp } from '../support/oauth-app.js';
import { githubAccount, type OAuth2Server } from '../support/oauth2-server.js';
import { followRedirects } from '../support/oidc-provider.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * A ban (GoTrue's banned_until) refuses the sign-in, the refresh and every authenticated request;
 * the side doors to an account must refuse it alike, before they write anything. The hosted
 * recovery form set a banned user's password; an email change's confirmation moved a banned
 * account to a new address; postgrest-auth's change_password (json-data-server's too) stored the
 * new password before its session was refused, and change_email changed the address. A user
 * deleted after a link was mailed is gone for every door too. Each door is tried for real, with the
 * mailed secrets from the SMTP sink, and the account checked afterwards with the ban lifted.
 * Through GitHub (a real OAuth2 server): a link the user started before the ban linked the identity
 * at the callback; a banned account was joined by GitHub's verified address, and its sign-in wrote
 * GitHub's data into the account, each before the ban refused the session.
 */

const PASSWORD = 'the owner passphrase';
const NEW_PASSWORD = 'a banned user passphrase';
const OAUTH_APP = 'https://app.test';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a banned or deleted user's side doors (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let admin: Record<string, string>;

    before(async () => {
      store = await suiteStore(storeKind);
      ({ t, sink } = await startMailingApp({ ...store.config, dialects: { gotrue: {}, postgrestAuth: {} } }));
      const serviceToken = await serviceTokenOf(t);
      admin = { authorization: `Bearer ${serviceToken}` };
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await store.drop();
    });

    const post = (url: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url, payload });
    const gotrue = (url: string, payload: Record<string, unknown>) => post(`/auth/v1${url}`, payload);

    async function setBan(id: string, duration: '24h' | 'none'): Promise<void> {
      const answer = await t.app.inject({
        method: 'PUT',
        url: `/auth/v1/admin/users/${id}`,
        headers: admin,
        payload: { ban_duration: duration },
      });
      assert.equal(answer.statusCode, 200, answer.body);
    }

    async function deleteUser(id: string): Promise<void> {
      const answer = await t.app.inject({
        method: 'DELETE',
        url: `/auth/v1/admin/users/${id}`,
        headers: admin,
      });
      assert.equal(answer.statusCode, 200, answer.body);
    }

    /** What `route` mailed to `email`: the link's token and the code. */
    async function mailed(route: '/recover' | '/otp', email: string) {
      const since = sink.mails.length;
      assert.equal((await gotrue(route, { email })).statusCode, 200);
      const { code, link } = secretsOf(await nextMail(sink, email, since));
      return { code, linkToken: new URL(link).searchParams.get('token')! };
    }

    /** The account as its owner finds it once the ban is lifted: signed in with `password`. */
    async function afterTheBan(id: string, email: string, password = PASSWORD) {
      await setBan(id, 'none');
      const signIn = await gotrue('/token?grant_type=password', { email, password });
      assert.equal(signIn.statusCode, 200, `the account is as it was: ${signIn.body}`);
      return signIn.json<{ user: { email: string } }>().user;
    }

    /** GoTrue answers user_banned 403; postgrest-auth answers every refusal 400, naming it. */
    function assertBanned(answer: { statusCode: number; body: string }, status = 403): void {
      assert.equal(answer.statusCode, status, answer.body);
      assert.match(answer.body, /user_banned/u);
    }
    const POSTGREST_AUTH = 400;

    const submitRecoveryForm = (linkToken: string) =>
      t.app.inject({
        method: 'POST',
        url: `/auth/v1/verify?type=recovery&token=${linkToken}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `password=${encodeURIComponent(NEW_PASSWORD)}&password_confirm=${encodeURIComponent(NEW_PASSWORD)}`,
      });

    it('the hosted recovery form sets no password for a banned user, and its link stays unspent', async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'form@banned.test', PASSWORD);
      const recovery = await mailed('/recover', user.email);
      await setBan(user.id, '24h');
      // The form comes back with the reason (a page, not JSON).
      const refused = await submitRecoveryForm(recovery.linkToken);
      assert.equal(refused.statusCode, 403, refused.body);
      assert.match(refused.body, /role="alert"[^>]*>User is banned</u);
      await afterTheBan(user.id, user.email);
      // The refusal spent nothing (GoTrue's /verify rolls back): once the ban is lifted, the same link
      // sets the password. It was spent by the refusal before (expired or was already used).
      const lifted = await submitRecoveryForm(recovery.linkToken);
      assert.equal(lifted.statusCode, 200, lifted.body);
      await afterTheBan(user.id, user.email, NEW_PASSWORD);
    });

    it("an email change's confirmations do not move a banned account", async () => {
      const session = await confirmedGotrueAccount(t, sink, 'move@banned.test', PASSWORD);
      const since = sink.mails.length;
      const asked = await t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${session.access_token}` },
        payload: { email: 'move@elsewhere.test' },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const toOld = secretsOf(await nextMail(sink, 'move@banned.test', since));
      const toNew = secretsOf(await nextMail(sink, 'move@elsewhere.test', since));
      await setBan(session.user.id, '24h');
      assertBanned(
        await gotrue('/verify', { type: 'email_change', email: 'move@banned.test', token: toOld.code }),
      );
      assertBanned(
        await gotrue('/verify', { type: 'email_change', email: 'move@elsewhere.test', token: toNew.code }),
      );
      assert.equal((await afterTheBan(session.user.id, 'move@banned.test')).email, 'move@banned.test');
    });

    it("an email change's codes refused for a ban stay unspent, and move the account once it is lifted", async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'later@banned.test', PASSWORD);
      const since = sink.mails.length;
      // Asked with the password (no session, which the ban would end, and the change with it).
      const asked = await post('/auth/change_email', {
        username: user.email,
        password: PASSWORD,
        email: 'later@elsewhere.test',
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const toOld = secretsOf(await nextMail(sink, 'later@banned.test', since));
      const toNew = secretsOf(await nextMail(sink, 'later@elsewhere.test', since));
      const confirm = (email: string, token: string) =>
        gotrue('/verify', { type: 'email_change', email, token });
      await setBan(user.id, '24h');
      assertBanned(await confirm('later@banned.test', toOld.code));
      assertBanned(await confirm('later@elsewhere.test', toNew.code));
      assert.equal((await afterTheBan(user.id, 'later@banned.test')).email, 'later@banned.test');
      // Spent by the refusals before: otp_expired, and the account stayed where it was.
      const first = await confirm('later@banned.test', toOld.code);
      assert.equal(first.statusCode, 200, first.body);
      const second = await confirm('later@elsewhere.test', toNew.code);
      assert.equal(second.statusCode, 200, second.body);
      assert.equal((await afterTheBan(user.id, 'later@elsewhere.test')).email, 'later@elsewhere.test');
    });

    it("postgrest-auth's change_password with the current password stores nothing for a banned user", async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'change@banned.test', PASSWORD);
      await setBan(user.id, '24h');
      assertBanned(
        await post('/auth/change_password', {
          username: user.email,
          current_password: PASSWORD,
          new_password: NEW_PASSWORD,
          new_password_confirm: NEW_PASSWORD,
        }),
        POSTGREST_AUTH,
      );
      await afterTheBan(user.id, user.email);
    });

    it("postgrest-auth's change_email does not move a banned account", async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'email@banned.test', PASSWORD);
      await setBan(user.id, '24h');
      const since = sink.mails.length;
      assertBanned(
        await post('/auth/change_email', {
          username: user.email,
          password: PASSWORD,
          email: 'email@elsewhere.test',
        }),
        POSTGREST_AUTH,
      );
      assert.equal((await afterTheBan(user.id, user.email)).email, user.email);
      assert.equal(
        sink.mails.slice(since).some((mail) => mail.to.includes('email@elsewhere.test')),
        false,
        'nothing mailed to the new address',
      );
    });

    it('a magic link, a recovery link and a reset token sign no banned user in, and stay unspent', async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'shut@banned.test', PASSWORD);
      const magic = await mailed('/otp', user.email);
      const recovery = await mailed('/recover', user.email);
      await setBan(user.id, '24h');
      const resetWith = (resetToken: string) =>
        post('/auth/change_password', {
          username: user.email,
          reset_token: resetToken,
          new_password: NEW_PASSWORD,
          new_password_confirm: NEW_PASSWORD,
        });
      assertBanned(await gotrue('/verify', { type: 'magiclink', email: user.email, token: magic.code }));
      assertBanned(await gotrue('/verify', { type: 'recovery', token_hash: recovery.linkToken }));
      assertBanned(await gotrue('/verify', { type: 'recovery', email: user.email, token: recovery.code }));
      assertBanned(await resetWith(recovery.linkToken), POSTGREST_AUTH);
      await afterTheBan(user.id, user.email);
      // Refused for the ban, nothing was spent (GoTrue's /verify rolls back): the same code signs in and
      // the same reset token sets the password, where both were dead (otp_expired) before.
      const magicLifted = await gotrue('/verify', {
        type: 'magiclink',
        email: user.email,
        token: magic.code,
      });
      assert.equal(magicLifted.statusCode, 200, magicLifted.body);
      const resetLifted = await resetWith(recovery.linkToken);
      assert.equal(resetLifted.statusCode, 200, resetLifted.body);
      await afterTheBan(user.id, user.email, NEW_PASSWORD);
    });

    it('a recovery link refused because the account left its address stays unspent: it works once back', async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'away@moved.test', PASSWORD);
      const recovery = await mailed('/recover', user.email);
      const moveTo = async (email: string) => {
        const answer = await t.app.inject({
          method: 'PUT',
          url: `/auth/v1/admin/users/${user.id}`,
          headers: admin,
          payload: { email, email_confirm: true },
        });
        assert.equal(answer.statusCode, 200, answer.body);
      };
      const follow = () => gotrue('/verify', { type: 'recovery', token_hash: recovery.linkToken });
      await moveTo('away@elsewhere.test');
      const refused = await follow();
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(refused.json<{ error_code: string }>().error_code, 'otp_expired');
      await moveTo(user.email);
      // Not the link's own fault: refused, it was not spent (it was, before).
      const back = await follow();
      assert.equal(back.statusCode, 200, back.body);
    });

    it('a user deleted after the mail: its links and codes open nothing', async () => {
      const { user } = await confirmedGotrueAccount(t, sink, 'gone@deleted.test', PASSWORD);
      const magic = await mailed('/otp', user.email);
      const recovery = await mailed('/recover', user.email);
      await deleteUser(user.id);
      const byCode = await gotrue('/verify', { type: 'magiclink', email: user.email, token: magic.code });
      assert.equal(byCode.statusCode, 403, byCode.body);
      const byForm = await submitRecoveryForm(recovery.linkToken);
      assert.equal(byForm.statusCode, 403, byForm.body);
      const signIn = await gotrue('/token?grant_type=password', {
        email: user.email,
        password: NEW_PASSWORD,
      });
      assert.equal(signIn.statusCode, 400, signIn.body);
    });
  });
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a banned user's OAuth doors (${storeKind} store)`, () => {
    const started = useGithubApp(storeKind, {
      siteUrl: OAUTH_APP,
      signup: { confirmEmail: false },
      identities: { manualLinking: true, implicitLinking: true },
    });
    let t: TestApp;
    let url: string;
    let github: OAuth2Server;
    before(() => ({ t, url, provider: github } = started.app));

    const ban = (id: string) =>
      t.services.store.updateUser(id, { bannedUntil: new Date(Date.now() + 86_400_000) });

    /** Where GitHub's sign-in as `account` lands the browser, and the error code it carries. */
    async function landing(startUrl: string, account: ReturnType<typeof githubAccount>) {
      github.signInAs(account);
      const landed = await followRedirects(startUrl, OAUTH_APP);
      const errorCode =
        landed.searchParams.get('error_code') ?? new URLSearchParams(landed.hash.slice(1)).get('error_code');
      return { landed, errorCode };
    }

    async function signInWithGithub(account: ReturnType<typeof githubAccount>) {
      const started = await gotrueClient(url).client.signInWithOAuth({
        provider: 'github',
        options: { redirectTo: `${OAUTH_APP}/welcome`, skipBrowserRedirect: true },
      });
      assert.equal(started.error, null);
      return landing(started.data.url!, account);
    }

    it('a link started before the ban links nothing at the callback', async () => {
      const { client } = gotrueClient(url);
      const signUp = await client.signUp({ email: 'link@banned.test', password: PASSWORD });
      assert.equal(signUp.error, null);
      const started = await client.linkIdentity({
        provider: 'github',
        options: { redirectTo: `${OAUTH_APP}/settings`, skipBrowserRedirect: true },
      });
      assert.equal(started.error, null);
      await ban(signUp.data.user!.id);
      const { landed, errorCode } = await landing(
        started.data.url!,
        githubAccount(8101, 'link-gh', 'x@github.test'),
      );
      assert.equal(errorCode, 'user_banned', landed.href);
      assert.equal(await t.services.store.findIdentity('github', '8101'), null, 'no identity linked');
    });

    it("GitHub's verified address joins no banned account", async () => {
      const { client } = gotrueClient(url);
      const signUp = await client.signUp({ email: 'join@banned.test', password: PASSWORD });
      assert.equal(signUp.error, null);
      await ban(signUp.data.user!.id);
      const { landed, errorCode } = await signInWithGithub(
        githubAccount(8102, 'join-gh', 'join@banned.test'),
      );
      assert.equal(errorCode, 'user_banned', landed.href);
      assert.equal(await t.services.store.findIdentity('github', '8102'), null, 'no identity joined');
    });

    it("a banned user's GitHub sign-in writes nothing of GitHub's into the account", async () => {
      const first = await signInWithGithub(githubAccount(8103, 'before-gh', 'own@banned.test'));
      assert.equal(first.errorCode, null, first.landed.href);
      const user = (await t.services.store.findUserByEmail('own@banned.test'))!;
      await ban(user.id);
      const { landed, errorCode } = await signInWithGithub(
        githubAccount(8103, 'after-gh', 'own@banned.test'),
      );
      assert.equal(errorCode, 'user_banned', landed.href);
      const after = (await t.services.store.findUserById(user.id))!;
      assert.deepEqual(after.profile, user.profile, 'user_metadata as before the ban');
    });

    it("a ban committed after the sign-in read the account writes nothing of GitHub's into it", async () => {
      const first = await signInWithGithub(githubAccount(8104, 'raced-gh', 'raced@banned.test'));
      assert.equal(first.errorCode, null, first.landed.href);
      const user = (await t.services.store.findUserByEmail('raced@banned.test'))!;
      // The interleaving is made: the identity's refresh (the store's last answer before the
      // metadata merge) returns only once the ban has committed.
      const storeMethods = t.services.store as unknown as Record<
        string,
        (...args: unknown[]) => Promise<unknown>
      >;
      const linkIdentity = storeMethods.linkIdentity!;
      storeMethods.linkIdentity = async (...args) => {
        storeMethods.linkIdentity = linkIdentity;
        const linked = await linkIdentity.apply(t.services.store, args);
        await ban(user.id);
        return linked;
      };
      try {
        const { landed, errorCode } = await signInWithGithub(
          githubAccount(8104, 'renamed-gh', 'raced@banned.test'),
        );
        assert.equal(
          storeMethods.linkIdentity,
          linkIdentity,
          'the sign-in refreshed its identity (the ban was made)',
        );
        assert.equal(errorCode, 'user_banned', landed.href);
      } finally {
        storeMethods.linkIdentity = linkIdentity;
      }
      const after = (await t.services.store.findUserById(user.id))!;
      assert.deepEqual(after.profile, user.profile, 'user_metadata as before the ban');
    });
  });
}
