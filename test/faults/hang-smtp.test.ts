import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTransport } from 'nodemailer';
import { messageIdFor, SmtpMailer } from '../../src/mail/mailer.js';
import { messageIdOf, poolInternals } from '../../src/mail/smtp-pool-internals.js';
import { createTestApp } from '../support/app.js';
import { startConnectProxy } from '../support/connect-proxy.js';
import { freePort } from '../support/free-port.js';
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

  /**
   * One send's deadline ended every connection of the pool: another mail, already sent and waiting
   * for its reply on another connection, failed with it, and the worker sent it again: restauth
   * itself made a duplicate. The deadlines here are the test's (the clock is injected), so A's passes
   * while B waits for its reply, and B's reply comes after it: B must be delivered once and succeed.
   * Without the fix B fails ("Connection closed") when A's deadline passes.
   */
  it("a mail's deadline ends only its own connection, not another mail's", GUARD, async () => {
    const deadlines: Array<() => void> = [];
    const startDeadline = (_ms: number, fire: () => void) => {
      deadlines.push(fire);
      return () => {};
    };
    const settings = { ...sinkMailSettings(sink), pool: true, maxConnections: 2 };
    const mailer = new SmtpMailer({ ...settings, sendTimeout: 60_000 }, undefined, startDeadline);
    const heldA = sink.holdNextReply();
    let heldB: ReturnType<SmtpSink['holdNextReply']> | undefined;
    try {
      const mail = (to: string) => ({ to, subject: 's', text: 't', html: '<p>t</p>' });
      const a = mailer.send(mail('deadline-a@acme.test'), { key: 'deadline-a' });
      await heldA.received;
      heldB = sink.holdNextReply();
      const b = mailer.send(mail('deadline-b@acme.test'), { key: 'deadline-b' });
      await heldB.received;
      deadlines[0]?.();
      await assert.rejects(a, /email\.sendTimeout/u);
      heldB.release();
      await b;
      const bs = sink.mails.filter((received) => received.to === 'deadline-b@acme.test');
      assert.equal(bs.length, 1, 'B delivered once, and its send succeeded');
    } finally {
      heldA.release();
      heldB?.release();
      await mailer.close();
    }
  });

  /**
   * nodemailer's pool kept a connection whose socket could not be had (the server refused it) as busy
   * for ever: after maxConnections such refusals (a mail server restarting) no pooled mail was sent
   * again until restauth restarted; each waited in the queue to its deadline. A refusal must cost
   * one mail, not the pool: the server comes back on the same port and the next mail is delivered.
   */
  it('a refused connection does not hold a place in the pool for ever', GUARD, async () => {
    const port = await freePort();
    const mailer = new SmtpMailer({
      ...sinkMailSettings({ port }),
      pool: true,
      maxConnections: 1,
      sendTimeout: SEND_TIMEOUT_MS,
    });
    const mail = (to: string) => ({ to, subject: 's', text: 't', html: '<p>t</p>' });
    let back: SmtpSink | undefined;
    try {
      await assert.rejects(mailer.send(mail('refused@acme.test')), /ECONNREFUSED/u);
      back = await startSmtpSink({ port });
      await mailer.send(mail('after-refusal@acme.test'));
      assert.deepEqual(
        back.mails.map((received) => received.to),
        ['after-refusal@acme.test'],
      );
    } finally {
      await mailer.close();
      await back?.close();
    }
  });

  /**
   * A pooled deadline reads nodemailer's SMTPPool internals: its queue, its connections and the mail
   * each carries (smtp-pool-internals.ts). They are pinned here, on a real pool and the real sink: a
   * nodemailer that renamed one fails this test (and restauth refuses to start with pool: true).
   */
  it("nodemailer's pool has the internals a deadline reads", GUARD, async () => {
    assert.throws(() => poolInternals({}), /_queue or _connections/u);
    const transport = createTransport({ ...sinkMailSettings(sink), pool: true, maxConnections: 1 });
    const held = sink.holdNextReply();
    try {
      const pool = poolInternals((transport as unknown as { transporter: unknown }).transporter);
      const message = (id: string) => ({ to: 'pin@acme.test', text: 't', messageId: `<${id}@acme.test>` });
      const first = transport.sendMail(message('on-connection'));
      const second = transport.sendMail(message('queued'));
      await held.received;
      const [connection] = pool._connections;
      assert.ok(connection?.queueEntry, 'a connection carries its mail as queueEntry');
      assert.equal(messageIdOf(connection.queueEntry), '<on-connection@acme.test>');
      assert.equal(typeof connection.emit, 'function');
      assert.deepEqual(pool._queue.map(messageIdOf), ['<queued@acme.test>']);
      held.release();
      await Promise.all([first, second]);
    } finally {
      held.release();
      transport.close();
    }
  });

  // With a url, pool: true made no pool (the url's transport is made by restauth, and was a plain one).
  for (const form of ['host and port', 'a url'] as const) {
    it(`sends mails one after another on the pool within the bound (${form})`, GUARD, async () => {
      const settings =
        form === 'a url'
          ? { url: `smtp://127.0.0.1:${sink.port}`, ignoreTLS: true, from: 'auth@acme.test' }
          : sinkMailSettings(sink);
      const mailer = new SmtpMailer({ ...settings, pool: true, sendTimeout: 60_000 });
      const addresses = ['one', 'two'].map((name) => `${name}-${form.replaceAll(' ', '-')}@acme.test`);
      try {
        for (const to of addresses) await mailer.send({ to, subject: 's', text: 't', html: '<p>t</p>' });
        assert.deepEqual(
          sink.mails.filter((mail) => addresses.includes(mail.to)).map((mail) => mail.to),
          addresses,
        );
        assert.equal(
          (mailer as unknown as { transport: { transporter: { name: string } } }).transport.transporter.name,
          'SMTP (pool)',
        );
      } finally {
        await mailer.close();
      }
    });
  }
});
