import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { selfSignedCertificate } from '../support/self-signed.js';

/**
 * The mailer opens each send's TCP socket itself (email.sendTimeout) and nodemailer puts TLS over it:
 * the certificate must still be checked against the configured host, or anyone on the path to the
 * mail server (a MITM with a certificate, valid, for a name of its own) reads every sign-in link.
 * The server here holds a certificate for other.example, issued by a CA the mailer trusts: a mailer
 * configured for `localhost` must refuse it, over implicit TLS and after STARTTLS, and deliver when
 * the name it expects is the certificate's (so the refusal is the name's, not the issuer's).
 */

describe('SmtpMailer checks the mail server certificate against its host', () => {
  const servers: SMTPServer[] = [];
  let pem: { key: string; cert: string };
  let delivered = 0;
  before(async () => {
    pem = await selfSignedCertificate('other.example');
  });
  after(async () => {
    for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function start(secure: boolean): Promise<number> {
    const server = new SMTPServer({
      secure,
      ...pem,
      authOptional: true,
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => {
          delivered++;
          callback();
        });
      },
    });
    server.on('error', () => {}); // the refused handshakes
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.server.address() as AddressInfo).port;
  }

  const mail = { to: 'mitm@example.com', subject: 'A sign-in link', text: 'x', html: '<p>x</p>' };

  for (const [way, secure] of [
    ['implicit TLS', true],
    ['STARTTLS', false],
  ] as const) {
    it(`${way}: a certificate for another name is refused; for the name expected, delivered`, async () => {
      const port = await start(secure);
      const settings = { host: 'localhost', port, secure, requireTLS: true, from: 'team@example.com' };
      const before = delivered;
      const refused = new SmtpMailer({ ...settings, tls: { ca: pem.cert } });
      await assert.rejects(refused.send(mail), (error: NodeJS.ErrnoException) => {
        assert.match(`${error.code} ${error.message}`, /ERR_TLS_CERT_ALTNAME_INVALID|does not match/);
        return true;
      });
      await refused.close();
      assert.equal(delivered, before, 'nothing sent over the wrong name');
      const named = new SmtpMailer({ ...settings, tls: { ca: pem.cert, servername: 'other.example' } });
      await named.send(mail);
      await named.close();
      assert.equal(delivered, before + 1);
    });
  }
});
