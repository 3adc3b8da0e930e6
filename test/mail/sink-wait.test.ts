import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { MAIL_WAIT_FLOOR_MS, startSmtpSink } from '../support/smtp-sink.js';

/**
 * A test's wait for a mail is a guard against a mail never sent, not a timing: the sink keeps waiting past
 * a caller's short bound (5 s in most tests), which a loaded machine's delivery need not meet. The sink's
 * timer is run on a mocked clock, the delivery for real once it is restored.
 */
it("a wait for a mail outlasts its caller's 5 s bound and gets the mail sent later", async (t) => {
  const sink = await startSmtpSink();
  try {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let settled = 'waiting';
    const waited = sink.waitForMail((mail) => mail.to === 'late@example.com', 5000);
    waited.then(
      () => (settled = 'mail'),
      (error: Error) => (settled = error.message),
    );
    t.mock.timers.tick(5001);
    // Its rejection, had the timer fired, is settled within this turn's microtasks.
    await Promise.resolve();
    assert.equal(settled, 'waiting');
    t.mock.timers.tick(MAIL_WAIT_FLOOR_MS - 5001 - 1);
    await Promise.resolve();
    assert.equal(settled, 'waiting');
    t.mock.timers.reset();
    const mailer = new SmtpMailer({
      from: 'auth@acme.test',
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      ignoreTLS: true,
    });
    await mailer.send({
      to: 'late@example.com',
      subject: 'Late',
      text: 'sent after 5 s',
      html: '<p>late</p>',
    });
    assert.equal((await waited).subject, 'Late');
  } finally {
    await sink.close();
  }
});
