import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMailer, OutboxMailer, SmtpMailer } from '../../src/mail/mailer.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

const quiet = { info: () => {}, warn: () => {} };

describe('SmtpMailer', () => {
  let sink: SmtpSink;
  let dir: string;
  before(async () => {
    sink = await startSmtpSink();
    dir = await mkdtemp(join(tmpdir(), 'restauth-smtp-'));
  });
  after(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers subject, text, HTML and the configured sender (postgrest-auth email keys)', async () => {
    const mailer = new SmtpMailer({
      from: '"Theories" <team@example.com>',
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: 'mailer', pass: 'secret' },
    });
    await mailer.send({
      to: 'a@example.com',
      subject: 'Hello',
      text: 'plain body',
      html: '<p>html body</p>',
    });
    const mail = await sink.waitForMail((m) => m.to === 'a@example.com', 5000);
    assert.equal(mail.subject, 'Hello');
    assert.equal(mail.text.trim(), 'plain body');
    assert.match(mail.html, /<p>html body<\/p>/);
    assert.equal(mail.from, 'team@example.com');
    assert.match(mail.fromHeader, /Theories/);
    assert.deepEqual(mail.envelope, { from: 'team@example.com', to: ['a@example.com'] });
    assert.equal(mail.authUser, 'mailer');
    await mailer.close();
  });

  it('takes a url, with the other options beside it', async () => {
    const mailer = new SmtpMailer({
      url: `smtp://urluser:pw@127.0.0.1:${sink.port}`,
      ignoreTLS: true,
      from: 'url@example.com',
    });
    await mailer.send({ to: 'b@example.com', subject: 'By URL', text: 'x', html: '<p>x</p>' });
    const mail = await sink.waitForMail((m) => m.to === 'b@example.com', 5000);
    assert.deepEqual([mail.from, mail.authUser], ['url@example.com', 'urluser']);
    await mailer.close();
  });

  it('rejects when the server refuses, so the queue can retry', async () => {
    const mailer = new SmtpMailer({ host: '127.0.0.1', port: sink.port, ignoreTLS: true, from: 'a@b.c' });
    sink.refuseNext(1, 'rcpt');
    await assert.rejects(
      mailer.send({ to: 'refused@example.com', subject: 'no', text: 'x', html: 'x' }),
      /451/,
    );
    await mailer.close();
  });

  it('createMailer: SMTP with an email object, else the outbox; the app name is the default sender', async () => {
    const smtp = createMailer(
      { email: { host: '127.0.0.1', port: sink.port, ignoreTLS: true }, outboxDir: dir, appName: 'My App' },
      quiet,
    );
    assert.ok(smtp instanceof SmtpMailer);
    await smtp.send({ to: 'c@example.com', subject: 'Default from', text: 'x', html: 'x' });
    const mail = await sink.waitForMail((m) => m.to === 'c@example.com', 5000);
    assert.match(mail.fromHeader, /My App/);
    await smtp.close();
    const outbox = createMailer({ email: null, outboxDir: dir, appName: 'My App' }, quiet);
    assert.ok(outbox instanceof OutboxMailer);
    assert.equal((outbox as OutboxMailer).folder, dir);
  });
});
