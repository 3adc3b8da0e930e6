import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * nodemailer reads `pool` from an SMTP url's query (`smtp://host?pool=true`) as it reads the
 * object's `pool: true`. restauth chose its transport from the object only: the url form made no
 * pool (a connection per mail) and its sends were not the pool's. Both forms now make the pool,
 * with its per-send deadline (pooled-deadline.ts). The proxy here only counts connections: a pool
 * carries two mails over one, without a pool each mail opens its own.
 */
describe('SmtpMailer: ?pool=true in the url is a pool', () => {
  let sink: SmtpSink;
  let proxy: ConnectProxy;
  before(async () => {
    sink = await startSmtpSink();
    proxy = await startConnectProxy();
  });
  after(async () => {
    proxy.close();
    await sink.close();
  });

  const mail = (to: string) => ({ to, subject: 's', text: 't', html: '<p>t</p>' });
  const url = (query: string) => `smtp://127.0.0.1:${sink.port}?ignoreTLS=true${query}`;

  for (const [form, options] of [
    ['?pool=true in the url', () => ({ url: url('&pool=true') })],
    ['pool: true beside the url', () => ({ url: url(''), pool: true })],
  ] as const) {
    it(`${form}: two mails, one connection`, async () => {
      const before = proxy.tunnels.length;
      const mailer = new SmtpMailer({ ...options(), proxy: proxy.url, from: 'auth@acme.test' });
      try {
        await mailer.send(mail(`first-${before}@acme.test`));
        await mailer.send(mail(`second-${before}@acme.test`));
      } finally {
        await mailer.close();
      }
      assert.equal(proxy.tunnels.length - before, 1, 'the second mail went over the first one’s connection');
      assert.ok(sink.mails.some((received) => received.to === `second-${before}@acme.test`));
    });
  }

  it('without a pool, each mail has its own connection (what the count above tells apart)', async () => {
    const before = proxy.tunnels.length;
    const mailer = new SmtpMailer({ url: url(''), proxy: proxy.url, from: 'auth@acme.test' });
    try {
      await mailer.send(mail('one@acme.test'));
      await mailer.send(mail('two@acme.test'));
    } finally {
      await mailer.close();
    }
    assert.equal(proxy.tunnels.length - before, 2);
  });

  it('?pool=true: a send whose reply the server holds fails at email.sendTimeout, the next goes through', async () => {
    const mailer = new SmtpMailer({ url: url('&pool=true'), sendTimeout: 300, from: 'auth@acme.test' });
    const held = sink.holdNextReply();
    try {
      await assert.rejects(mailer.send(mail('held@acme.test')), /email\.sendTimeout/u);
      await held.received;
      held.release();
      await mailer.send(mail('after-held@acme.test'));
      assert.ok(sink.mails.some((received) => received.to === 'after-held@acme.test'));
    } finally {
      held.release();
      await mailer.close();
    }
  });
});
