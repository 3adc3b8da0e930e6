import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  addAnswerFirstUsers,
  answerFirstAnswers,
  ANSWER_FIRST_DIALECTS,
  assertAnswered,
  KNOWN,
  UNCONFIRMED,
} from '../support/answer-first.js';
import type { TestApp } from '../support/app.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { isAuthError } from '../../src/core/errors.js';

/**
 * No mail goes to a banned account: following it would be refused (user_banned), so the mail was only
 * a way to flood its owner's inbox from the app's domain, and it spent the address's resend allowance
 * (the owner, once the ban was lifted, was throttled). The request routes answer a banned address as
 * they answer an unknown one, so the answer does not tell bans apart either.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`no mail to a banned account (${storeKind} store)`, { timeout: 60_000 }, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      ({ t, sink } = await startMailingApp({
        ...store.config,
        signup: { confirmEmail: true },
        siteUrl: 'https://app.test',
        dialects: ANSWER_FIRST_DIALECTS,
      }));
      await addAnswerFirstUsers(t);
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await store.drop();
    });

    const userOf = async (email: string) => (await t.services.store.findUserByEmail(email))!;
    const ban = async (email: string, duration: string) =>
      t.services.admin.updateUser(LOCAL_CALL, (await userOf(email)).id, { banDuration: duration });
    const mailsTo = (email: string) => sink.mails.filter((mail) => mail.to === email).length;

    it('recover, otp, resend, sign-up and postgrest-auth’s forgot_*: an unknown address’s answer, and no mail', async () => {
      await t.services.idle();
      await ban(KNOWN, '24h');
      await ban(UNCONFIRMED, '24h');
      const before = { known: mailsTo(KNOWN), unconfirmed: mailsTo(UNCONFIRMED) };

      assertAnswered(await answerFirstAnswers(t), /^20[01] /u, 'while banned');
      await t.services.idle();
      assert.deepEqual(
        { known: mailsTo(KNOWN), unconfirmed: mailsTo(UNCONFIRMED) },
        before,
        'nothing was mailed to a banned account',
      );

      // The ban spent none of the address's allowance: lifted, the owner's request is mailed at once
      // (within the resend interval of the requests made while banned).
      await ban(KNOWN, 'none');
      const recover = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/recover',
        payload: { email: KNOWN },
      });
      assert.equal(recover.statusCode, 200, recover.body);
      await t.services.idle();
      assert.equal(mailsTo(KNOWN), before.known + 1, 'the recovery mail went out once the ban was lifted');
    });

    it('an invitation to a banned account is refused to the administrator (user_banned), and not mailed', async () => {
      const email = `invited-${storeKind}@corp.test`;
      await t.services.admin.createUser(LOCAL_CALL, { email });
      await ban(email, '24h');
      await assert.rejects(
        t.services.admin.inviteUser(LOCAL_CALL, { email, redirectTo: null }),
        (error) => isAuthError(error) && error.code === 'user_banned',
      );
      await t.services.idle();
      assert.equal(mailsTo(email), 0);
    });

    it('a reauthentication code or an email change asked by a session its ban has overtaken: user_banned, no mail', async () => {
      // Its token was checked before the ban committed; the flows see the account as it is now.
      await ban(KNOWN, '24h');
      const overtaken = await userOf(KNOWN);
      const before = mailsTo(KNOWN);
      const banned = (error: unknown) => isAuthError(error) && error.code === 'user_banned';
      await assert.rejects(t.services.flows.sendReauthentication(LOCAL_CALL, overtaken), banned);
      await assert.rejects(
        t.services.flows.requestEmailChange(overtaken, `moved-${storeKind}@corp.test`, null),
        banned,
      );
      await t.services.idle();
      assert.equal(mailsTo(KNOWN), before);
      assert.equal(mailsTo(`moved-${storeKind}@corp.test`), 0);
    });
  });
}
