import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING, secretsOf } from '../support/gotrue.js';
import { appOnStore, mailingAppOnStore, type AppOnStore } from '../support/mailing-app-on-store.js';

/**
 * postgrest-auth's change_email is licensed by the account's password: it verifies the password (a
 * hash takes milliseconds), then moves the address. The owner, having noticed a thief, changes the
 * password meanwhile; the thief's request, proven by the old password, moved the address all the
 * same, and with it the account's recovery mails. Where addresses confirm, the mailed change the old
 * password asked for lived on too, and its links moved the account after the owner's change. The race
 * is made, not hoped for: the change commits once change_email's lookup has answered
 * (commitAfterRead), before the hash is checked.
 */
const OLD_PASSWORD = 'an old passphrase 1';
const NEW_PASSWORD = 'a new passphrase 22';
const PASSWORD_READS = ['findUserWithPasswordHash', 'getPasswordHash'];

/** An account with a user name, an address (confirmed) and OLD_PASSWORD. */
async function account(app: AppOnStore, name: string) {
  const user = await app.t.services.auth.register(LOCAL_CALL, {
    username: name,
    email: `${name}@corp.test`,
    password: OLD_PASSWORD,
    emailConfirmed: true,
  });
  return { id: user.id, username: name, email: `${name}@corp.test` };
}

/** The owner's change of the password (an administrator's here: every replacement is one write). */
const changePassword = (app: AppOnStore, userId: string) => () =>
  app.t.services.admin.updateUser(LOCAL_CALL, userId, { password: NEW_PASSWORD });

const changeEmail = (app: AppOnStore, username: string, email: string) =>
  app.t.app.inject({
    method: 'POST',
    url: '/pg/change_email',
    payload: { username, password: OLD_PASSWORD, email },
  });

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`change_email setting the address at once, racing a password change (${storeKind} store)`, () => {
    const app = appOnStore(storeKind, {
      passwords: FAST_HASHING,
      signup: { confirmEmail: false },
      dialects: { postgrestAuth: { enabled: true, prefix: '/pg' } },
    });

    it('the old password moves no address once the change has committed', async () => {
      const user = await account(app, 'racer1');
      const raced = await commitAfterRead(
        app.t.services.store,
        changePassword(app, user.id),
        PASSWORD_READS,
        () => changeEmail(app, user.username, 'thief1@evil.test'),
      );
      // A wrong password's answer: by the time the address would move, it is one.
      assert.equal(raced.statusCode, 400, raced.body);
      assert.equal(raced.json().error, 'invalid_credentials');
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, user.email);
    });

    it('a change of something else meanwhile does not refuse it', async () => {
      const user = await account(app, 'steady1');
      const res = await commitAfterRead(
        app.t.services.store,
        () => app.t.services.admin.updateUser(LOCAL_CALL, user.id, { profile: { name: 'Steady' } }),
        PASSWORD_READS,
        () => changeEmail(app, user.username, 'steady1@new.test'),
      );
      assert.deepEqual([res.statusCode, res.json()], [200, { message: 'Email changed' }]);
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, 'steady1@new.test');
    });
  });

  describe(`change_email by mail, and a password change after its proof (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, {
      passwords: FAST_HASHING,
      oneTimeTokens: { resendInterval: 0 },
      dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
    });

    /** The next mail to `to` carrying a code (an account's welcome carries none). */
    const nextCode = async (to: string, since: number) => {
      const mail = await app.sink.waitForMail(
        (m) => m.to === to && app.sink.mails.indexOf(m) >= since && /Your code:/u.test(m.text),
        5000,
      );
      return secretsOf(mail).code;
    };
    /** change_email to `newEmail` by `run`, and the codes it mailed to the new and the current address. */
    const mailedChange = async (
      user: { email: string },
      newEmail: string,
      run: () => Promise<{ statusCode: number; body: string }>,
    ) => {
      const since = app.sink.mails.length;
      const asked = await run();
      assert.equal(asked.statusCode, 200, asked.body);
      return [
        [newEmail, await nextCode(newEmail, since)],
        [user.email, await nextCode(user.email, since)],
      ] as const;
    };
    const follow = (email: string, code: string) =>
      app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/verify',
        payload: { type: 'email_change', email, token: code },
      });
    const assertRefused = async (
      codes: readonly (readonly [string, string])[],
      user: { id: string; email: string },
    ) => {
      for (const [email, code] of codes) {
        const followed = await follow(email, code);
        assert.equal(followed.statusCode, 403, followed.body);
        assert.equal(followed.json().error_code, 'otp_expired');
      }
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, user.email);
    };

    it('a change asked with the old password while the owner changed it: its links move nothing', async () => {
      const user = await account(app, 'racer2');
      const codes = await mailedChange(user, 'thief2@evil.test', () =>
        commitAfterRead(app.t.services.store, changePassword(app, user.id), PASSWORD_READS, () =>
          changeEmail(app, user.username, 'thief2@evil.test'),
        ),
      );
      await assertRefused(codes, user);
    });

    it('a change pending when the password is changed ends with it, and a resend mails nothing', async () => {
      const user = await account(app, 'pending2');
      const codes = await mailedChange(user, 'thief3@evil.test', () =>
        changeEmail(app, user.username, 'thief3@evil.test'),
      );
      await changePassword(app, user.id)();
      await app.t.services.idle();
      const afterChange = app.sink.mails.length;
      const resent = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/resend',
        payload: { type: 'email_change', email: user.email },
      });
      assert.equal(resent.statusCode, 200, resent.body);
      await app.t.services.idle();
      assert.deepEqual(app.sink.mails.slice(afterChange), [], 'the resend mailed nothing');
      await assertRefused(codes, user);
    });

    it('one side followed before the change, the other after: the address stays', async () => {
      const user = await account(app, 'halfway2');
      const [[newEmail, newCode], [oldEmail, oldCode]] = await mailedChange(user, 'thief4@evil.test', () =>
        changeEmail(app, user.username, 'thief4@evil.test'),
      );
      const first = await follow(newEmail, newCode);
      assert.equal(first.statusCode, 200, first.body);
      await changePassword(app, user.id)();
      await assertRefused([[oldEmail, oldCode]], user);
    });

    it('the last link followed while the password is changed: the address stays (judged in the write)', async () => {
      const user = await account(app, 'confirming2');
      const [[newEmail, newCode], [oldEmail, oldCode]] = await mailedChange(user, 'thief5@evil.test', () =>
        changeEmail(app, user.username, 'thief5@evil.test'),
      );
      assert.equal((await follow(newEmail, newCode)).statusCode, 200);
      // The change commits once the confirmation has read the hash it judges the proof by.
      const followed = await commitAfterRead(
        app.t.services.store,
        changePassword(app, user.id),
        ['getPasswordHash'],
        () => follow(oldEmail, oldCode),
      );
      assert.equal(followed.statusCode, 403, followed.body);
      assert.equal(followed.json().error_code, 'otp_expired');
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, user.email);
    });

    it('with the password as it stands, both links move the account', async () => {
      const user = await account(app, 'honest2');
      const codes = await mailedChange(user, 'honest2@new.test', () =>
        changeEmail(app, user.username, 'honest2@new.test'),
      );
      for (const [email, code] of codes) {
        const followed = await follow(email, code);
        assert.equal(followed.statusCode, 200, followed.body);
      }
      assert.equal((await app.t.services.store.findUserById(user.id))?.email, 'honest2@new.test');
    });
  });
}
