import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { TestApp } from '../support/app.js';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * Whoever types an address first makes its account, unconfirmed, with the sign-up's `data`
 * (user_metadata) of their choosing: a name, a picture's address (a tracking pixel on every page
 * that shows it), an app's flag such as an organisation id. When the mailbox's owner then signed up
 * (answered as a new account, their own `data` not stored), asked for a magic link, or recovered
 * the password, following the mail retired the squatter's password and sessions but kept the
 * squatter's user_metadata: the owner's proven account, its access tokens and (file store) its
 * data-API record carried what the squatter wrote. Now it goes with the password. A link into an
 * account the same request made (a passwordless sign-up's first magic link) keeps that request's
 * own `data`, as an ordinary sign-up's own confirmation does.
 */

const SQUATTER_DATA = { full_name: 'The Owner', avatar_url: 'https://tracker.test/pixel.png', org_id: 7 };

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`user_metadata a squatter set on an unconfirmed address (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      ({ t, sink } = await startMailingApp({ ...store.config, dialects: { gotrue: {} } }));
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await store.drop();
    });

    const post = (url: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: `/auth/v1${url}`, payload });

    /** The squatter's sign-up of `email` with its data: an unconfirmed account, no session. */
    async function squat(email: string): Promise<void> {
      const since = sink.mails.length;
      const squatted = await post('/signup', { email, password: 'squatter passphrase', data: SQUATTER_DATA });
      assert.equal(squatted.statusCode, 200, squatted.body);
      assert.equal(squatted.json<{ access_token?: string }>().access_token, undefined, 'no session');
      await nextMail(sink, email, since);
    }

    /** Follows the mailed code of `type` to `email`: the user and the metadata its access token carries. */
    async function follow(type: string, email: string, code: string) {
      const verified = await post('/verify', { type, email, token: code });
      assert.equal(verified.statusCode, 200, verified.body);
      const session = verified.json<{ access_token: string; user: { user_metadata: unknown } }>();
      return { userMetadata: session.user.user_metadata, claims: decodeJwt(session.access_token) };
    }

    it("the owner's own sign-up, confirmed, keeps none of the squatter's data", async () => {
      const email = 'signup-owner@acme.test';
      await squat(email);
      // After the resend interval the owner's sign-up mails the confirmation again (within it, the
      // squatter's own mail is what the owner gets, and it retires alike: see the contested mark).
      t.advance(61_000);
      const since = sink.mails.length;
      const signUp = await post('/signup', {
        email,
        password: 'owner passphrase',
        data: { full_name: 'Me' },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      const { code } = secretsOf(await nextMail(sink, email, since));
      const { userMetadata, claims } = await follow('signup', email, code);
      assert.deepEqual(userMetadata, {});
      assert.deepEqual(claims['user_metadata'], {}, 'nor does its access token');
      const stored = await t.services.store.findUserByEmail(email);
      assert.deepEqual(stored?.profile, {}, 'nor the stored account');
    });

    it('a magic link the owner asks for keeps none of the data of the account /otp made for a squatter', async () => {
      const email = 'otp-owner@acme.test';
      const squatted = await post('/otp', { email, data: SQUATTER_DATA });
      assert.equal(squatted.statusCode, 200, squatted.body);
      await nextMail(sink, email, 0);
      // The owner's own request, once the resend interval is over: its mail is the one followed.
      t.advance(61_000);
      const since = sink.mails.length;
      assert.equal((await post('/otp', { email })).statusCode, 200);
      const { code } = secretsOf(await nextMail(sink, email, since));
      assert.deepEqual((await follow('magiclink', email, code)).userMetadata, {});
    });

    it("the owner's /otp within the resend interval contests the account: the squatter's own link keeps none of its data", async () => {
      const email = 'otp-throttled-owner@acme.test';
      const squatted = await post('/otp', { email, data: SQUATTER_DATA });
      assert.equal(squatted.statusCode, 200, squatted.body);
      const { code } = secretsOf(await nextMail(sink, email, 0));
      // The owner asks at once: throttled, nothing mailed; the squatter's mail is the one in the inbox.
      assert.equal((await post('/otp', { email })).statusCode, 200);
      assert.deepEqual((await follow('magiclink', email, code)).userMetadata, {});
      const stored = await t.services.store.findUserByEmail(email);
      assert.deepEqual(stored?.profile, {}, 'nor the stored account');
    });

    it('the hosted recovery form, confirming the account, keeps none of the squatter’s data', async () => {
      const email = 'form-owner@acme.test';
      await squat(email);
      t.advance(61_000);
      const since = sink.mails.length;
      assert.equal((await post('/recover', { email })).statusCode, 200);
      const { link } = secretsOf(await nextMail(sink, email, since));
      const submitted = await t.app.inject({
        method: 'POST',
        url: `/auth/v1/verify?type=recovery&token=${new URL(link).searchParams.get('token')}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'password=owner+passphrase&password_confirm=owner+passphrase',
      });
      assert.ok(submitted.statusCode < 400, submitted.body);
      const stored = await t.services.store.findUserByEmail(email);
      assert.notEqual(stored?.emailConfirmedAt, null, 'confirmed');
      assert.deepEqual(stored?.profile, {});
    });

    it("a sign-up's own confirmation, and a passwordless sign-up's own link, keep its data", async () => {
      const own = 'own-signup@acme.test';
      let since = sink.mails.length;
      assert.equal(
        (await post('/signup', { email: own, password: 'a passphrase', data: { a: 1 } })).statusCode,
        200,
      );
      let { code } = secretsOf(await nextMail(sink, own, since));
      assert.deepEqual((await follow('signup', own, code)).userMetadata, { a: 1 });

      const passwordless = 'own-otp@acme.test';
      since = sink.mails.length;
      assert.equal((await post('/otp', { email: passwordless, data: { b: 2 } })).statusCode, 200);
      ({ code } = secretsOf(await nextMail(sink, passwordless, since)));
      assert.deepEqual((await follow('magiclink', passwordless, code)).userMetadata, { b: 2 });
    });
  });
}
