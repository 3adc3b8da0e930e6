import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { MailWorker } from '../../src/mail/worker.js';
import { FileMailQueue } from '../../src/stores/file/outbox.js';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import { recordingLogger } from '../support/recording-logger.js';
import { selfSignedCertificate } from '../support/self-signed.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * An https mail proxy (`proxy: "https://..."`) is spoken to in TLS by restauth's own tunnel
 * (proxy-tunnel.ts). Its certificate was not checked: anyone on the way to the proxy could answer in
 * its place, read the proxy's credentials, and tunnel every mail (reset links, magic links) through
 * itself. It is checked as Node checks any certificate, with the SMTP options' tls.ca and
 * tls.rejectUnauthorized. The proxies here are real TLS servers with certificates made by the test.
 */
describe('SmtpMailer checks the certificate of an https mail proxy', () => {
  let sink: SmtpSink;
  /** A proxy at 127.0.0.1 whose certificate, its own CA, names 127.0.0.1. */
  let proxy: ConnectProxy;
  let pem: { key: string; cert: string };
  /** A proxy at 127.0.0.1 whose certificate names another host. */
  let misnamed: ConnectProxy;
  let otherPem: { key: string; cert: string };
  let dir: string;
  before(async () => {
    sink = await startSmtpSink();
    [pem, otherPem] = await Promise.all([
      selfSignedCertificate('127.0.0.1'),
      selfSignedCertificate('proxy.test'),
    ]);
    proxy = await startConnectProxy({ tls: pem });
    misnamed = await startConnectProxy({ tls: otherPem });
    dir = await mkdtemp(join(tmpdir(), 'restauth-proxy-cert-'));
  });
  after(async () => {
    proxy.close();
    misnamed.close();
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The proxy's url with credentials, as an operator writes it. */
  const withCredentials = (url: string) => url.replace('https://', 'https://egress:pr0xy-s3cret@');
  const mail = (to: string) => ({ to, subject: 'Reset', text: 'x', html: '<p>x</p>' });

  for (const pool of [false, true]) {
    const pooled = pool ? ' (pool: true)' : '';

    it(`refuses a certificate no CA it knows signed, before saying CONNECT${pooled}`, async () => {
      const before = proxy.tunnels.length;
      const mailer = new SmtpMailer({ ...sinkMailSettings(sink), proxy: withCredentials(proxy.url), pool });
      try {
        const to = `unchecked-${String(pool)}@acme.test`;
        await assert.rejects(mailer.send(mail(to)), (error: Error) => {
          assert.match(error.message, /TLS handshake with the mail proxy failed \(self[- ]signed/u);
          assert.match(error.message, /email\.tls\.ca/u);
          assert.doesNotMatch(error.message, /pr0xy-s3cret/u);
          return true;
        });
        assert.equal(proxy.tunnels.length, before, 'the impostor never read a CONNECT nor its credentials');
        assert.ok(!sink.mails.some((sent) => sent.to === to), 'no mail went through it');
      } finally {
        await mailer.close();
      }
    });

    it(`sends through it when its CA is given in tls.ca${pooled}`, async () => {
      const before = proxy.tunnels.length;
      const mailer = new SmtpMailer({
        ...sinkMailSettings(sink),
        proxy: withCredentials(proxy.url),
        tls: { ca: pem.cert },
        pool,
      });
      const to = `checked-${String(pool)}@acme.test`;
      try {
        await mailer.send(mail(to));
      } finally {
        await mailer.close();
      }
      assert.deepEqual(proxy.tunnels.slice(before), [`127.0.0.1:${sink.port}`]);
      assert.ok(sink.mails.some((sent) => sent.to === to));
    });
  }

  it("refuses a certificate its CA signed for another name than the proxy's", async () => {
    const mailer = new SmtpMailer({
      ...sinkMailSettings(sink),
      proxy: misnamed.url,
      tls: { ca: otherPem.cert },
    });
    try {
      await assert.rejects(mailer.send(mail('misnamed@acme.test')), /mail proxy failed .*IP: 127\.0\.0\.1/u);
      assert.deepEqual(misnamed.tunnels, []);
    } finally {
      await mailer.close();
    }
  });

  it('sends unchecked when tls.rejectUnauthorized is false, as the SMTP server’s TLS does', async () => {
    const before = proxy.tunnels.length;
    const mailer = new SmtpMailer({
      ...sinkMailSettings(sink),
      proxy: proxy.url,
      tls: { rejectUnauthorized: false },
    });
    try {
      await mailer.send(mail('unchecked-by-choice@acme.test'));
    } finally {
      await mailer.close();
    }
    assert.equal(proxy.tunnels.length, before + 1);
  });

  it('the queue keeps a refused mail for a retry and logs why, without the credentials', async () => {
    const queue = new FileMailQueue(join(dir, 'queue.json'));
    const logger = recordingLogger();
    const mailer = new SmtpMailer({ ...sinkMailSettings(sink), proxy: withCredentials(proxy.url) });
    const worker = new MailWorker(queue, mailer, logger, { retryBaseMs: 60_000 });
    worker.start();
    try {
      await worker.enqueue(mail('queued@acme.test'));
      // Either way out ends the wait: the refusal logged, or (unchecked) the mail delivered.
      await Promise.race([
        logger.waitFor(/mail to queued@acme\.test failed/u),
        sink.waitForMail((sent) => sent.to === 'queued@acme.test', 10_000),
      ]);
    } finally {
      await worker.stop();
      await mailer.close();
    }
    const line = logger.lines.find((logged) => /mail to queued@acme\.test failed/u.test(logged)) ?? '';
    assert.match(line, /TLS handshake with the mail proxy failed .*; retry 1 in 60000 ms$/u);
    assert.ok(!logger.lines.some((logged) => logged.includes('pr0xy-s3cret')), logger.lines.join('\n'));
  });
});
