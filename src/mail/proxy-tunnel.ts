/**
 * nodemailer's `proxy: "http://..."` and `"https://..."` (an HTTP CONNECT tunnel, in TLS to the proxy
 * for https), on a socket restauth opens. nodemailer's own client opens its socket out of reach and
 * bounds only its silence (30 s), so a proxy dripping its answer to CONNECT held that socket, and the
 * answer's bytes in memory, for ever: the send failed at email.sendTimeout, its connection did not.
 * Here the tunnel is boundedSocket's, ended at the deadline (kept by the pool's with `pool: true`),
 * whatever stage it is at, the proxy's TLS handshake included.
 */
import { isIP, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { isPlainObject } from '../lib/is-plain-object.js';
import type { GetSocket } from './bounded-socket.js';

/** nodemailer's proxy handler (`proxy_handler_<protocol>`): the proxy's URL, parsed, and the SMTP target. */
export type ProxyHandler = (
  // url.parse's fields: auth is already decoded.
  proxy: { hostname?: string | null; port?: string | null; auth?: string | null },
  options: Record<string, unknown>,
  callback: Parameters<GetSocket>[1],
) => void;

/** An answer to CONNECT larger than this is no proxy's: the tunnel is refused, not buffered. */
const MAX_ANSWER_BYTES = 16 * 1024;

/**
 * The TLS options of the connection to an https proxy at `host`. Its certificate is checked as Node
 * checks any (Node's CAs, the proxy's name): unchecked, anyone on the way could pose as the
 * proxy and read every mail tunnelled through it (reset and magic links). The SMTP options' own
 * `tls.ca` and `tls.rejectUnauthorized` count here too: a private CA (or an operator's choice not to
 * check, which the setup policy names) is one setting for both hops; as in Node, a `ca` given replaces
 * the public CAs for both. `tls.servername` and the client certificate are the SMTP server's.
 */
function proxyTlsOptions(host: string, smtpTls: unknown): ConnectionOptions {
  const tls = isPlainObject(smtpTls) ? smtpTls : {};
  return {
    ...(tls['ca'] === undefined ? {} : { ca: tls['ca'] as ConnectionOptions['ca'] }),
    // Node's own reading (only a falsy value turns the check off), as for the SMTP server's TLS.
    ...(tls['rejectUnauthorized'] === undefined ? {} : { rejectUnauthorized: !!tls['rejectUnauthorized'] }),
    // The name the certificate must carry (Node checks `localhost` over a given socket without it).
    host,
    ...(isIP(host) ? {} : { servername: host }),
  };
}

/** A failed TLS handshake with the proxy, said as such (the error's code is kept for the log). */
function handshakeFailed(error: Error & { code?: string }): Error {
  return Object.assign(
    new Error(
      `the TLS handshake with the mail proxy failed (${error.message}); ` +
        'a proxy whose certificate a private CA signed needs that CA in email.tls.ca',
    ),
    { code: error.code ?? 'ETLS' },
  );
}

/**
 * A CONNECT tunnel through an HTTP proxy, its TCP connection opened by `open` (boundedSocket); with
 * `tls`, an https proxy, spoken to in TLS over that connection, its certificate checked
 * (proxyTlsOptions). The SMTP server's certificate is then checked over the tunnel by nodemailer.
 */
export function proxyTunnel(open: GetSocket, { tls = false } = {}): ProxyHandler {
  return (proxy, options, callback) => {
    const port = Number(options['port']) || (options['secure'] ? 465 : 587);
    const target = `${String(options['host'] ?? 'localhost')}:${port}`;
    const toProxy = {
      ...options,
      host: proxy.hostname ?? 'localhost',
      port: Number(proxy.port) || (tls ? 443 : 80),
      secure: false,
    };
    open(toProxy, (error, opened) => {
      if (error || !opened) return callback(error ?? new Error('the mail proxy could not be reached'));
      const host = toProxy.host;
      const socket: Socket = tls
        ? connectTls({ socket: opened.connection, ...proxyTlsOptions(host, options['tls']) })
        : opened.connection;
      let answer = '';
      let handshaken = !tls;
      socket.once('secureConnect', () => (handshaken = true));
      const failed = (reason: Error) => {
        socket.off('data', read);
        socket.off('close', closed);
        socket.off('error', errored);
        socket.destroy();
        opened.connection.destroy();
        callback(reason);
      };
      const errored = (error: Error) => failed(handshaken ? error : handshakeFailed(error));
      const closed = () =>
        failed(new Error(`the mail proxy closed the connection before its answer to CONNECT`));
      const read = (chunk: Buffer) => {
        answer += chunk.toString('latin1');
        const end = answer.indexOf('\r\n\r\n');
        if (end === -1) {
          if (answer.length > MAX_ANSWER_BYTES)
            failed(new Error('the mail proxy answered CONNECT at length'));
          return;
        }
        const status = /^HTTP\/\d\.\d (\d{3})/u.exec(answer)?.[1];
        if (status === undefined || !status.startsWith('2'))
          return failed(
            new Error(`the mail proxy refused the tunnel to ${target}: ${status ?? 'no status'}`),
          );
        socket.off('data', read);
        socket.off('close', closed);
        socket.off('error', errored);
        // nodemailer listens for errors from here on; this keeps one after it let the socket go.
        socket.on('error', () => {});
        // What came after the answer is the SMTP server's first bytes: handed back to the socket's reader.
        const rest = answer.slice(end + 4);
        if (rest !== '') socket.unshift(Buffer.from(rest, 'latin1'));
        callback(null, { connection: socket });
      };
      socket.on('data', read);
      socket.once('close', closed);
      // A TLS handshake refused (the raw socket's own errors are boundedSocket's to keep).
      socket.once('error', errored);
      const authorization =
        typeof proxy.auth === 'string' && proxy.auth !== ''
          ? `Proxy-Authorization: Basic ${Buffer.from(proxy.auth).toString('base64')}\r\n`
          : '';
      // To an https proxy, Node holds this until the certificate passed: an impostor never reads the
      // credentials (a test pins it).
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${authorization}\r\n`);
    });
  };
}
