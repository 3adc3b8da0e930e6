import type { Socket } from 'node:net';
import { timedOut, type GetSocket } from './bounded-socket.js';
import {
  messageIdOf,
  poolInternals,
  type PoolConnection,
  type PoolEntry,
  type PoolInternals,
} from './smtp-pool-internals.js';

/** Starts a deadline: `fire` runs `ms` from now unless the returned function is called before. */
export type StartDeadline = (ms: number, fire: () => void) => () => void;

const realDeadline: StartDeadline = (ms, fire) => {
  const timer = setTimeout(fire, ms);
  return () => clearTimeout(timer);
};

/**
 * `email.sendTimeout` with nodemailer's `pool: true`. A pooled connection serves many mails, so no
 * deadline can sit on its socket (it would end a healthy pool every sendTimeout). Each send is given
 * the deadline instead, and a send past it ends the connection that carries its mail, and only that
 * one: each socket the pool opens is known by the pool connection it was opened for. Ending every
 * connection (as before) failed the other mails in flight too, some already sent and waiting for
 * their reply: the worker sent those again, and restauth itself made duplicates.
 * Without a deadline a server dripping its answers held a pooled send, the mail queue behind it, and
 * a stop of restauth, for ever.
 */
export class PooledSendDeadline {
  /** Each socket the pool opened, and the pool connection it was opened for (null: a check's). */
  private readonly owners = new Map<Socket, PoolConnection | null>();
  /** The pool connection whose socket is being opened, while `connections` runs (it is synchronous). */
  private opening: PoolConnection | null | undefined;
  private readonly claimed = new WeakSet<PoolConnection>();
  private pool: PoolInternals | null = null;

  constructor(
    private readonly sendTimeout: number,
    private readonly startDeadline: StartDeadline = realDeadline,
  ) {}

  /** The transport's pool (nodemailer's SMTPPool), checked for what a deadline reads. */
  attach(transporter: unknown): void {
    this.pool = poolInternals(transporter);
  }

  /** boundedSocket's `opened`: each socket the pool opens, kept (with its pool connection) until it closes. */
  readonly keep = (socket: Socket): void => this.own(socket, this.opening ?? null);

  /**
   * The pool's getSocket (boundedSocket's, or a proxy's): each socket it opens is known by the pool
   * connection it is for. SMTPPool gives a mail to a new connection and asks it for its socket in one
   * synchronous run, so that connection is the one with a mail that no socket was opened for yet.
   * A connection whose socket could not be had leaves the pool: nodemailer kept it, busy for ever,
   * and after maxConnections refused connects (a mail server restarting) the pool sent no mail again.
   */
  connections(open: GetSocket): GetSocket {
    return (options, callback) => {
      const connection = this.connecting();
      this.opening = connection;
      try {
        open(options, (error, socket) => {
          if (socket?.connection && !this.owners.has(socket.connection))
            this.own(socket.connection, connection);
          // nodemailer's pool removes a connection that emits 'error'; its mail (if still on it) fails.
          if (error && connection) connection.emit('error', error);
          callback(error, socket);
        });
      } finally {
        this.opening = undefined;
      }
    };
  }

  /**
   * `sending` (the mail of Message-ID `messageId`, or a check of the server when none), rejected at
   * the deadline: the mail is taken out of the pool, from its queue or from the connection carrying
   * it, and that connection's sockets are ended (a check's: the sockets of no pool connection).
   */
  async bound<T>(sending: Promise<T>, messageId?: string): Promise<T> {
    let stop = () => {};
    const late = new Promise<never>((_resolve, reject) => {
      stop = this.startDeadline(this.sendTimeout, () => {
        const error = timedOut(
          `the mail server took longer than ${this.sendTimeout} ms over one mail (email.sendTimeout)`,
        );
        this.end(messageId === undefined ? null : this.withdraw(messageId, error), error);
        reject(error);
      });
    });
    try {
      return await Promise.race([sending, late]);
    } finally {
      stop();
      // Its own failure, once its connection ends, is already told by the deadline.
      sending.catch(() => {});
    }
  }

  private own(socket: Socket, connection: PoolConnection | null): void {
    this.owners.set(socket, connection);
    socket.once('close', () => this.owners.delete(socket));
  }

  /** The pool connection a socket is being asked for (see `connections`), claimed; null for a check. */
  private connecting(): PoolConnection | null {
    const connection = this.pool?._connections.find(
      (candidate) => candidate.queueEntry && !this.claimed.has(candidate),
    );
    if (!connection) return null;
    this.claimed.add(connection);
    return connection;
  }

  /**
   * Takes the mail of `messageId` out of the pool, failing its send with `error`, and answers the
   * connection that carried it (undefined: it waited in the queue, or is no longer in the pool).
   * A queued mail was never sent, so the worker's retry is its only sending; left there, it was sent
   * once a connection came free, after restauth counted it failed, and arrived twice. A mail taken
   * off its connection is not put back in the queue by nodemailer when that connection closes.
   */
  private withdraw(messageId: string, error: Error): PoolConnection | undefined {
    const pool = this.pool;
    if (!pool) return undefined;
    const carries = (entry: PoolEntry | false | undefined): entry is PoolEntry =>
      !!entry && messageIdOf(entry) === messageId;
    const at = pool._queue.findIndex(carries);
    if (at !== -1) {
      pool._queue.splice(at, 1)[0]?.callback(error);
      return undefined;
    }
    const connection = pool._connections.find((candidate) => carries(candidate.queueEntry));
    const entry = connection?.queueEntry;
    if (!connection || !entry) return undefined;
    connection.queueEntry = false;
    entry.callback(error);
    return connection;
  }

  /** Ends the sockets of `connection` (null: the sockets of no pool connection, a check's). */
  private end(connection: PoolConnection | null | undefined, error: Error): void {
    if (connection === undefined) return;
    for (const [socket, owner] of this.owners) if (owner === connection) socket.destroy(error);
  }
}
