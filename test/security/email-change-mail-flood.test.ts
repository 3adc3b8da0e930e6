import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestApp } from '../support/app.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import type { SmtpSink } from '../support/smtp-sink.js';

/**
 * An email change mails the new address, which its requester does not hold yet. The resend
 * throttle counts per account, so each of an attacker's accounts sent a stranger one "confirm your
 * new address" mail a minute (PUT /user, postgrest-auth's change_email, a resend), from the app's own
 * domain, with no bound on accounts. The address's own allowance (the recovery family's limit) bounds
 * them now, whatever account asks.
 */

const PASSWORD = 'a real passphrase';
const ALLOWANCE = 2;

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`email-change mails to one stranger's address from many accounts (${storeKind} store)`, () => {
    let t: TestApp;
    let sink: SmtpSink;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      ({ t, sink } = await startMailingApp(
        { ...store.config, rateLimits: { recovery: { max: ALLOWANCE, window: 3600 } } },
        { RESTAUTH_RATE_LIMITS: '' },
      ));
    });
    after(async () => {
      await stopMailingApp(t, sink);
      await store.drop();
    });

    // Each account asks from a client of its own: what is counted here is the address's allowance,
    // not the client's (every PUT /user naming an address counts against its client too).
    let clients = 0;
    const askForChange = (token: string, email: string) =>
      t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        payload: { email },
        headers: { authorization: `Bearer ${token}` },
        remoteAddress: `10.7.0.${++clients}`,
      });

    it("mails the address its allowance, then refuses every account's change to it with 429", async () => {
      const accounts = [];
      for (const name of ['one', 'two', 'three', 'four'])
        accounts.push(await confirmedGotrueAccount(t, sink, `${name}@attacker.test`, PASSWORD));

      const answers = [];
      for (const { access_token } of accounts)
        answers.push(await askForChange(access_token, 'stranger@acme.test'));
      assert.deepEqual(
        answers.map((answer) => answer.statusCode),
        [200, 200, 429, 429],
        answers.map((answer) => answer.body).join('\n'),
      );
      assert.equal(answers[2]!.json<{ error_code: string }>().error_code, 'over_request_rate_limit');
      // The refused changes issued nothing, so no mail of theirs is queued.
      const pending = await Promise.all(
        accounts.map(({ user }) =>
          t.services.store.findOneTimeToken(user.id, 'email_change_new', new Date()),
        ),
      );
      assert.deepEqual(
        pending.map((token) => token?.data['newEmail'] ?? null),
        ['stranger@acme.test', 'stranger@acme.test', null, null],
      );
      await sink.waitForMail(
        () => sink.mails.filter((m) => m.to === 'stranger@acme.test').length === ALLOWANCE,
        5000,
      );

      // Another address has its own allowance.
      assert.equal((await askForChange(accounts[3]!.access_token, 'four@new.test')).statusCode, 200);
    });
  });
}
