import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';

/**
 * postgrest-auth's /auth/change_email beside GoTrue with mail: it needed only the account's
 * password and set the new address at once (unconfirmed). A squatter signed up by name, took the
 * victim's address that way and kept a session: the victim's own sign-up then found the address
 * taken (the look-alike answer, no account of the victim's), and password-reset mails for the
 * squatter's account went to the victim. Now, where addresses are confirmed, change_email mails
 * the new address and the address changes only when that mail is followed.
 */

const PASSWORD = 'a real passphrase';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`postgrest-auth change_email where addresses are confirmed (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {}, postgrestAuth: {} } });

    const post = (url: string, payload: Record<string, unknown>) =>
      app.t.app.inject({ method: 'POST', url, payload });
    const signUpByName = async (username: string) => {
      const answer = await post('/auth/users', { username, password: PASSWORD });
      assert.equal(answer.statusCode, 201, answer.body);
    };

    it("a squatter's change_email takes no address: the owner signs up, confirms and signs in", async () => {
      await signUpByName('mallory');
      const changed = await post('/auth/change_email', {
        username: 'mallory',
        password: PASSWORD,
        email: 'victim@acme.test',
      });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.deepEqual(changed.json(), { message: 'Confirmation mail sent to the new address' });
      assert.equal((await app.t.services.store.findUserByUsername('mallory'))?.email, null);

      const since = app.sink.mails.length;
      const signUp = await post('/auth/v1/signup', {
        email: 'victim@acme.test',
        password: 'victim passphrase',
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      // A new account (the look-alike of a taken address has no identities).
      assert.equal(signUp.json<{ identities: unknown[] }>().identities.length, 1);
      const confirmation = await app.sink.waitForMail(
        (m) =>
          m.to === 'victim@acme.test' &&
          /Confirm your email/u.test(m.subject) &&
          app.sink.mails.indexOf(m) >= since,
        5000,
      );
      const token = new URL(secretsOf(confirmation).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'signup', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      assert.notEqual(
        verified.json<{ user: { id: string } }>().user.id,
        (await app.t.services.store.findUserByUsername('mallory'))?.id,
      );
      const squatter = await post('/auth/v1/token?grant_type=password', {
        email: 'victim@acme.test',
        password: PASSWORD,
      });
      assert.equal(squatter.statusCode, 400, `the squatter's password: ${squatter.body}`);
    });

    it('the address changes when the mail to it is followed', async () => {
      await signUpByName('alice');
      const since = app.sink.mails.length;
      const changed = await post('/auth/change_email', {
        username: 'alice',
        password: PASSWORD,
        email: 'alice@acme.test',
      });
      assert.equal(changed.statusCode, 200, changed.body);
      const mail = await app.sink.waitForMail(
        (m) => m.to === 'alice@acme.test' && app.sink.mails.indexOf(m) >= since,
        5000,
      );
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'email_change', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);
      const alice = await app.t.services.store.findUserByUsername('alice');
      assert.equal(alice?.email, 'alice@acme.test');
      assert.notEqual(alice?.emailConfirmedAt, null);
      // The account's first address, proven by the new side alone: the password that asked for it
      // is retired (its asker could be a squatter, as above, and the follower the address's owner),
      // and the follower, signed in by the mail, sets one.
      const retired = await post('/auth/refresh_token', { username: 'alice@acme.test', password: PASSWORD });
      assert.equal(retired.statusCode, 400, retired.body);
      const set = await app.t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${verified.json<{ access_token: string }>().access_token}` },
        payload: { password: 'alice’s new passphrase' },
      });
      assert.equal(set.statusCode, 200, set.body);
      const byAddress = await post('/auth/refresh_token', {
        username: 'alice@acme.test',
        password: 'alice’s new passphrase',
      });
      assert.equal(byAddress.statusCode, 200, byAddress.body);
    });

    it("a squatter's change_email to the victim's address: the victim follows it, the squatter's password is retired", async () => {
      await signUpByName('malloryfirst');
      const squatter = await post('/auth/refresh_token', { username: 'malloryfirst', password: PASSWORD });
      assert.equal(squatter.statusCode, 200, squatter.body);
      const since = app.sink.mails.length;
      const changed = await post('/auth/change_email', {
        username: 'malloryfirst',
        password: PASSWORD,
        email: 'victim.first@acme.test',
      });
      assert.equal(changed.statusCode, 200, changed.body);
      const mail = await app.sink.waitForMail(
        (m) => m.to === 'victim.first@acme.test' && app.sink.mails.indexOf(m) >= since,
        5000,
      );
      // The victim follows it, signed in by it to the account the address now names.
      const token = new URL(secretsOf(mail).link).searchParams.get('token');
      const verified = await post('/auth/v1/verify', { type: 'email_change', token_hash: token });
      assert.equal(verified.statusCode, 200, verified.body);

      for (const username of ['malloryfirst', 'victim.first@acme.test']) {
        const again = await post('/auth/refresh_token', { username, password: PASSWORD });
        assert.equal(again.statusCode, 400, `the squatter's password by ${username}: ${again.body}`);
      }
    });

    it('an address another account holds is refused, as before', async () => {
      await signUpByName('bob');
      const held = await post('/auth/v1/signup', { email: 'held@acme.test', password: PASSWORD });
      assert.equal(held.statusCode, 200, held.body);
      const changed = await post('/auth/change_email', {
        username: 'bob',
        password: PASSWORD,
        email: 'held@acme.test',
      });
      assert.equal(changed.statusCode, 400, changed.body);
      assert.equal(changed.json<{ error: string }>().error, 'email_exists');
    });
  });
}

/**
 * Where addresses are not confirmed (postgrest-auth's own config: nothing to prove one with),
 * change_email keeps postgrest-auth's contract and sets the address at once, but never one that
 * another account holds, confirmed or not, in any spelling.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`postgrest-auth change_email where addresses are not confirmed (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, {
      dialects: { postgrestAuth: {} },
      signup: { confirmEmail: false },
    });

    const post = (url: string, payload: Record<string, unknown>) =>
      app.t.app.inject({ method: 'POST', url, payload });

    it('sets a free address at once and refuses one another account holds unconfirmed', async () => {
      const holder = await post('/auth/users', {
        username: 'holder',
        password: PASSWORD,
        email: 'kept@acme.test',
      });
      assert.equal(holder.statusCode, 201, holder.body);
      assert.equal((await app.t.services.store.findUserByUsername('holder'))?.emailConfirmedAt, null);
      const taker = await post('/auth/users', { username: 'taker', password: PASSWORD });
      assert.equal(taker.statusCode, 201, taker.body);

      for (const email of ['kept@acme.test', ' KEPT@acme.test ']) {
        const taken = await post('/auth/change_email', { username: 'taker', password: PASSWORD, email });
        assert.equal(taken.statusCode, 400, `${email}: ${taken.body}`);
        assert.equal(taken.json<{ error: string }>().error, 'email_exists');
      }
      const free = await post('/auth/change_email', {
        username: 'taker',
        password: PASSWORD,
        email: 'free@acme.test',
      });
      assert.deepEqual([free.statusCode, free.json()], [200, { message: 'Email changed' }]);
      assert.equal((await app.t.services.store.findUserByUsername('taker'))?.email, 'free@acme.test');
      assert.equal((await app.t.services.store.findUserByUsername('holder'))?.email, 'kept@acme.test');
    });
  });
}
