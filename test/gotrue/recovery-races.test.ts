import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING, secretsOf, startMailingApp, stopMailingApp } from '../support/gotrue.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * Concurrent requests for one address's mail: "one mail of a kind per address
 * per interval" and "a new token replaces the earlier one" hold however the
 * requests race, on one instance and across two on one PostgreSQL database.
 */
const PREFIX = '/auth/v1';

/** Sends `count` recovery requests for `email` at once, spread over `apps`; every answer is 200 {}. */
async function raceRecovery(apps: TestApp[], email: string, count: number): Promise<void> {
  const answers = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      apps[i % apps.length]!.app.inject({ method: 'POST', url: `${PREFIX}/recover`, payload: { email } }),
    ),
  );
  assert.deepEqual(
    answers.map((answer) => [answer.statusCode, answer.body]),
    answers.map(() => [200, '{}']),
  );
  // The mail work runs after the answers: wait for it and for the mail workers, not for a time.
  await Promise.all(apps.map((t) => t.services.idle()));
}

/** The mailed code verifies; the link of the one live token is the mailed one. */
async function assertOnlyTheMailedTokenLives(t: TestApp, sink: SmtpSink, email: string): Promise<void> {
  const mails = sink.mails.filter((mail) => mail.to === email);
  assert.equal(mails.length, 1, `one mail, not ${mails.length}`);
  const { code } = secretsOf(mails[0]!);
  const verified = await t.app.inject({
    method: 'POST',
    url: `${PREFIX}/verify`,
    payload: { type: 'recovery', email, token: code },
  });
  assert.equal(verified.statusCode, 200, verified.body);
  const user = await t.services.store.findUserByEmail(email);
  assert.equal(await t.services.store.findOneTimeToken(user!.id, 'recovery', new Date()), null, 'none left');
}

describe('concurrent recovery requests on one instance', () => {
  let t: TestApp;
  let sink: SmtpSink;
  before(async () => ({ t, sink } = await startMailingApp()));
  after(() => stopMailingApp(t, sink));

  it('ten at once send one mail and leave one token, the mailed one', async () => {
    const email = 'racer@acme.test';
    await t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'a long passphrase',
      emailConfirm: true,
    });
    await raceRecovery([t], email, 10);
    await assertOnlyTheMailedTokenLives(t, sink, email);
  });
});

describe(
  'concurrent recovery requests on two instances sharing PostgreSQL',
  { skip: realServerOnly() ?? false },
  () => {
    let serverUrl: string;
    let url: string;
    let first: TestApp;
    let second: TestApp;
    let sink: SmtpSink;

    before(async () => {
      sink = await startSmtpSink();
      const server = await testPostgres();
      serverUrl = server.url;
      url = await server.createDatabase();
      const config = {
        store: testStoreConfig(url),
        passwords: FAST_HASHING,
        email: sinkMailSettings(sink),
      };
      [first, second] = await Promise.all([
        createTestApp({ format: 'restauth', config }),
        createTestApp({ format: 'restauth', config }),
      ]);
    });
    after(async () => {
      await first.close();
      await second.close();
      await dropDatabase(serverUrl, url);
      await sink.close();
    });

    it('ten at once over both send one mail and leave one token row, the mailed one', async () => {
      const email = 'pg-racer@acme.test';
      await first.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'a long passphrase',
        emailConfirm: true,
      });
      await raceRecovery([first, second], email, 10);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(
          `SELECT count(*)::int AS tokens FROM restauth.code_tokens t JOIN auth.users u ON u.id = t.user_id
         WHERE u.email = $1 AND t.purpose = 'recovery'`,
          [email],
        );
        assert.deepEqual(rows[0], { tokens: 1 });
        const { rows: outbox } = await client.query('SELECT count(*)::int AS left FROM restauth.mail_outbox');
        assert.deepEqual(outbox[0], { left: 0 }, 'every queued mail was sent');
      } finally {
        await client.end();
      }
      await assertOnlyTheMailedTokenLives(second, sink, email);
    });
  },
);
