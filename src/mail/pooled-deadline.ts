import type { Socket } from 'node:net';
import { timedOut, type GetSocket } from './bounded-socket.js';

/**
 * `email.sendTimeout` with nodemailer's `pool: true`. A pooled connection serves many mails, so no
 * deadline can sit on its socket (it would end a healthy pool every sendTimeout); and which
 * connection carries a mail is nodemailer's own. So each send is given the deadline, and a send
 * past it ends every connection of the pool: the mails on them fail (the worker retries them; a
 * server that holds one send usually holds them all) and nodemailer opens new ones for the next.
 * Without it a server dripping its answers held a pooled send, the mail queue behind it, and a stop
 * of restauth, for ever.
 */
export class PooledSendDeadline {
  private readonly sockets = new Set<Socket>();

  constructor(private readonly sendTimeout: number) {}

  /** boundedSocket's `opened`: each socket the pool opens, kept until it closes. */
  readonly keep = (socket: Socket): void => {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  };

  /**
   * nodemailer's proxy handler (`proxy`), whose sockets replace boundedSocket's: each one it hands
   * over is kept as boundedSocket's are, so a deadline ends it. Without it a send through a proxy
   * failed at its deadline while its connection, untouched, stayed open until nodemailer's
   * socketTimeout (60 s of silence; for ever with a server or proxy that drips).
   */
  keepProxied(viaProxy: GetSocket): GetSocket {
    return (options, callback) =>
      viaProxy(options, (error, socket) => {
        if (socket?.connection) this.keep(socket.connection);
        callback(error, socket);
      });
  }

  /**
   * `sending`, rejected at the deadline, when its mail is taken out of the pool's queue if it still
   * waits there (`withdraw`) and the pool's connections are ended.
   */
  async bound<T>(sending: Promise<T>, withdraw: (error: Error) => void = () => {}): Promise<T> {
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      deadline = setTimeout(() => {
        const error = timedOut(
          `the mail server took longer than ${this.sendTimeout} ms over one mail (email.sendTimeout)`,
        );
        withdraw(error);
        for (const socket of this.sockets) socket.destroy(error);
        reject(error);
      }, this.sendTimeout);
    });
    try {
      return await Promise.race([sending, late]);
    } finally {
      clearTimeout(deadline);
      // Its own failure, once the pool's connections end, is already told by the deadline.
      sending.catch(() => {});
    }
  }
}

/** nodemailer's SMTPPool, the part a deadline needs: the mails waiting for a connection, in order. */
interface QueuedMails {
  _queue?: Array<{
    mail: { message: { getHeader(name: string): unknown } };
    callback(error: Error | null): void;
  }>;
}

/**
 * Takes the mail of Message-ID `messageId` out of nodemailer's pool queue (`pool`: its
 * SMTPPool) while it waits there for a connection, failing its send with `error`: it was never
 * sent, so the worker's retry is its only sending. Left there, a mail whose deadline passed while it
 * waited (every connection busy with a server holding its replies) was sent once a connection came
 * free, after restauth had counted it failed: it arrived twice, the retry too.
 */
export function withdrawQueued(pool: unknown, messageId: string, error: Error): void {
  const queue = (pool as QueuedMails)._queue;
  if (!Array.isArray(queue)) return;
  const at = queue.findIndex((entry) => entry.mail.message.getHeader('message-id') === messageId);
  if (at === -1) return;
  const [entry] = queue.splice(at, 1);
  entry?.callback(error);
}
