import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { SmtpMailer } from '../../src/mail/mailer.js';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import { selfSignedCertificate } from '../support/self-signed.js';
import { sinkMailSettings, startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';

/**
 * An operator whose mail must leave through a proxy (an egress proxy, or one that hides the server's
 * own address) names it in the `email` options, as nodemailer documents: `proxy: "http://..."`.
 * Beside a `url` (or in the url's query) the proxy was ignored and every mail went straight to the
 * SMTP server, from the server's own address: nodemailer's createTransport sets up a proxy from its
 * own options only, and the url form handed it a ready transport. Each form must go through it.
 * And a send through the proxy is bounded by email.sendTimeout as a direct one is: the proxy's socket
 * is nodemailer's, and a server dripping its replies held such a send (and a stop) for ever.
 */

describe('SmtpMailer sends through a configured proxy, in every form of its options', () => {
  let sink: SmtpSink;
  let proxy: ConnectProxy;
  let pem: { key: string; cert: string };
  before(async () => {
    sink = await startSmtpSink();
    proxy = await startConnectProxy();
    // The proxies are reached at 127.0.0.1; their certificate is checked against it (tls.ca below).
    pem = await selfSignedCertificate('127.0.0.1');
  });
  after(async () => {
    proxy.close();
    await sink.close();
  });

  const forms: Array<[string, () => Record<string, unknown>]> = [
    ['host and port', () => ({ host: '127.0.0.1', port: sink.port, proxy: proxy.url })],
    ['a url, the proxy beside it', () => ({ url: `smtp://127.0.0.1:${sink.port}`, proxy: proxy.url })],
    [
      'a url, the proxy in its query',
      () => ({ url: `smtp://127.0.0.1:${sink.port}?proxy=${encodeURIComponent(proxy.url)}` }),
    ],
  ];

  /** An SMTP server that greets, then answers EHLO one "250-" line at a time, for ever. */
  async function startDrippingServer(): Promise<{ port: number; close(): void }> {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.write('220 drip.test ESMTP\r\n');
      socket.once('data', () => {
        const drip = setInterval(() => socket.write('250-still thinking\r\n'), 20);
        socket.once('close', () => clearInterval(drip));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    return {
      port,
      close: () => {
        server.close();
        for (const socket of sockets) socket.destroy();
      },
    };
  }

  // nodemailer's own CONNECT client bounds silence only (30 s), so a drip held its connection for ever
  // after the send had failed: the proxy must see the connection closed at the deadline too. An https
  // proxy (CONNECT in TLS) was still nodemailer's client: the same drip held it.
  for (const scheme of ['http', 'https'] as const) {
    for (const pool of [false, true]) {
      it(
        `an ${scheme} proxy dripping its answer to CONNECT is let go after email.sendTimeout${pool ? ' (pool: true)' : ''}`,
        { timeout: 20_000 },
        async () => {
          const sockets = new Set<Socket>();
          let closed!: Promise<void>;
          const answerDripping = (socket: Socket) => {
            sockets.add(socket);
            closed = new Promise((resolve) => socket.once('close', () => resolve()));
            socket.on('error', () => {});
            socket.once('data', () => {
              socket.write('HTTP/1.1 200 Connection established\r\n');
              const drip = setInterval(() => socket.write('X-Still: thinking\r\n'), 20);
              socket.once('close', () => clearInterval(drip));
            });
          };
          const dripping =
            scheme === 'https' ? createTlsServer(pem, answerDripping) : createTcpServer(answerDripping);
          dripping.listen(0, '127.0.0.1');
          await once(dripping, 'listening');
          const mailer = new SmtpMailer({
            host: '127.0.0.1',
            port: sink.port,
            proxy: `${scheme}://127.0.0.1:${(dripping.address() as AddressInfo).port}`,
            tls: { ca: pem.cert },
            sendTimeout: 300,
            pool,
            from: 'auth@acme.test',
          });
          try {
            await assert.rejects(
              mailer.send({ to: 'proxy-drip@acme.test', subject: 'x', text: 'x', html: '<p>x</p>' }),
              /email\.sendTimeout/,
            );
            await closed;
          } finally {
            await mailer.close();
            dripping.close();
            for (const socket of sockets) socket.destroy();
          }
        },
      );
    }
  }

  for (const pool of [false, true]) {
    it(`an https proxy carries the mail, in TLS to the proxy${pool ? ' (pool: true)' : ''}`, async () => {
      const httpsProxy = await startConnectProxy({ tls: pem });
      const mailer = new SmtpMailer({
        ...sinkMailSettings(sink),
        proxy: httpsProxy.url,
        tls: { ca: pem.cert },
        pool,
      });
      const to = `https-proxy-${String(pool)}@acme.test`;
      try {
        await mailer.send({ to, subject: 'x', text: 'x', html: '<p>x</p>' });
        assert.ok(sink.mails.some((mail) => mail.to === to));
        assert.deepEqual(httpsProxy.tunnels, [`127.0.0.1:${sink.port}`]);
      } finally {
        await mailer.close();
        httpsProxy.close();
      }
    });
  }

  it('a proxy refusing the tunnel fails the send; its credentials are sent to it', async () => {
    let asked = '';
    const refusing = createTcpServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', (chunk) => {
        asked = chunk.toString();
        socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      });
    });
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    const port = (refusing.address() as AddressInfo).port;
    const mailer = new SmtpMailer({
      host: '127.0.0.1',
      port: sink.port,
      proxy: `http://egress:p%40ss@127.0.0.1:${port}`,
      from: 'auth@acme.test',
    });
    try {
      await assert.rejects(
        mailer.send({ to: 'refused@acme.test', subject: 'x', text: 'x', html: '<p>x</p>' }),
        /refused the tunnel to 127\.0\.0\.1:\d+: 407/u,
      );
      assert.match(asked, new RegExp(`^CONNECT 127\\.0\\.0\\.1:${sink.port} HTTP/1\\.1\r\n`, 'u'));
      const basic = Buffer.from('egress:p@ss').toString('base64');
      assert.ok(asked.includes(`\r\nProxy-Authorization: Basic ${basic}\r\n`), asked);
    } finally {
      await mailer.close();
      refusing.close();
    }
  });

  for (const [form, options] of forms) {
    it(`${form}: a dripping server is let go after email.sendTimeout`, { timeout: 20_000 }, async () => {
      const dripping = await startDrippingServer();
      const settings = options();
      const moved = (value: unknown) =>
        typeof value === 'string' ? value.replace(`:${sink.port}`, `:${dripping.port}`) : value;
      const mailer = new SmtpMailer({
        ...settings,
        ...(settings['port'] ? { port: dripping.port } : {}),
        ...(settings['url'] ? { url: moved(settings['url']) } : {}),
        sendTimeout: 300,
        from: 'auth@acme.test',
      });
      try {
        await assert.rejects(
          mailer.send({ to: 'drip@acme.test', subject: 'x', text: 'x', html: '<p>x</p>' }),
          /email\.sendTimeout/,
        );
      } finally {
        await mailer.close();
        dripping.close();
      }
      assert.equal(proxy.tunnels.at(-1), `127.0.0.1:${dripping.port}`, 'through the proxy');
    });

    it(form, async () => {
      const before = proxy.tunnels.length;
      const mailer = new SmtpMailer({ ...options(), from: 'auth@acme.test' });
      const to = `${form.replace(/\W+/g, '-')}@acme.test`;
      try {
        await mailer.send({ to, subject: 'Through the proxy', text: 'x', html: '<p>x</p>' });
      } finally {
        await mailer.close();
      }
      assert.deepEqual(proxy.tunnels.slice(before), [`127.0.0.1:${sink.port}`], 'one tunnel, to the server');
      assert.ok(
        sink.mails.some((mail) => mail.to === to),
        'delivered',
      );
    });
  }
});
