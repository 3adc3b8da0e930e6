import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { confirmedGotrueAccount, type VerifiedSession } from '../support/confirmed-gotrue-account.js';
import { nextMail, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { serviceTokenOf } from '../support/service-token.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * The per-account guess limit exempts a client that signed the account in within 30 days (its known
 * client). The exemption outlived the password: an attacker who signed in with a stolen password
 * stayed a known client after the owner changed or reset it, and could guess the new one past the
 * account's budget for 30 days. Every way the password is replaced now ends the exemptions earned
 * before it: the attacker's client spends its wrong passwords and is refused the right new password
 * like any other client; the owner's next sign-in makes its own client known again. Where the owner
 * changes the password keeping their session (GoTrue's PUT /user), their client stays known.
 */

const PASSWORD = 'the stolen passphrase';
const NEW_PASSWORD = 'the owner new passphrase';
const GUESSES = 3;
const MINUTE_MS = 60_000;

/** A client of its own each time: a /64 of one /48. */
let clients = 0;
const nextClient = () => `2001:db8:77:${(++clients).toString(16)}::1`;

for (const kind of ['file', 'postgres'] as const) {
  describe(
    `a password replaced ends the known clients earned before it (${kind} store)`,
    { timeout: 60_000 },
    () => {
      let t: TestApp;
      let sink: SmtpSink;
      let store: Awaited<ReturnType<typeof suiteStore>>;
      let admin: Record<string, string>;

      before(async () => {
        store = await suiteStore(kind);
        ({ t, sink } = await startMailingApp(
          {
            ...store.config,
            rateLimits: { passwordGuesses: { max: GUESSES, window: 900 } },
            dialects: { gotrue: {}, postgrestAuth: {} },
          },
          { RESTAUTH_RATE_LIMITS: '' },
          // The guess windows end only when a test advances the clock past them: none does.
          { clockStoppedAt: Date.now() },
        ));
        admin = { authorization: `Bearer ${await serviceTokenOf(t)}` };
      });
      after(async () => {
        await stopMailingApp(t, sink);
        await store.drop();
      });

      const post = (
        url: string,
        payload: object,
        remoteAddress: string,
        headers: Record<string, string> = {},
      ) => t.app.inject({ method: 'POST', url, payload, remoteAddress, headers });
      const signIn = async (email: string, password: string, from: string) =>
        (await post('/auth/v1/token?grant_type=password', { email, password }, from)).statusCode;

      interface Change {
        /** Replaces the password of `owner` by NEW_PASSWORD, asked from `home`. */
        run(owner: VerifiedSession, home: string): Promise<void>;
        /** Whether the caller's client is known from the change on (its session kept, or one opened). */
        callerKnown: boolean;
      }

      const changes: Record<string, Change> = {
        "GoTrue's PUT /user, the owner's session kept": {
          callerKnown: true,
          async run(owner, home) {
            const answer = await t.app.inject({
              method: 'PUT',
              url: '/auth/v1/user',
              payload: { password: NEW_PASSWORD },
              headers: { authorization: `Bearer ${owner.access_token}` },
              remoteAddress: home,
            });
            assert.equal(answer.statusCode, 200, answer.body);
          },
        },
        "postgrest-auth's change_password with the current password": {
          // It answers a new session: its client is known by that session.
          callerKnown: true,
          async run(owner, home) {
            const answer = await post(
              '/auth/change_password',
              {
                username: owner.user.email,
                current_password: PASSWORD,
                new_password: NEW_PASSWORD,
                new_password_confirm: NEW_PASSWORD,
              },
              home,
            );
            assert.equal(answer.statusCode, 200, answer.body);
          },
        },
        "a recovery: postgrest-auth's change_password with the mailed reset token": {
          callerKnown: true,
          async run(owner, home) {
            const email = owner.user.email;
            const since = sink.mails.length;
            assert.equal((await post('/auth/v1/recover', { email }, home)).statusCode, 200);
            const { link } = secretsOf(await nextMail(sink, email, since));
            const answer = await post(
              '/auth/change_password',
              {
                username: email,
                reset_token: new URL(link).searchParams.get('token'),
                new_password: NEW_PASSWORD,
                new_password_confirm: NEW_PASSWORD,
              },
              home,
            );
            assert.equal(answer.statusCode, 200, answer.body);
          },
        },
        "an administrator's (GoTrue's admin PUT /admin/users/:id)": {
          callerKnown: false,
          async run(owner) {
            const answer = await t.app.inject({
              method: 'PUT',
              url: `/auth/v1/admin/users/${owner.user.id}`,
              payload: { password: NEW_PASSWORD },
              headers: admin,
              remoteAddress: nextClient(),
            });
            assert.equal(answer.statusCode, 200, answer.body);
          },
        },
        'any other Store.changePassword (a takeover retiring the password: no session kept)': {
          callerKnown: false,
          async run(owner) {
            const hash = await t.services.hasher.hash(NEW_PASSWORD);
            await t.services.store.changePassword(owner.user.id, hash, null, t.services.clock());
          },
        },
      };

      let accounts = 0;
      for (const [name, change] of Object.entries(changes)) {
        it(`${name}: the attacker's client is refused like anyone's, the owner's is known`, async () => {
          const email = `owner-${++accounts}-${kind}@acme.test`;
          const owner = await confirmedGotrueAccount(t, sink, email, PASSWORD);
          const attacker = nextClient();
          const home = nextClient();
          // The password stolen: the attacker's client signs the account in, and is a known one.
          assert.equal(await signIn(email, PASSWORD, attacker), 200, 'the attacker signs in');
          t.advance(MINUTE_MS);
          await change.run(owner, home);
          t.advance(MINUTE_MS);
          if (!change.callerKnown)
            assert.equal(await signIn(email, NEW_PASSWORD, home), 200, "the owner's fresh sign-in");
          // The attacker spends the account's wrong passwords from its client ...
          for (let i = 0; i < GUESSES; i++)
            assert.equal(await signIn(email, `guess ${i}`, attacker), 400, `guess ${i}`);
          // ... and is refused the right new password as a client never seen is.
          const stranger = await signIn(email, NEW_PASSWORD, nextClient());
          assert.equal(stranger, 429, 'a client never seen, past the budget');
          assert.equal(await signIn(email, NEW_PASSWORD, attacker), stranger, "the attacker's client");
          // The owner's client, known since the change, goes on signing in.
          assert.equal(await signIn(email, NEW_PASSWORD, home), 200, "the owner's client");
        });
      }
    },
  );
}
