import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { FileMailQueue } from '../../src/mail/mail-queue.js';
import { MailWorker } from '../../src/mail/mail-worker.js';
import { OutboxMailer, SmtpMailer } from '../../src/mail/mailer.js';
import { renderMail } from '../../src/mail/templates.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

const quiet = { info: () => {}, warn: () => {} };

describe('mail', () => {
  let sink: SmtpSink;
  let dir: string;
  before(async () => {
    sink = await startSmtpSink();
    dir = await mkdtemp(join(tmpdir(), 'restauth-mail-'));
  });
  after(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });
  const smtp = (port = sink.port) =>
    new SmtpMailer({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, from: 'team@example.com' });

  it('delivers over SMTP with subject, text, HTML and the configured sender', async () => {
    const mailer = smtp();
    await mailer.send({
      to: 'a@example.com',
      subject: 'Hello',
      text: 'plain body',
      html: '<p>html body</p>',
    });
    const mail = await sink.waitForMail((m) => m.to === 'a@example.com', 5000);
    assert.deepEqual(
      [mail.subject, mail.text.trim(), mail.from],
      ['Hello', 'plain body', 'team@example.com'],
    );
    assert.match(mail.html, /<p>html body<\/p>/);
    await mailer.close();
  });

  it('renders templates signed with the app name, escapes HTML, and takes file overrides', async () => {
    const values = {
      appName: 'A Game of Theories',
      username: '<script>x</script>',
      token: 't0k',
      expiresAt: 'soon',
      email: 'e',
    };
    const reset = await renderMail('reset-password', 'u@example.com', values, null);
    assert.match(reset.text, /t0k/);
    assert.match(reset.text, /-A Game of Theories Team/);
    assert.doesNotMatch(reset.html, /<script>/);
    const templates = await mkdtemp(join(dir, 'templates-'));
    await writeFile(join(templates, 'welcome.subject'), 'Hi {{username}}');
    await writeFile(join(templates, 'welcome.html'), '<b>{{username}}</b> joined {{appName}}');
    const welcome = await renderMail('welcome', 'u@example.com', values, templates);
    assert.equal(welcome.subject, 'Hi <script>x</script>');
    assert.equal(welcome.html, '<b>&#60;script&#62;x&#60;/script&#62;</b> joined A Game of Theories');
    assert.match(welcome.text, /Welcome to A Game of Theories/);
  });

  it('writes a real .eml to the development outbox', async () => {
    const outbox = join(dir, 'outbox');
    const logged: string[] = [];
    const mailer = new OutboxMailer(outbox, { info: (m) => logged.push(m), warn: () => {} });
    await mailer.send({ to: 'dev@example.com', subject: 'Outbox', text: 'look', html: '<p>look</p>' });
    const [file] = await readdir(outbox);
    const parsed = await simpleParser(await readFile(join(outbox, file!)));
    assert.equal(parsed.subject, 'Outbox');
    assert.match(logged[0]!, /mail to dev@example.com: Outbox \(development outbox: /);
  });

  it('retries with backoff when the server refuses, then delivers once', async () => {
    const queue = new FileMailQueue(join(dir, 'retry-queue.json'));
    const worker = new MailWorker(queue, smtp(), quiet, 50);
    sink.refuseNext(2);
    await worker.submit({ to: 'retry@example.com', subject: 'Retry', text: 'x', html: 'x' });
    await sink.waitForMail((m) => m.to === 'retry@example.com', 5000);
    await worker.stop();
    assert.equal(sink.mails.filter((m) => m.to === 'retry@example.com').length, 1);
    assert.equal(await queue.nextDue(8), null, 'the queue is empty once sent');
  });

  it('keeps a mail that could not be sent across a restart', async () => {
    const path = join(dir, 'restart-queue.json');
    const unreachable = smtp(1); // nothing listens on port 1
    const first = new MailWorker(new FileMailQueue(path), unreachable, quiet, 60_000);
    await first.submit({ to: 'later@example.com', subject: 'Later', text: 'x', html: 'x' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first.stop();
    const pending = JSON.parse(await readFile(path, 'utf8')) as Array<{ attempts: number }>;
    assert.equal(pending.length, 1);
    assert.ok(pending[0]!.attempts >= 1);
    // Time passes: by the next start the backoff has elapsed.
    const saved = pending.map((mail) => ({ ...mail, nextAttemptAt: 0 }));
    await writeFile(path, JSON.stringify(saved));
    const second = new MailWorker(new FileMailQueue(path), smtp(), quiet);
    second.start();
    await sink.waitForMail((m) => m.to === 'later@example.com', 5000);
    await second.stop();
  });
});
