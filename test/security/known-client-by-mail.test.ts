import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import type { TestApp } from '../support/app.js';

/**
 * The per-account password-guess limit exempts a client that signed the account in before (the
 * owner's). An attacker spends the account's wrong passwords; its owner, on a client it never signed
 * in from, gets 429 and signs in by mail instead (a magic link's code, a recovery). From then on that
 * client is the account's known one, whatever proved the account: the owner's next password sign-in
 * from it is not refused. Before, only a password sign-in recorded a known client, so the owner who
 * recovered their account during an attack was still refused their password afterwards. A sign-up
 * that opens a session at once (no confirmation asked) makes its client a known one too, and so does
 * an anonymous account its holder makes permanent by taking an address (no confirmation asked).
 *
 * The mail cases run where addresses are confirmed: where they are not, a magic link or a recovery
 * into an account is its address's first proof, which retires the password its sign-up set (whoever
 * typed the address first; see EmailFlows.retireUnprovenClaims), so no password is left to accept.
 */

const PASSWORD = 'a long passphrase';
const GUESSES = 3;

/** Another attacking client each time: a /64 of its own in one /48. */
let attackers = 0;
const nextAttacker = () => `2001:db8:66:${(++attackers).toString(16)}::1`;

for (const kind of ['file', 'postgres'] as const) {
  describe(
    `a session opened by mail makes its client a known one (${kind} store)`,
    { timeout: 60_000 },
    () => {
      let app: { t: TestApp; sink: SmtpSink };
      /** The same, where addresses are confirmed (its own store). */
      let confirming: { t: TestApp; sink: SmtpSink };
      let stores: Awaited<ReturnType<typeof suiteStore>>[];
      before(async () => {
        stores = [await suiteStore(kind), await suiteStore(kind)];
        const start = (storeConfig: Record<string, unknown>, confirmEmail: boolean) =>
          startMailingApp(
            {
              ...storeConfig,
              signup: { confirmEmail, anonymousUsers: true },
              rateLimits: { passwordGuesses: { max: GUESSES, window: 900 } },
              dialects: { gotrue: {} },
            },
            { RESTAUTH_RATE_LIMITS: '' },
            // The account's window ends only when a test advances the clock: none does.
            { clockStoppedAt: Date.now() },
          );
        app = await start(stores[0]!.config, false);
        confirming = await start(stores[1]!.config, true);
      });
      after(async () => {
        await stopMailingApp(app.t, app.sink);
        await stopMailingApp(confirming.t, confirming.sink);
        for (const store of stores) await store.drop();
      });

      const postTo = (on: { t: TestApp }, url: string, payload: object, remoteAddress: string) =>
        on.t.app.inject({ method: 'POST', url, payload, remoteAddress });
      const post = (url: string, payload: object, remoteAddress: string) =>
        postTo(app, url, payload, remoteAddress);
      const signInTo = (on: { t: TestApp }, email: string, password: string, from: string) =>
        postTo(on, '/auth/v1/token?grant_type=password', { email, password }, from);
      const signIn = (email: string, password: string, from: string) => signInTo(app, email, password, from);

      /** Signs `email` up from `from` (a session at once), then an attacker spends its wrong passwords. */
      async function signedUpThenAttacked(email: string, from: string): Promise<void> {
        const since = app.sink.mails.length;
        const signedUp = await post('/auth/v1/signup', { email, password: PASSWORD }, from);
        assert.equal(signedUp.statusCode, 200, signedUp.body);
        await nextMail(app.sink, email, since); // its welcome: only what the flow mails comes after
        for (let i = 0; i < GUESSES; i++)
          assert.equal((await signIn(email, `guess ${i}`, nextAttacker())).statusCode, 400);
      }

      /**
       * An account of `confirming`, signed up and confirmed from another client than `home`, whose
       * wrong passwords an attacker has all spent: `home`'s sign-in gets 429.
       */
      async function attacked(email: string, home: string): Promise<void> {
        const since = confirming.sink.mails.length;
        const from = nextAttacker();
        const signedUp = await postTo(confirming, '/auth/v1/signup', { email, password: PASSWORD }, from);
        assert.equal(signedUp.statusCode, 200, signedUp.body);
        const { code } = secretsOf(await nextMail(confirming.sink, email, since));
        const confirmed = await postTo(
          confirming,
          '/auth/v1/verify',
          { type: 'signup', email, token: code },
          from,
        );
        assert.equal(confirmed.statusCode, 200, confirmed.body);
        for (let i = 0; i < GUESSES; i++)
          assert.equal((await signInTo(confirming, email, `guess ${i}`, nextAttacker())).statusCode, 400);
        const refused = await signInTo(confirming, email, PASSWORD, home);
        assert.equal(refused.statusCode, 429, `the owner's new client, before the mail: ${refused.body}`);
      }

      /** Asks `url` for a mail to `email` from `home` and verifies its code as `type` from there. */
      async function signInByMail(url: string, type: string, email: string, home: string): Promise<void> {
        const since = confirming.sink.mails.length;
        assert.equal((await postTo(confirming, url, { email }, home)).statusCode, 200);
        const { code } = secretsOf(await nextMail(confirming.sink, email, since));
        const verified = await postTo(confirming, '/auth/v1/verify', { type, email, token: code }, home);
        assert.equal(verified.statusCode, 200, verified.body);
      }

      for (const [way, url, type] of [
        ['a magic link', '/auth/v1/otp', 'magiclink'],
        ['a recovery', '/auth/v1/recover', 'recovery'],
      ] as const) {
        it(`${way}'s session: the owner's password is accepted from that client afterwards`, async () => {
          const email = `owner-${type}-${kind}@acme.test`;
          const home = `2001:db8:${type === 'magiclink' ? 100 : 200}:1::10`;
          await attacked(email, home);
          await signInByMail(url, type, email, home);
          const again = await signInTo(confirming, email, PASSWORD, home);
          assert.equal(again.statusCode, 200, `the owner's password after ${way}: ${again.body}`);
          // Only that client: the attacker's next guess is still refused before any check.
          assert.equal((await signInTo(confirming, email, 'another guess', nextAttacker())).statusCode, 429);
        });
      }

      it("a sign-up's own session (no confirmation asked): its client is a known one", async () => {
        const email = `owner-signup-${kind}@acme.test`;
        const home = '2001:db8:300:1::10';
        await signedUpThenAttacked(email, home);
        const owner = await signIn(email, PASSWORD, home);
        assert.equal(owner.statusCode, 200, `the owner's password from its sign-up's client: ${owner.body}`);
        assert.equal((await signIn(email, PASSWORD, nextAttacker())).statusCode, 429, 'another client');
      });

      it("an anonymous account its holder made permanent: the holder's client is a known one", async () => {
        const email = `owner-anonymous-${kind}@acme.test`;
        const home = '2001:db8:400:1::10';
        const anonymous = await post('/auth/v1/signup', {}, home);
        assert.equal(anonymous.statusCode, 200, anonymous.body);
        const headers = {
          authorization: `Bearer ${anonymous.json<{ access_token: string }>().access_token}`,
        };
        // The address first: an anonymous user without one may not set a password.
        for (const payload of [{ email }, { password: PASSWORD }]) {
          const put = await app.t.app.inject({
            method: 'PUT',
            url: '/auth/v1/user',
            payload,
            headers,
            remoteAddress: home,
          });
          assert.equal(put.statusCode, 200, put.body);
        }
        for (let i = 0; i < GUESSES; i++)
          assert.equal((await signIn(email, `guess ${i}`, nextAttacker())).statusCode, 400);
        const owner = await signIn(email, PASSWORD, home);
        assert.equal(owner.statusCode, 200, `the owner's password from the holder's client: ${owner.body}`);
        assert.equal((await signIn(email, PASSWORD, nextAttacker())).statusCode, 429, 'another client');
      });
    },
  );
}
