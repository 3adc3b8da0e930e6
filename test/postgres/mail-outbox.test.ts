import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { MailWorker } from '../../src/mail/worker.js';
import { CodeHashInUseError } from '../../src/core/ports/store.js';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { openPostgresPool, schemaNames } from '../../src/stores/postgres/index.js';
import { PostgresMailQueue } from '../../src/stores/postgres/outbox.js';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import {
  dropDatabase,
  realServerOnly,
  testPostgres,
  testRoles,
  testStoreConfig,
} from '../support/postgres.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

const quiet = { info: () => {}, warn: () => {} };

describe('the PostgreSQL mail outbox', () => {
  let serverUrl: string;
  let url: string;
  let store: PostgresStore;
  let pool: pg.Pool;
  let sink: SmtpSink;
  const smtp = (port: number) =>
    new SmtpMailer({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, from: 'a@b.c' });

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    pool = await openPostgresPool(testStoreConfig(url), testRoles);
    store = new PostgresStore(pool, schemaNames(testStoreConfig(url), testRoles), {
      preparedStatements: testStoreConfig(url).preparedStatements,
    });
    sink = await startSmtpSink();
  });
  after(async () => {
    await sink.close();
    await store.close();
    await dropDatabase(serverUrl, url);
  });

  // SKIP LOCKED never skips on PGlite (claims run one after another): nothing to race there.
  const race = { skip: realServerOnly() ?? false };
  it('two instances draining one outbox send every mail exactly once', race, async () => {
    const queueA = new PostgresMailQueue(pool, 'restauth.mail_outbox');
    const queueB = new PostgresMailQueue(pool, 'restauth.mail_outbox');
    for (let i = 0; i < 20; i++) {
      await queueA.enqueue(
        { to: `m${i}@example.com`, subject: `mail ${i}`, text: 'x', html: 'x' },
        Date.now(),
      );
    }
    const a = new MailWorker(queueA, smtp(sink.port), quiet);
    const b = new MailWorker(queueB, smtp(sink.port), quiet);
    a.start();
    b.start();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => sink.waitForMail((m) => m.to === `m${i}@example.com`, 10_000)),
    );
    // Stopped, each worker has finished its pass: a mail claimed twice would have been sent by now.
    await a.stop();
    await b.stop();
    for (let i = 0; i < 20; i++) {
      assert.equal(sink.mails.filter((m) => m.to === `m${i}@example.com`).length, 1, `mail ${i}`);
    }
    assert.equal(await queueA.nextDueAt(), null, 'the outbox is empty');
  });

  it('keeps a mail its worker could not send for another worker, after a restart', async () => {
    const queue = new PostgresMailQueue(pool, 'restauth.mail_outbox');
    // Its failure is recorded before the worker logs the retry: that line is the event to await.
    let failed!: () => void;
    const failureRecorded = new Promise<void>((resolve) => (failed = resolve));
    const down = new MailWorker(
      queue,
      smtp(1),
      { info() {}, warn: (line) => /retry 1 in/u.test(line) && failed() },
      { retryBaseMs: 60_000 },
    );
    down.start();
    await down.enqueue({ to: 'kept@example.com', subject: 'kept', text: 'x', html: 'x' });
    await failureRecorded;
    await down.stop();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT attempts FROM restauth.mail_outbox');
      assert.equal(rows.length, 1);
      assert.ok(rows[0].attempts >= 1);
      // Time passes: the backoff has elapsed when the next instance starts.
      await client.query('UPDATE restauth.mail_outbox SET next_attempt_at = now()');
    } finally {
      await client.end();
    }
    const up = new MailWorker(new PostgresMailQueue(pool, 'restauth.mail_outbox'), smtp(sink.port), quiet);
    up.start();
    await sink.waitForMail((m) => m.to === 'kept@example.com', 10_000);
    await up.stop();
  });

  it('a mail given up on stays in the table, never due again', async () => {
    const queue = new PostgresMailQueue(pool, 'restauth.mail_outbox');
    const now = Date.now();
    const mail = await queue.enqueue({ to: 'dead@example.com', subject: 'dead', text: 'x', html: 'x' }, now);
    const [claimed] = await queue.claimDue(now, 10, 1000);
    assert.equal(claimed?.id, mail.id);
    await queue.markFailed(mail.id, '550 no such user', null);
    assert.deepEqual(await queue.claimDue(now + 86_400_000, 10, 1000), []);
    assert.equal(await queue.nextDueAt(), null);
    const { rows } = await pool.query<{ attempts: number; last_error: string }>(
      'SELECT attempts, last_error FROM restauth.mail_outbox WHERE id = $1',
      [mail.id],
    );
    assert.deepEqual(rows, [{ attempts: 1, last_error: '550 no such user' }]);
    await queue.markSent(mail.id);
    await queue.markSent('00000000-0000-4000-8000-000000000000');
  });

  it('a token and the mail carrying it are stored in one transaction: both or neither', async () => {
    const outbox = async () =>
      (await pool.query<{ to: string }>("SELECT message ->> 'to' AS to FROM restauth.mail_outbox")).rows.map(
        (row) => row.to,
      );
    await pool.query('DELETE FROM restauth.mail_outbox');
    const owner = async (name: string) =>
      store.createUser(
        {
          username: name,
          email: `${name}@example.com`,
          emailConfirmedAt: null,
          role: null,
          profile: {},
          appMetadata: {},
        },
        null,
      );
    const [ada, bob] = [await owner('ada'), await owner('bob')];
    const now = new Date();
    const token = (userId: string, hash: string) => ({
      hash,
      codeHash: 'same-code',
      userId,
      purpose: 'recovery',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3_600_000),
      data: {},
    });
    const mail = (to: string) => ({ to, subject: 'reset', text: 'x', html: 'x' });
    assert.deepEqual(await store.createOneTimeToken(token(ada.id, 'h-ada'), [mail('ada@example.com')]), {
      stored: true,
    });
    assert.deepEqual(await outbox(), ['ada@example.com']);
    // The token is refused (its code names another live token): its mail is not queued either.
    await assert.rejects(
      store.createOneTimeToken(token(bob.id, 'h-bob'), [mail('bob@example.com')]),
      CodeHashInUseError,
    );
    assert.deepEqual(await outbox(), ['ada@example.com']);
    assert.equal(await store.findOneTimeToken(bob.id, 'recovery', now), null);
  });
});
