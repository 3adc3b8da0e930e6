import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import type { SinkMail, SmtpSink } from '../support/smtp-sink.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * A squatter signs up with the victim's address (unconfirmed); the victim signs up within the
 * resend interval (60 s). The address is taken, so the look-alike answer comes and the confirmation
 * is asked again, but throttled: no mail goes out, and the only mail in the victim's inbox is the
 * one the squatter's sign-up asked for. Following it kept the squatter's password in the account
 * the victim then used. A second sign-up now marks the account: whichever confirmation is followed
 * next (that earlier mail, or one a resend mails later) retires the password from before.
 */

const VICTIM_PASSWORD = 'victim passphrase';
const SQUATTER_PASSWORD = 'squatter passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a second sign-up within the resend interval, where a squatter holds the address (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {} } });

    const post = (url: string, payload: Record<string, unknown>) =>
      app.t.app.inject({ method: 'POST', url, payload });
    const signUp = async (email: string, password: string) => {
      const answer = await post('/auth/v1/signup', { email, password });
      assert.equal(answer.statusCode, 200, answer.body);
    };
    const follow = async (mail: SinkMail) => {
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'signup', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
    };
    const signIn = (email: string, password: string) =>
      post('/auth/v1/token?grant_type=password', { email, password });
    const mailsTo = (email: string) => app.sink.mails.filter((m) => m.to === email);

    it("the squatter's confirmation, followed by the owner, retires the squatter's password", async () => {
      await signUp('owner@acme.test', SQUATTER_PASSWORD);
      const squattersMail = await app.sink.waitForMail((m) => m.to === 'owner@acme.test', 5000);
      app.t.advance(10_000);
      await signUp('owner@acme.test', VICTIM_PASSWORD);
      await app.t.services.idle();
      // Throttled: the owner's sign-up mailed nothing more (no mail bombing through sign-ups).
      assert.equal(mailsTo('owner@acme.test').length, 1);

      await follow(squattersMail);
      const squatter = await signIn('owner@acme.test', SQUATTER_PASSWORD);
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
      assert.equal(squatter.json<{ error_code: string }>().error_code, 'invalid_credentials');
    });

    it('a confirmation resent after the interval retires it too', async () => {
      await signUp('later@acme.test', SQUATTER_PASSWORD);
      await app.sink.waitForMail((m) => m.to === 'later@acme.test', 5000);
      app.t.advance(10_000);
      await signUp('later@acme.test', VICTIM_PASSWORD);
      await app.t.services.idle();
      app.t.advance(61_000);
      const resent = await post('/auth/v1/resend', { type: 'signup', email: 'later@acme.test' });
      assert.equal(resent.statusCode, 200, resent.body);
      const resentMail = await app.sink.waitForMail(
        (m) => m.to === 'later@acme.test' && mailsTo('later@acme.test').indexOf(m) === 1,
        5000,
      );
      await follow(resentMail);
      const squatter = await signIn('later@acme.test', SQUATTER_PASSWORD);
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });

    it("a ban committed after the confirmation spent the mark: refused, and the same link retires the squatter's password once lifted", async () => {
      await signUp('banned@acme.test', SQUATTER_PASSWORD);
      const squattersMail = await app.sink.waitForMail((m) => m.to === 'banned@acme.test', 5000);
      app.t.advance(10_000);
      await signUp('banned@acme.test', VICTIM_PASSWORD);
      await app.t.services.idle();
      const { id } = (await app.t.services.store.findUserByEmail('banned@acme.test'))!;
      const ban = (banDuration: string) => app.t.services.admin.updateUser(LOCAL_CALL, id, { banDuration });
      const token = new URL(secretsOf(squattersMail).link).searchParams.get('token');
      const verify = () => post('/auth/v1/verify', { type: 'signup', token_hash: token });
      // The link's spend, then the mark's: the ban commits after the second, before the password goes.
      const refused = await commitAfterRead(
        app.t.services.store,
        () => ban('24h'),
        ['consumeOneTimeToken'],
        verify,
        2,
      );
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(refused.json<{ error_code: string }>().error_code, 'user_banned');
      await ban('none');
      const followed = await verify();
      assert.equal(followed.statusCode, 200, followed.body);
      // The mark spent for good, the link confirmed the account with the squatter's password kept.
      const squatter = await signIn('banned@acme.test', SQUATTER_PASSWORD);
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });

    it('a sign-up nobody contested keeps its password once confirmed', async () => {
      await signUp('alone@acme.test', VICTIM_PASSWORD);
      await follow(await app.sink.waitForMail((m) => m.to === 'alone@acme.test', 5000));
      const owner = await signIn('alone@acme.test', VICTIM_PASSWORD);
      assert.equal(owner.statusCode, 200, owner.body);
    });
  });
}

/**
 * The other dialects beside GoTrue, naming a taken address, answer as for a new one ("Email not
 * confirmed", no session). The owner refused there asks GoTrue to resend the confirmation: it said
 * nothing of the squatter, and following it kept the squatter's password. Such a sign-up marks the
 * account too.
 */
describe('an owner signing up in another dialect, then confirming by a resend', () => {
  let t: TestApp;
  let sink: SmtpSink;

  before(async () => {
    ({ t, sink } = await startMailingApp({
      dialects: { gotrue: {}, jsonDataServer: {}, jsonServerAuth: { enabled: true }, postgrestAuth: {} },
    }));
  });
  after(() => stopMailingApp(t, sink));

  const SIGN_UPS = [
    { dialect: 'json-data-server', url: '/auth/register', payload: { username: 'owner1' } },
    { dialect: 'json-server-auth', url: '/register', payload: {} },
    { dialect: 'postgrest-auth', url: '/auth/users', payload: { username: 'owner3' } },
  ];
  for (const [index, signUp] of SIGN_UPS.entries()) {
    it(`${signUp.dialect}: the resent confirmation retires the squatter's password`, async () => {
      const email = `owner${index}@acme.test`;
      const post = (url: string, payload: Record<string, unknown>) =>
        t.app.inject({ method: 'POST', url, payload });
      const squat = await post('/auth/v1/signup', { email, password: SQUATTER_PASSWORD });
      assert.equal(squat.statusCode, 200, squat.body);
      await sink.waitForMail((m) => m.to === email, 5000);

      const refused = await post(signUp.url, { ...signUp.payload, email, password: VICTIM_PASSWORD });
      assert.equal(refused.statusCode, 400, refused.body);
      assert.doesNotMatch(refused.body, /eyJ/u, 'no token in the answer');
      await t.services.idle();
      t.advance(61_000);
      const resent = await post('/auth/v1/resend', { type: 'signup', email });
      assert.equal(resent.statusCode, 200, resent.body);
      const mail = await sink.waitForMail(
        (m) => m.to === email && sink.mails.filter((n) => n.to === email).indexOf(m) === 1,
        5000,
      );
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'signup', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      const squatter = await post('/auth/v1/token?grant_type=password', {
        email,
        password: SQUATTER_PASSWORD,
      });
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });
  }
});
