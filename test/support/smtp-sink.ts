import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SinkMail {
  /** The first To: address of the message. */
  to: string;
  /** The From: address of the message. */
  from: string;
  /** The From: header as written, display name included. */
  fromHeader: string;
  subject: string;
  text: string;
  html: string;
  /** The SMTP envelope: what the client said in MAIL FROM and RCPT TO. */
  envelope: { from: string; to: string[] };
  /** The user name the client authenticated with, if it did. */
  authUser: string | null;
  /** The Message-ID header, angle brackets included. */
  messageId: string;
}

export interface SmtpSink {
  port: number;
  /** Every mail received, in order. */
  mails: SinkMail[];
  /**
   * Resolves with the first mail (already received or to come) matching, or rejects after timeoutMs or
   * MAIL_WAIT_FLOOR_MS, whichever is longer.
   */
  waitForMail(predicate: (mail: SinkMail) => boolean, timeoutMs: number): Promise<SinkMail>;
  /**
   * The next `count` deliveries are refused with a temporary error (451), at
   * RCPT TO or after DATA: what a greylisting or overloaded server does.
   */
  refuseNext(count: number, stage?: 'rcpt' | 'data', kind?: 'temporary' | 'permanent'): void;
  /**
   * The next delivery is received and recorded, then its connection is cut before the server's
   * reply to the DATA's `.`: the sender cannot tell whether the mail went.
   */
  dropNextReply(): void;
  /**
   * The next delivery is received and recorded, but the server's reply to it
   * (250) waits until `release` is called: what a slow server does, and the
   * moment to break something between "sent" and "recorded as sent".
   */
  holdNextReply(): { received: Promise<SinkMail>; release(): void };
  /** How many deliveries were refused so far. */
  refused(): number;
  close(): Promise<void>;
}

/**
 * The least a wait for a mail lasts before it fails, whatever its caller asked: the bound guards against a
 * mail never sent, it does not time a delivery. Callers ask as little as 5 s, which a delivery through the
 * outbox, nodemailer and this parser need not meet on a loaded machine (load 20 on 2 cores).
 */
export const MAIL_WAIT_FLOOR_MS = 120_000;

/** The `email` settings (nodemailer's) that send to this sink, as a test's config writes them. */
export function sinkMailSettings(sink: Pick<SmtpSink, 'port'>, from = 'auth@acme.test') {
  return { host: '127.0.0.1', port: sink.port, secure: false, ignoreTLS: true, from };
}

function temporaryFailure(): Error {
  return Object.assign(new Error('try again later'), { responseCode: 451 });
}

/** What a server answers for an address it has no mailbox for, or a message it will never take. */
function permanentFailure(): Error {
  return Object.assign(new Error('mailbox unavailable'), { responseCode: 550 });
}

/** The parts of smtp-server's SMTPConnection that cut one. */
interface SinkConnection {
  session?: { id: string };
  _socket: { destroy(): void };
}

/**
 * A real SMTP server in the test process (smtp-server), on an ephemeral port
 * of 127.0.0.1 unless `port` is given, accepting any login (plain text, no
 * TLS: it is local) and parsing each mail with mailparser.
 */
export async function startSmtpSink(options: { port?: number } = {}): Promise<SmtpSink> {
  const mails: SinkMail[] = [];
  const waiters: Array<{ predicate: (mail: SinkMail) => boolean; resolve: (mail: SinkMail) => void }> = [];
  const refusals = { rcpt: 0, data: 0 };
  let refusal = temporaryFailure;
  let dropReply = false;
  let refusedCount = 0;
  let hold: { received(mail: SinkMail): void; released: Promise<void> } | null = null;
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onRcptTo(_address, _session, callback) {
      if (refusals.rcpt > 0) {
        refusals.rcpt--;
        refusedCount++;
        callback(refusal());
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      if (refusals.data > 0) {
        refusals.data--;
        refusedCount++;
        stream.resume();
        stream.on('end', () => callback(refusal()));
        return;
      }
      simpleParser(stream)
        .then((parsed) => {
          const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
          const envelopeFrom = session.envelope.mailFrom;
          const mail: SinkMail = {
            to: to?.value[0]?.address ?? '',
            from: parsed.from?.value[0]?.address ?? '',
            fromHeader: parsed.from?.text ?? '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            envelope: {
              from: envelopeFrom ? envelopeFrom.address : '',
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            },
            authUser: typeof session.user === 'string' ? session.user : null,
            messageId: parsed.messageId ?? '',
          };
          mails.push(mail);
          for (const waiter of [...waiters]) {
            if (waiter.predicate(mail)) {
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.resolve(mail);
            }
          }
          if (dropReply) {
            dropReply = false;
            // smtp-server keeps its connections (and each one's socket) in a set of its own.
            const connections = (server as unknown as { connections: Set<SinkConnection> }).connections;
            for (const connection of connections) {
              if (connection.session?.id === session.id) connection._socket.destroy();
            }
            return;
          }
          const held = hold;
          hold = null;
          if (!held) return callback();
          held.received(mail);
          void held.released.then(() => callback());
        })
        .catch((error: Error) => callback(error));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      // From here on an error is a client's connection failing (a killed sender: ECONNRESET), which
      // the sender's side of a test judges; it must not end the test process.
      server.on('error', () => {});
      resolve();
    });
  });
  const port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  return {
    port,
    mails,
    refuseNext: (count, stage = 'data', kind = 'temporary') => {
      refusals[stage] = count;
      refusal = kind === 'temporary' ? temporaryFailure : permanentFailure;
    },
    dropNextReply: () => {
      dropReply = true;
    },
    refused: () => refusedCount,
    holdNextReply: () => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const received = new Promise<SinkMail>((resolve) => {
        hold = { received: resolve, released };
      });
      return { received, release };
    },
    waitForMail: (predicate, timeoutMs) => {
      const found = mails.find(predicate);
      if (found) return Promise.resolve(found);
      const bound = Math.max(timeoutMs, MAIL_WAIT_FLOOR_MS);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (mail: SinkMail) => {
            clearTimeout(timer);
            resolve(mail);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no matching mail within ${bound} ms (${mails.length} received)`));
        }, bound);
        waiters.push(waiter);
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
