import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SmtpMailer } from '../../src/mail/mailer.js';

/**
 * An SMTP url's query sets nodemailer's waits (`?greetingTimeout=`, `?socketTimeout=`,
 * `?connectionTimeout=`) over restauth's shorter defaults, as the object's keys do. Those bound
 * silence, each wait on its own; email.sendTimeout bounds the whole send on the socket restauth
 * opened, so no wait set in a url outlasts it, pooled or not. The server here accepts and never
 * greets: the send fails at the deadline, and the server sees its connection closed.
 */
describe('SmtpMailer: waits set in the url do not outlast email.sendTimeout', () => {
  const sockets = new Set<Socket>();
  let closed: Array<Promise<void>> = [];
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
  });
  let port = 0;
  before(async () => {
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    port = (silent.address() as AddressInfo).port;
  });
  after(() => {
    silent.close();
    for (const socket of sockets) socket.destroy();
  });

  const longWaits = 'connectionTimeout=600000&greetingTimeout=600000&socketTimeout=600000&dnsTimeout=600000';

  for (const pool of [false, true]) {
    it(`a server that never greets${pool ? ' (?pool=true)' : ''}`, { timeout: 20_000 }, async () => {
      closed = [];
      const mailer = new SmtpMailer({
        url: `smtp://127.0.0.1:${port}?ignoreTLS=true&${longWaits}${pool ? '&pool=true' : ''}`,
        sendTimeout: 300,
        from: 'auth@acme.test',
      });
      // Listened to after the server's own handler, so its `closed` is there when this resolves.
      const connected = once(silent, 'connection');
      try {
        await assert.rejects(
          mailer.send({ to: 'silent@acme.test', subject: 's', text: 't', html: '<p>t</p>' }),
          /email\.sendTimeout/u,
        );
        await connected;
        await closed[0];
      } finally {
        await mailer.close();
      }
    });
  }
});
