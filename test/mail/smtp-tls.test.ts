import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { SmtpMailer } from '../../src/mail/mailer.js';

/**
 * The mailer opens each send's TCP connection itself (to bound the whole send, email.sendTimeout);
 * TLS must still be nodemailer's over that socket: implicit TLS (`secure`, port 465's way) and
 * STARTTLS (`requireTLS`). smtp-server's built-in localhost certificate is self-signed, hence
 * rejectUnauthorized: false (the mail is still encrypted, which is what is checked).
 */
describe('SmtpMailer over TLS', () => {
  const servers: SMTPServer[] = [];
  after(async () => {
    for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A server that records, for each mail, whether its session was encrypted. */
  async function start(secure: boolean): Promise<{ port: number; sessions: boolean[] }> {
    const sessions: boolean[] = [];
    const server = new SMTPServer({
      secure,
      authOptional: true,
      onData(stream, session, callback) {
        stream.resume();
        stream.on('end', () => {
          sessions.push(session.secure);
          callback();
        });
      },
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.server.address() as AddressInfo).port, sessions };
  }

  const mail = { to: 'tls@example.com', subject: 'Encrypted', text: 'x', html: '<p>x</p>' };

  it('sends over implicit TLS (secure: true)', async () => {
    const server = await start(true);
    const mailer = new SmtpMailer({
      host: '127.0.0.1',
      port: server.port,
      secure: true,
      tls: { rejectUnauthorized: false },
      from: 'team@example.com',
    });
    await mailer.send(mail);
    await mailer.close();
    assert.deepEqual(server.sessions, [true]);
  });

  it('sends after STARTTLS (requireTLS)', async () => {
    const server = await start(false);
    const mailer = new SmtpMailer({
      host: '127.0.0.1',
      port: server.port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      from: 'team@example.com',
    });
    await mailer.send(mail);
    await mailer.close();
    assert.deepEqual(server.sessions, [true]);
  });
});
