/**
 * The deadline of one SMTP send (`email.sendTimeout`), on the socket it runs on. nodemailer bounds
 * only silence (socketTimeout): a server or a proxy that drips its answers (a tarpit) held a send,
 * and with it the mail queue and a stop of restauth, for ever. These are nodemailer's getSocket hooks
 * (SmtpMailer, not pooled) that end the connection when the send's time is up, whatever it carries.
 */
import { connect, type Socket } from 'node:net';

type SocketCallback = (error: Error | null, socket?: { connection: Socket }) => void;
/** nodemailer's getSocket hook (its proxies'): opens the connection one send runs on. */
export type GetSocket = (options: Record<string, unknown>, callback: SocketCallback) => void;

/**
 * nodemailer's getSocket (its hook for proxies): the TCP connection of one send, opened here so that
 * it can be ended `sendTimeout` ms after it began, however the server drips its answers; nodemailer
 * then gets the error, and the worker retries the mail later. The connect itself keeps nodemailer's
 * connectionTimeout (`defaultConnectionTimeout` when the options set none); TLS (`secure`, STARTTLS) is
 * still nodemailer's, over this socket.
 */
export function boundedSocket(
  sendTimeout: number | null,
  defaultConnectionTimeout: number,
  opened: (socket: Socket) => void = () => {},
): GetSocket {
  return (options, callback) => {
    const port = Number(options['port']) || (options['secure'] ? 465 : 587);
    const host =
      typeof options['host'] === 'string' && options['host'] !== '' ? options['host'] : 'localhost';
    const localAddress = typeof options['localAddress'] === 'string' ? options['localAddress'] : undefined;
    const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    // null: a pooled connection, whose sends SmtpMailer bounds one by one.
    if (sendTimeout !== null) endAfter(socket, sendTimeout);
    opened(socket);
    const connectionTimeout = Number(options['connectionTimeout']) || defaultConnectionTimeout;
    const connecting = setTimeout(() => socket.destroy(timedOut('Connection timeout')), connectionTimeout);
    const refused = (error: Error) => {
      clearTimeout(connecting);
      callback(error);
    };
    socket.once('close', () => clearTimeout(connecting));
    socket.once('error', refused);
    socket.once('connect', () => {
      clearTimeout(connecting);
      socket.off('error', refused);
      // nodemailer listens for errors from here on; this keeps one after it let the socket go.
      socket.on('error', () => {});
      socket.setKeepAlive(true);
      callback(null, { connection: socket });
    });
  };
}

/**
 * nodemailer's proxy handler (`proxy`), bounded as boundedSocket is from its start: a proxy dripping
 * its answer to CONNECT (silence is all nodemailer's proxy client bounds) fails the send at the
 * deadline, and the socket it hands over gets the time that is left.
 */
export function proxiedSocketBounded(viaProxy: GetSocket, sendTimeout: number): GetSocket {
  return (options, callback) => {
    const started = performance.now();
    let late = false;
    const deadline = setTimeout(() => {
      late = true;
      callback(timedOut(`the mail proxy took longer than ${sendTimeout} ms (email.sendTimeout)`));
    }, sendTimeout);
    viaProxy(options, (error, socket) => {
      clearTimeout(deadline);
      if (late) return socket?.connection.destroy();
      if (socket?.connection)
        endAfter(socket.connection, sendTimeout, sendTimeout - (performance.now() - started));
      callback(error, socket);
    });
  };
}

/** Destroys `socket` `leftMs` ms from now, unless it closed before (email.sendTimeout). */
function endAfter(socket: Socket, sendTimeout: number, leftMs = sendTimeout): void {
  const deadline = setTimeout(
    () =>
      socket.destroy(
        timedOut(`the mail server took longer than ${sendTimeout} ms over one mail (email.sendTimeout)`),
      ),
    Math.max(0, leftMs),
  );
  socket.once('close', () => clearTimeout(deadline));
}

export function timedOut(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}
