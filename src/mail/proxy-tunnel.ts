/**
 * nodemailer's `proxy: "http://..."` and `"https://..."` (an HTTP CONNECT tunnel, in TLS to the proxy
 * for https), on a socket restauth opens. nodemailer's own client opens its socket out of reach and
 * bounds only its silence (30 s), so a proxy dripping its answer to CONNECT held that socket, and the
 * answer's bytes in memory, for ever: the send failed at email.sendTimeout, its connection did not.
 * Here the tunnel is boundedSocket's, ended at the deadline (kept by the pool's with `pool: true`),
 * whatever stage it is at, the proxy's TLS handshake included.
 */
import { isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
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
 * A CONNECT tunnel through an HTTP proxy, its TCP connection opened by `open` (boundedSocket); with
 * `tls`, an https proxy, spoken to in TLS over that connection. As nodemailer's own client, the
 * proxy's certificate is not checked (the SMTP server's, over the tunnel, is): what worked keeps working.
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
        ? connectTls({
            socket: opened.connection,
            rejectUnauthorized: false,
            ...(isIP(host) ? {} : { servername: host }),
          })
        : opened.connection;
      let answer = '';
      const failed = (reason: Error) => {
        socket.off('data', read);
        socket.off('close', closed);
        socket.off('error', failed);
        socket.destroy();
        opened.connection.destroy();
        callback(reason);
      };
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
        socket.off('error', failed);
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
      socket.once('error', failed);
      const authorization =
        typeof proxy.auth === 'string' && proxy.auth !== ''
          ? `Proxy-Authorization: Basic ${Buffer.from(proxy.auth).toString('base64')}\r\n`
          : '';
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${authorization}\r\n`);
    });
  };
}
