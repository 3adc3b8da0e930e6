import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { startSmtpSink, type SmtpSink, sinkMailSettings } from '../support/smtp-sink.js';

/**
 * A sign-up writes its account, first session and welcome mail together or
 * not at all: faults caused in the real database part-way through leave no
 * account, and the retry of the same sign-up succeeds (never "already registered").
 */
describe('sign-up under database faults (PostgreSQL)', () => {
  let serverUrl: string;
  let url: string;
  let t: TestApp;
  let sink: SmtpSink;
  let sql: pg.Client;

  before(async () => {
    sink = await startSmtpSink();
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    t = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(url),
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        signup: { confirmEmail: false },
        email: sinkMailSettings(sink),
      },
    });
    sql = new pg.Client({ connectionString: url });
    await sql.connect();
  });
  after(async () => {
    await sql.end();
    await t.close();
    await dropDatabase(serverUrl, url);
    await sink.close();
  });

  const register = (username: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username, password: 'a long passphrase', email: `${username}@acme.test` },
    });

  async function accounts(username: string): Promise<number> {
    const { rows } = await sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM restauth.accounts WHERE username_lowercase = $1',
      [username],
    );
    return rows[0]!.n;
  }

  async function assertRetrySucceeds(username: string): Promise<void> {
    const retry = await register(username);
    assert.equal(retry.statusCode, 200, retry.body);
    const signedIn = await t.app.inject({
      method: 'POST',
      url: '/auth/check',
      payload: { access_token: retry.json().access_token },
    });
    assert.deepEqual(signedIn.json(), { valid: true });
    await t.services.idle();
    assert.equal(sink.mails.filter((mail) => mail.to === `${username}@acme.test`).length, 1, 'one welcome');
  }

  it('the mail queue refusing the welcome mail: no account; the retry signs up', async () => {
    await sql.query('ALTER TABLE restauth.mail_outbox ADD CONSTRAINT refuse_all CHECK (false) NOT VALID');
    try {
      const failed = await register('queuefault');
      assert.ok(failed.statusCode >= 500, `${failed.statusCode} ${failed.body}`);
    } finally {
      await sql.query('ALTER TABLE restauth.mail_outbox DROP CONSTRAINT refuse_all');
    }
    assert.equal(await accounts('queuefault'), 0, 'no half-made account');
    await assertRetrySucceeds('queuefault');
  });

  it(
    'the connection dropping mid-sign-up: no account; the retry signs up',
    // Terminating the backend on PGlite would end the one session every connection shares.
    { skip: realServerOnly() ?? false },
    async () => {
      // The backend writing the mail kills itself: the connection drops inside the sign-up's transaction.
      await sql.query(`CREATE FUNCTION public.drop_connection() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$`);
      await sql.query(
        'CREATE TRIGGER drop_connection BEFORE INSERT ON restauth.mail_outbox FOR EACH ROW EXECUTE FUNCTION public.drop_connection()',
      );
      try {
        const failed = await register('dropped');
        assert.ok(failed.statusCode >= 500, `${failed.statusCode} ${failed.body}`);
      } finally {
        await sql.query('DROP TRIGGER drop_connection ON restauth.mail_outbox');
        await sql.query('DROP FUNCTION public.drop_connection()');
      }
      assert.equal(await accounts('dropped'), 0, 'no half-made account');
      await assertRetrySucceeds('dropped');
    },
  );
});
