import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { messageIdFor, SmtpMailer } from '../../src/mail/mailer.js';
import { createTestApp } from '../support/app.js';
import { startConnectProxy } from '../support/connect-proxy.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * An SMTP server that never finishes answering: it greets, then drips its reply to EHLO one
 * continuation line ("250-") at a time, forever. nodemailer's socketTimeout is a bound on silence,
 * so it never fires; only email.sendTimeout ends the send. Without it a send, and a stop of
 * restauth waiting for it, never ended: each test here would hang to its timeout.
 */
interface TricklingServer {
  port: number;
  /** Resolves when a client connected (a send is under way). */
  connected(): Promise<void>;
  /** Resolves when that client's connection closed. */
  closed(): Promise<void>;
  close(): Promise<void>;
}

async function startTricklingServer(): Promise<TricklingServer> {
  const sockets = new Set<Socket>();
  const drips = new Set<NodeJS.Timeout>();
  let onConnect: () => void = () => {};
  let onClose: () => void = () => {};
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.write('220 trickle.test ESMTP\r\n');
    socket.once('data', () => {
      const drip = setInterval(() => socket.write('250-still thinking\r\n'), 50);
      drips.add(drip);
      socket.once('close', () => {
        clearInterval(drip);
        drips.delete(drip);
      });
    });
    socket.once('close', () => {
      sockets.delete(socket);
      onClose();
    });
    onConnect();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connected: () => new Promise<void>((resolve) => (onConnect = resolve)),
    closed: () => new Promise<void>((resolve) => (onClose = resolve)),
    close: async () => {
      for (const drip of drips) clearInterval(drip);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const SEND_TIMEOUT_MS = 1000;
// A hang fails the test at this bound instead of holding the run.
const GUARD = { timeout: 30_000 };

describe('an SMTP server that trickles its answers for ever', () => {
  let trickler: TricklingServer;
  const settings = () => ({
    host: '127.0.0.1',
    port: trickler.port,
    ignoreTLS: true,
    from: 'auth@acme.test',
    sendTimeout: SEND_TIMEOUT_MS,
  });

  before(async () => {
    trickler = await startTricklingServer();
  });
  after(async () => {
    await trickler?.close();
  });

  it('a send fails at email.sendTimeout, naming it, and its connection is closed', GUARD, async () => {
    const mailer = new SmtpMailer(settings());
    const closed = trickler.closed();
    await assert.rejects(
      mailer.send({ to: 'a@acme.test', subject: 's', text: 't', html: '<p>t</p>' }),
      /email\.sendTimeout/u,
    );
    await closed;
    await mailer.close();
  });

  // restauth doctor's check (verify): with pool: true its connection is the pool's, which had no deadline.
  for (const pool of [false, true]) {
    it(
      `a check of the server${pool ? ' with pool: true' : ''} fails at email.sendTimeout`,
      GUARD,
      async () => {
        const mailer = new SmtpMailer({ ...settings(), pool });
        const closed = trickler.closed();
        await assert.rejects(mailer.verify(), /email\.sendTimeout/u);
        await closed;
        await mailer.close();
      },
    );
  }

  it('sign-up answers at once, and restauth stops while the mail is being sent', GUARD, async () => {
    const t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING, email: settings(), signup: { confirmEmail: true } },
    });
    let closing: Promise<void> | null = null;
    try {
      const connected = trickler.connected();
      const signUp = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 'slow@acme.test', password: 'a passphrase of some length' },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      await connected;
      const closed = trickler.closed();
      closing = t.close();
      await closing;
      await closed;
    } finally {
      if (closing === null) await t.close();
    }
  });

  it('refuses a sendTimeout that is not a whole number of milliseconds', () => {
    assert.throws(() => new SmtpMailer({ ...settings(), sendTimeout: '1s' }), /email\.sendTimeout/u);
  });
});

/**
 * nodemailer's pool (`pool: true`): its connections serve many mails, so the deadline cannot sit on a
 * socket as without it, and sendTimeout did not apply at all: a server holding its reply held the
 * send for ever (nodemailer's socketTimeout, 60 s of silence, is not met by a server that keeps the
 * connection alive). The real SMTP sink holds its reply to a mail; the send fails at sendTimeout,
 * the pool's connection is ended, and the next mail goes through a new one. Without the bound the
 * first test waits for its guard.
 */
describe('a pooled SMTP send whose reply the server holds', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await startSmtpSink();
  });
  after(async () => {
    await sink?.close();
  });

  it('fails at email.sendTimeout, and the next mail goes through the pool', GUARD, async () => {
    const mailer = new SmtpMailer({ ...sinkMailSettings(sink), pool: true, sendTimeout: SEND_TIMEOUT_MS });
    try {
      const held = sink.holdNextReply();
      const mail = { to: 'held@acme.test', subject: 's', text: 't', html: '<p>t</p>' };
      await assert.rejects(mailer.send(mail), /email\.sendTimeout/u);
      await held.received;
      held.release();

      await mailer.send({ ...mail, to: 'next@acme.test' });
      assert.ok(sink.mails.some((received) => received.to === 'next@acme.test'));
    } finally {
      await mailer.close();
    }
  });

  /**
   * A mail waiting in the pool's queue (its one connection busy with a mail whose reply the server
   * holds) when its deadline passed was left there: once the connection was ended, the pool sent it
   * on a new one, after restauth had counted it failed, and the worker's retry made two. The two
   * sends start in one tick, so their deadlines pass in one: the second's finds its mail still
   * queued and takes it out. The pool keeps its order, so a third mail sent after both are refused
   * goes after the second if it is still there: without the withdrawal the sink has the second.
   */
  it('a mail still queued at its deadline is never sent', GUARD, async () => {
    const mailer = new SmtpMailer({
      ...sinkMailSettings(sink),
      pool: true,
      maxConnections: 1,
      sendTimeout: SEND_TIMEOUT_MS,
    });
    const held = sink.holdNextReply();
    try {
      const mail = (to: string) => ({ to, subject: 's', text: 't', html: '<p>t</p>' });
      const onConnection = mailer.send(mail('on-connection@acme.test'), { key: 'outbox-1' });
      const queued = mailer.send(mail('queued@acme.test'));
      await assert.rejects(onConnection, /email\.sendTimeout/u);
      await assert.rejects(queued, /email\.sendTimeout/u);
      held.release();
      await mailer.send(mail('after@acme.test'));
      const received = sink.mails.map((received) => received.to);
      // Ambiguous: the server has it, restauth never heard so. Its retry carries the same Message-ID.
      const ambiguous = sink.mails.find((received) => received.to === 'on-connection@acme.test');
      assert.equal(ambiguous?.messageId, messageIdFor('outbox-1', mailer.from), 'received, its reply lost');
      assert.ok(!received.includes('queued@acme.test'), 'the queued one was never sent');
    } finally {
      held.release();
      await mailer.close();
    }
  });

  /**
   * Through a proxy (`proxy`), the pool's connections are the proxy's sockets, not boundedSocket's:
   * the send failed at its deadline but its connection stayed open until nodemailer's socketTimeout
   * (60 s, above the guard). The proxy, real and in-process, stalls once the mail went through it,
   * holding the server's reply; its side of the connection must close at the deadline.
   */
  it('through a proxy that stalls: the connection is closed at email.sendTimeout', GUARD, async () => {
    const proxy = await startConnectProxy({ stallAfterMail: true });
    const mailer = new SmtpMailer({
      ...sinkMailSettings(sink),
      pool: true,
      proxy: proxy.url,
      sendTimeout: SEND_TIMEOUT_MS,
    });
    try {
      const closed = proxy.clientClosed();
      const mail = { to: 'stalled-proxy@acme.test', subject: 's', text: 't', html: '<p>t</p>' };
      await assert.rejects(mailer.send(mail), /email\.sendTimeout/u);
      await closed;
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${sink.port}`], 'through the proxy');
    } finally {
      await mailer.close();
      proxy.close();
    }
  });

  it('sends mails one after another on the pool within the bound', GUARD, async () => {
    const mailer = new SmtpMailer({ ...sinkMailSettings(sink), pool: true, sendTimeout: 60_000 });
    try {
      for (const to of ['one@acme.test', 'two@acme.test']) {
        await mailer.send({ to, subject: 's', text: 't', html: '<p>t</p>' });
      }
      assert.deepEqual(
        sink.mails
          .filter((mail) => ['one@acme.test', 'two@acme.test'].includes(mail.to))
          .map((mail) => mail.to),
        ['one@acme.test', 'two@acme.test'],
      );
    } finally {
      await mailer.close();
    }
  });
});
