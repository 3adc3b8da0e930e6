import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { isAuthError } from '../../src/core/errors.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';

/**
 * The mail flows that look an account up by address and mail it after their answer (/recover, /otp,
 * /resend of a sign-up, a second sign-up naming an unconfirmed address, postgrest-auth’s
 * forgot_password and forgot_username), with the account banned, deleted or moved to another address between that
 * lookup and the token's write. The race is made (commitAfterRead): the change commits once the
 * lookup has answered, before the flow goes on with what it read. Whatever changed, nothing is written and nothing is mailed: a mail to the former
 * address carried a link refused when followed, and its token (or a contested sign-up's mark) was
 * left on the account at its new address. Each flow is first run without a race: it mails then.
 */
const PASSWORD = 'mail race passphrase 1';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(
    `an account changed between a mail flow's lookup and its write (${storeKind} store)`,
    { timeout: 60_000 },
    () => {
      const app = mailingAppOnStore(storeKind, {
        passwords: FAST_HASHING,
        signup: { confirmEmail: true },
        // Unthrottled: a mail left out must be left out by the race, not by the resend interval.
        oneTimeTokens: { resendInterval: 0 },
        dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
      });
      let serial = 0;

      const account = async (confirmed: boolean) => {
        const n = ++serial;
        const email = `mailrace${n}@corp.test`;
        const user = await app.t.services.auth.register(LOCAL_CALL, {
          // Named: the username reminder mails only an account that has a user name.
          username: `mailrace${n}`,
          email,
          password: PASSWORD,
          emailConfirmed: confirmed,
        });
        // Whatever registering mailed is delivered: only what the flow mails comes after.
        await app.t.services.idle();
        return { id: user.id, email, n };
      };

      /** POSTs, then awaits the mail work its answer left (the lookup, the token, the delivery). */
      const postAndMail = async (url: string, payload: Record<string, unknown>) => {
        const res = await app.t.app.inject({ method: 'POST', url, payload });
        await app.t.services.idle();
        return res;
      };

      const flows = [
        {
          flow: 'a recovery mail (POST /recover)',
          confirmed: true,
          purpose: 'recovery',
          url: '/auth/v1/recover',
          body: {},
          field: 'email',
          lookup: 1,
        },
        {
          flow: 'a magic link (POST /otp)',
          confirmed: true,
          purpose: 'magiclink',
          url: '/auth/v1/otp',
          body: { create_user: false },
          field: 'email',
          lookup: 1,
        },
        {
          flow: 'a sign-up’s confirmation resent (POST /resend)',
          confirmed: false,
          purpose: 'confirmation',
          url: '/auth/v1/resend',
          body: { type: 'signup' },
          field: 'email',
          lookup: 1,
        },
        {
          flow: 'a second sign-up of an unconfirmed address (POST /signup)',
          confirmed: false,
          purpose: 'confirmation',
          url: '/auth/v1/signup',
          body: { password: 'another passphrase 22' },
          field: 'email',
          // The first: the sign-up's check that the address is free; the mail's lookup follows it.
          lookup: 2,
        },
        {
          flow: 'postgrest-auth’s reset token (POST /pg/forgot_password)',
          confirmed: true,
          purpose: 'recovery',
          url: '/pg/forgot_password',
          body: {},
          // Its login field takes a user name or an address.
          field: 'username',
          lookup: 1,
        },
        {
          flow: 'postgrest-auth’s username reminder (POST /pg/forgot_username)',
          confirmed: true,
          // The reminder carries no secret: its token only conditions (and throttles) its mail.
          purpose: 'username_reminder',
          url: '/pg/forgot_username',
          body: {},
          field: 'email',
          lookup: 1,
        },
      ] as const;

      /** The account moves to another address, confirmed (an administrator's change). */
      const moveAway = (id: string, n: number) =>
        app.t.services.admin.updateUser(LOCAL_CALL, id, { email: `moved${n}@corp.test`, emailConfirm: true });

      const changes = [
        ['banned', (id: string) => app.t.services.admin.updateUser(LOCAL_CALL, id, { banDuration: '24h' })],
        ['deleted', (id: string) => app.t.services.admin.deleteUser(LOCAL_CALL, id)],
        ['moved to another address', moveAway],
      ] as const;

      const tokenOf = (userId: string, purpose: string) =>
        app.t.services.store.findOneTimeToken(userId, purpose, new Date());

      it('an invitation (the admin service POST /invite calls), the account moved after the lookup: 409 conflict, nothing mailed', async () => {
        const user = await account(false);
        const mailedBefore = app.sink.mails.length;
        await assert.rejects(
          commitAfterRead(
            app.t.services.store,
            () => moveAway(user.id, user.n),
            ['findUserByEmail'],
            () => app.t.services.admin.inviteUser(LOCAL_CALL, { email: user.email, redirectTo: null }),
          ),
          (error) => isAuthError(error) && error.code === 'conflict',
        );
        await app.t.services.idle();
        assert.deepEqual(app.sink.mails.slice(mailedBefore), []);
        assert.equal(await tokenOf(user.id, 'invite'), null);
      });

      it('an email change (PUT /user email), the account moved after the session’s check: neither address mailed', async () => {
        const user = await account(true);
        const signIn = await postAndMail('/auth/v1/token?grant_type=password', {
          email: user.email,
          password: PASSWORD,
        });
        const mailedBefore = app.sink.mails.length;
        // The session check's reads (session and user) are the flow's last before its writes.
        const res = await commitAfterRead(
          app.t.services.store,
          () => moveAway(user.id, user.n),
          ['findUserById'],
          async () => {
            const answer = await app.t.app.inject({
              method: 'PUT',
              url: '/auth/v1/user',
              headers: { authorization: `Bearer ${signIn.json().access_token}` },
              payload: { email: `wanted${user.n}@corp.test` },
            });
            await app.t.services.idle();
            return answer;
          },
        );
        assert.ok(res.statusCode < 500, res.body);
        assert.deepEqual(app.sink.mails.slice(mailedBefore), []);
        assert.equal(await tokenOf(user.id, 'email_change_new'), null);
        assert.equal(await tokenOf(user.id, 'email_change_current'), null);
      });

      for (const { flow, confirmed, purpose, url, body, field, lookup } of flows) {
        it(`${flow}, nothing changed: one mail, its token stored`, async () => {
          const user = await account(confirmed);
          const mailedBefore = app.sink.mails.length;
          const res = await postAndMail(url, { ...body, [field]: user.email });
          assert.ok(res.statusCode < 500, res.body);
          assert.deepEqual(
            app.sink.mails.slice(mailedBefore).map((mail) => mail.to),
            [user.email],
          );
          assert.notEqual(await tokenOf(user.id, purpose), null);
        });

        for (const [change, commit] of changes) {
          it(`${flow}, the account ${change} after the lookup: no token, no mail`, async () => {
            const user = await account(confirmed);
            const quiet = await postAndMail(url, { ...body, [field]: `nobody${user.n}@corp.test` });
            const mailedBefore = app.sink.mails.length;
            const asked = new Date();
            const res = await commitAfterRead(
              app.t.services.store,
              () => commit(user.id, user.n),
              ['findUserByEmail'],
              () => postAndMail(url, { ...body, [field]: user.email }),
              lookup,
            );
            // Answered before the lookup: as for an address nobody holds.
            assert.equal(res.statusCode, quiet.statusCode, res.body);
            assert.deepEqual(app.sink.mails.slice(mailedBefore), []);
            // Registering an unconfirmed account stored its confirmation: none is newer than the race.
            const token = await tokenOf(user.id, purpose);
            assert.ok(token === null || token.createdAt < asked, `a ${purpose} token written after the race`);
            // Nor is the account marked as contested by a sign-up that named an address it left.
            assert.equal(await tokenOf(user.id, 'sign_up_contested'), null);
          });
        }
      }
    },
  );
}
