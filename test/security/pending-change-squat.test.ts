import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * An email change waits for its mails to be followed; meanwhile another path could take its
 * address without proving it: postgrest-auth's change_email where nothing is confirmed (set at
 * once, unconfirmed), or a sign-up not yet confirmed. The pending change's owner, following the
 * mail and so proving the mailbox, got 422 email_exists and the address stayed with whoever typed
 * it first. Now a proof beats a claim: the unconfirmed holder gives the address up (its mails to
 * it no longer sign it in); an account that confirmed the address first keeps it.
 */

const PASSWORD = 'a real passphrase';
const SQUATTER_PASSWORD = 'the squatter passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a pending email change against an unproven holder of its address (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, {
      signup: { confirmEmail: false },
      dialects: { gotrue: {}, postgrestAuth: {} },
    });

    const post = (url: string, payload: Record<string, unknown>, token?: string) =>
      app.t.app.inject({
        method: url === '/auth/v1/user' ? 'PUT' : 'POST',
        url,
        payload,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });

    /** A GoTrue account (confirmed at once here) asking to move to `target`; resolves with the two mails. */
    async function pendingChange(from: string, target: string) {
      assert.equal((await post('/auth/v1/signup', { email: from, password: PASSWORD })).statusCode, 200);
      const signIn = await post('/auth/v1/token?grant_type=password', { email: from, password: PASSWORD });
      assert.equal(signIn.statusCode, 200, signIn.body);
      const since = app.sink.mails.length;
      const change = await post(
        '/auth/v1/user',
        { email: target },
        signIn.json<{ access_token: string }>().access_token,
      );
      assert.equal(change.statusCode, 200, change.body);
      const changeMail = (to: string) =>
        app.sink.waitForMail(
          (m) => m.to === to && /address/u.test(m.subject) && app.sink.mails.indexOf(m) >= since,
          5000,
        );
      return { toNew: await changeMail(target), toOld: await changeMail(from) };
    }
    const follow = (mail: Parameters<typeof secretsOf>[0]) =>
      post('/auth/v1/verify', {
        type: 'email_change',
        token_hash: new URL(secretsOf(mail).link).searchParams.get('token'),
      });

    it("postgrest-auth's change_email takes the address meanwhile: the owner's confirmation takes it back", async () => {
      const mails = await pendingChange('owner@acme.test', 'wanted@acme.test');
      assert.equal(
        (await post('/auth/users', { username: 'squatter', password: SQUATTER_PASSWORD })).statusCode,
        201,
      );
      const taken = await post('/auth/change_email', {
        username: 'squatter',
        password: SQUATTER_PASSWORD,
        email: 'wanted@acme.test',
      });
      assert.deepEqual([taken.statusCode, taken.json()], [200, { message: 'Email changed' }]);

      assert.equal((await follow(mails.toOld)).statusCode, 200);
      const confirmed = await follow(mails.toNew);
      assert.equal(confirmed.statusCode, 200, confirmed.body);
      const owner = await app.t.services.store.findUserByEmail('wanted@acme.test');
      assert.notEqual(owner?.username, 'squatter');
      assert.notEqual(owner?.emailConfirmedAt ?? null, null);
      assert.equal((await app.t.services.store.findUserByUsername('squatter'))?.email, null);
      // The squatter's password does not sign in by the address; the owner's does.
      const squatter = await post('/auth/refresh_token', {
        username: 'wanted@acme.test',
        password: SQUATTER_PASSWORD,
      });
      const signIn = await post('/auth/v1/token?grant_type=password', {
        email: 'wanted@acme.test',
        password: PASSWORD,
      });
      assert.equal(signIn.statusCode, 200, signIn.body);
      assert.equal(signIn.json<{ user: { id: string } }>().user.id, owner?.id);
      assert.equal(squatter.statusCode, 400, squatter.body);
    });

    it('an address another account confirmed first stays with it: the later confirmation is email_exists', async () => {
      const mails = await pendingChange('second@acme.test', 'first@acme.test');
      // Confirmed at once (signup.confirmEmail false): the first proof there is, as GoTrue's autoconfirm.
      assert.equal(
        (await post('/auth/v1/signup', { email: 'first@acme.test', password: PASSWORD })).statusCode,
        200,
      );
      assert.equal((await follow(mails.toOld)).statusCode, 200);
      const late = await follow(mails.toNew);
      assert.equal(late.statusCode, 422, late.body);
      assert.equal(late.json<{ error_code: string }>().error_code, 'email_exists');
      assert.equal(
        (await app.t.services.store.findUserByEmail('second@acme.test'))?.email,
        'second@acme.test',
      );
    });
  });
}

/** Where sign-ups confirm: an unconfirmed sign-up of the address gives it up too, and its own link then signs nobody in. */
describe('a pending email change against an unconfirmed sign-up of its address', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => {
    ({ t, sink } = await startMailingApp({ dialects: { gotrue: {} } }));
  });
  after(() => stopMailingApp(t, sink));

  const post = (url: string, payload: Record<string, unknown>, token?: string) =>
    t.app.inject({
      method: url === '/auth/v1/user' ? 'PUT' : 'POST',
      url,
      payload,
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
  const tokenOf = (mail: Parameters<typeof secretsOf>[0]) =>
    new URL(secretsOf(mail).link).searchParams.get('token');
  const mailTo = (to: string, subject: RegExp, since: number) =>
    sink.waitForMail((m) => m.to === to && subject.test(m.subject) && sink.mails.indexOf(m) >= since, 5000);

  it("the owner's confirmation takes the address; the sign-up's link then answers otp_expired", async () => {
    let since = sink.mails.length;
    assert.equal(
      (await post('/auth/v1/signup', { email: 'owner@acme.test', password: PASSWORD })).statusCode,
      200,
    );
    const ownerConfirm = await mailTo('owner@acme.test', /Confirm your email/u, since);
    const owner = await post('/auth/v1/verify', { type: 'signup', token_hash: tokenOf(ownerConfirm) });
    assert.equal(owner.statusCode, 200, owner.body);
    const token = owner.json<{ access_token: string }>().access_token;

    since = sink.mails.length;
    assert.equal((await post('/auth/v1/user', { email: 'wanted@acme.test' }, token)).statusCode, 200);
    const toNew = await mailTo('wanted@acme.test', /new email address/u, since);
    const toOld = await mailTo('owner@acme.test', /being changed/u, since);

    since = sink.mails.length;
    const squat = await post('/auth/v1/signup', { email: 'wanted@acme.test', password: SQUATTER_PASSWORD });
    assert.equal(squat.statusCode, 200, squat.body);
    const squatConfirm = await mailTo('wanted@acme.test', /Confirm your email/u, since);

    for (const mail of [toOld, toNew]) {
      const followed = await post('/auth/v1/verify', { type: 'email_change', token_hash: tokenOf(mail) });
      assert.equal(followed.statusCode, 200, followed.body);
    }
    assert.equal(
      (await t.services.store.findUserByEmail('wanted@acme.test'))?.id,
      owner.json<{ user: { id: string } }>().user.id,
    );
    const late = await post('/auth/v1/verify', { type: 'signup', token_hash: tokenOf(squatConfirm) });
    assert.equal(late.statusCode, 403, late.body);
    assert.equal(late.json<{ error_code: string }>().error_code, 'otp_expired');
  });
});
