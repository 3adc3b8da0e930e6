import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import { serviceTokenOf } from '../support/service-token.js';

/**
 * An attacker holds an unconfirmed account with the victim's address, signed up with it through
 * GoTrue (postgrest-auth's /auth/change_email, which once set an address at once, now mails it:
 * change-email-squat.test.ts). The victim signs up; the address is taken, so GoTrue's look-alike
 * answer comes and the existing account's confirmation is mailed again, to the victim, who follows
 * it. That confirmed the attacker's account: the victim worked in it while the attacker's password
 * (and session) still signed in.
 * Now a confirmation another sign-up asked for, a magic link or an invitation into the unconfirmed
 * account retires the password and sessions from before.
 */

const VICTIM_PASSWORD = 'victim passphrase';
const ATTACKER_PASSWORD = 'attacker passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`the owner of an address signing up where an attacker holds it unconfirmed (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {}, postgrestAuth: {} } });

    const post = (url: string, payload: Record<string, unknown>, token?: string) =>
      app.t.app.inject({
        method: 'POST',
        url,
        payload,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });

    /** The victim signs up and follows the confirmation mailed after it; returns the account confirmed. */
    async function victimSignsUpAndConfirms(email: string): Promise<string> {
      const since = app.sink.mails.length;
      const signUp = await post('/auth/v1/signup', { email, password: VICTIM_PASSWORD });
      assert.equal(signUp.statusCode, 200, signUp.body);
      const mail = await app.sink.waitForMail(
        (m) => m.to === email && /Confirm your email/u.test(m.subject) && app.sink.mails.indexOf(m) >= since,
        5000,
      );
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'signup', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      return verified.json<{ user: { id: string } }>().user.id;
    }

    it('GoTrue: an unconfirmed sign-up of the address loses its password', async () => {
      const squat = await post('/auth/v1/signup', { email: 'owner@acme.test', password: ATTACKER_PASSWORD });
      assert.equal(squat.statusCode, 200, squat.body);
      // The squatter's own confirmation went to the owner's mailbox; the owner signs up later (past the
      // resend interval, within which no second confirmation is mailed) and gets another.
      await app.sink.waitForMail((m) => m.to === 'owner@acme.test', 5000);
      app.t.advance(61_000);
      await victimSignsUpAndConfirms('owner@acme.test');
      const squatter = await post('/auth/v1/token?grant_type=password', {
        email: 'owner@acme.test',
        password: ATTACKER_PASSWORD,
      });
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });

    it('GoTrue: a magic link into the unconfirmed account retires its password', async () => {
      const squat = await post('/auth/v1/signup', { email: 'magic@acme.test', password: ATTACKER_PASSWORD });
      assert.equal(squat.statusCode, 200, squat.body);
      const since = app.sink.mails.length;
      assert.equal((await post('/auth/v1/otp', { email: 'magic@acme.test' })).statusCode, 200);
      const mail = await app.sink.waitForMail(
        (m) => m.to === 'magic@acme.test' && /sign-in/u.test(m.subject) && app.sink.mails.indexOf(m) >= since,
        5000,
      );
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'magiclink', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      const squatter = await post('/auth/v1/token?grant_type=password', {
        email: 'magic@acme.test',
        password: ATTACKER_PASSWORD,
      });
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });

    it('GoTrue: an invitation into the unconfirmed account retires its password', async () => {
      const squat = await post('/auth/v1/signup', {
        email: 'invited@acme.test',
        password: ATTACKER_PASSWORD,
      });
      assert.equal(squat.statusCode, 200, squat.body);
      const service = await serviceTokenOf(app.t);
      const invited = await post('/auth/v1/invite', { email: 'invited@acme.test' }, service);
      assert.equal(invited.statusCode, 200, invited.body);
      const mail = await app.sink.waitForMail(
        (m) => m.to === 'invited@acme.test' && /invited/u.test(m.subject),
        5000,
      );
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'invite', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      const squatter = await post('/auth/v1/token?grant_type=password', {
        email: 'invited@acme.test',
        password: ATTACKER_PASSWORD,
      });
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });

    it("the address's own sign-up confirmed keeps its password", async () => {
      const signUp = await post('/auth/v1/signup', { email: 'plain@acme.test', password: VICTIM_PASSWORD });
      assert.equal(signUp.statusCode, 200, signUp.body);
      const mail = await app.sink.waitForMail((m) => m.to === 'plain@acme.test', 5000);
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      assert.equal((await post('/auth/v1/verify', { type: 'signup', token_hash: token })).statusCode, 200);
      const signIn = await post('/auth/v1/token?grant_type=password', {
        email: 'plain@acme.test',
        password: VICTIM_PASSWORD,
      });
      assert.equal(signIn.statusCode, 200, signIn.body);
    });
  });
}
