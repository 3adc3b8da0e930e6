import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type Nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config/schema.js';
import type { OutgoingMail } from '../core/ports/outbox.js';
import { writeFileAtomically } from '../lib/atomic-write.js';
import { ifMissing } from '../lib/if-missing.js';
import { processIsRunning } from '../lib/process-running.js';
import { boundedSocket, proxiedSocketBounded, type GetSocket } from './bounded-socket.js';
import { PooledSendDeadline, type StartDeadline } from './pooled-deadline.js';
import { proxyTunnel } from './proxy-tunnel.js';
import { nodemailerSmtpOptions } from './smtp-options.js';

/** What the queue knows of a mail beyond its content. */
export interface SendOptions {
  /**
   * A stable identifier of this mail (its outbox id): every attempt to send it
   * carries the Message-ID made from it, so a mail sent again (the worker
   * could not record the first sending) is one message to its recipient's
   * mail system, not two.
   */
  key?: string;
}

/** Sends one message; rejects when the transport refuses it (the queue retries). */
export interface Mailer {
  send(message: OutgoingMail, options?: SendOptions): Promise<void>;
  close(): Promise<void>;
}

export interface MailLogger {
  info(message: string): void;
  /** `error`, when given, is logged with the line (its stack and code). */
  warn(message: string, error?: unknown): void;
}

/**
 * Waits a mail worker can afford: nodemailer's own defaults (2 min to
 * connect, 10 min of socket silence) would hold every queued mail behind one
 * dead server. The config can still set them.
 */
const TIMEOUTS = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 60_000 };

/**
 * Milliseconds one send may take, all of it (`email.sendTimeout`). nodemailer's socketTimeout is a
 * bound on silence only: a server that trickles its replies (a tarpit, a byte every few seconds)
 * held the send, and with it a stop of restauth, for ever, and four such sends stalled the queue.
 */
const SEND_TIMEOUT_MS = 120_000;

/** The Message-ID of a mail with a key: the key at the sender's domain (RFC 5322 msg-id). */
export function messageIdFor(key: string, from: string): string {
  const domain = /@([^\s<>@"]+)>?\s*$/u.exec(from)?.[1] ?? 'restauth.invalid';
  return `<${key}@${domain}>`;
}

const require = createRequire(import.meta.url);

/**
 * nodemailer, loaded (synchronously: it is CommonJS) when the first mailer needs it: a server
 * without SMTP that sends no mail never loads it (start-up time and memory).
 */
function nodemailer(): {
  createTransport: typeof Nodemailer.createTransport;
  SMTPTransport: typeof SMTPTransport;
  SMTPPool: typeof SMTPTransport;
} {
  return {
    createTransport: (require('nodemailer') as typeof Nodemailer).createTransport,
    SMTPTransport: require('nodemailer/lib/smtp-transport/index.js') as typeof SMTPTransport,
    // Its type is SMTPTransport's here: both take the same options, and only sendMail is called.
    SMTPPool: require('nodemailer/lib/smtp-pool/index.js') as typeof SMTPTransport,
  };
}

/** A sender for the mails when the config names none. */
function defaultFrom(appName: string): string {
  return `"${appName.replace(/["\\\r\n]/g, '')}" <no-reply@localhost>`;
}

/**
 * SMTP through nodemailer. The options are nodemailer's own (postgrest-auth's
 * `email` object: `from`, `host`, `port`, `secure`, `auth.user`, `auth.pass`,
 * or any other SMTP transport option), or `{ url: "smtp://user:pass@host:587",
 * from }`; `from` is the sender of every mail.
 */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;
  private readonly pool: PooledSendDeadline | null;
  readonly from: string;

  /** `startDeadline`: the clock of the pooled deadlines (a test's, to pass one deadline at a time). */
  constructor(
    options: Record<string, unknown>,
    fallbackFrom = defaultFrom('restauth'),
    startDeadline?: StartDeadline,
  ) {
    const { from, url, sendTimeout = SEND_TIMEOUT_MS, ...smtp } = options;
    this.from = typeof from === 'string' && from.trim() !== '' ? from : fallbackFrom;
    if (url !== undefined && typeof url !== 'string') throw new Error('email.url must be a string');
    if (typeof sendTimeout !== 'number' || !Number.isInteger(sendTimeout) || sendTimeout < 1) {
      throw new Error('email.sendTimeout must be a whole number of milliseconds, at least 1');
    }
    // A pooled connection serves many mails: a deadline on its socket would end the pool's, not a
    // send's. Its sockets are kept instead, and each send is bounded in send() (pooled-deadline.ts).
    // `pool` may be in the url's query (`?pool=true`), which nodemailer reads as the object's.
    const pooled = !!nodemailerSmtpOptions(url === undefined ? smtp : { ...smtp, url })['pool'];
    this.pool = pooled ? new PooledSendDeadline(sendTimeout, startDeadline) : null;
    const open = boundedSocket(this.pool ? null : sendTimeout, TIMEOUTS.connectionTimeout, this.pool?.keep);
    const bounded = { getSocket: this.pool ? this.pool.connections(open) : open };
    // With a url, the SMTP transport merges it over the other options (createTransport would drop them).
    const { createTransport, SMTPTransport, SMTPPool } = nodemailer();
    if (url === undefined) {
      this.transport = createTransport({ ...TIMEOUTS, ...smtp, ...bounded } as SMTPTransport.Options);
    } else {
      // pool: true beside a url, or in its query, is a pool too (a plain SMTPTransport ignored it: no pool,
      // no socket deadline).
      const Transport = this.pool ? SMTPPool : SMTPTransport;
      const transport = new Transport({ ...TIMEOUTS, ...smtp, ...bounded, url } as SMTPTransport.Options);
      this.transport = createTransport(transport);
      // createTransport sets up a `proxy` from its own options only, and a transport made here gives it
      // none: a proxy named beside the url, or in its query, was ignored and mail went straight out.
      const { proxy } = transport.options as { proxy?: unknown };
      if (typeof proxy === 'string') this.transport.setupProxy(proxy);
    }
    this.pool?.attach((this.transport as Transporter & { transporter: unknown }).transporter);
    // A proxy's tunnel is opened on boundedSocket's socket, so the deadline ends it at any stage.
    this.transport.set('proxy_handler_http', proxyTunnel(open));
    this.transport.set('proxy_handler_https', proxyTunnel(open, { tls: true }));
    // A proxy's socket replaces the one boundedSocket opens: it gets the same deadline.
    const mailer = this.transport as Transporter & { getSocket?: GetSocket | false };
    if (typeof mailer.getSocket === 'function') {
      mailer.getSocket = this.pool
        ? this.pool.connections(mailer.getSocket)
        : proxiedSocketBounded(mailer.getSocket, sendTimeout);
    }
  }

  async send(message: OutgoingMail, options: SendOptions = {}): Promise<void> {
    const mail = { ...message, from: this.from };
    if (!this.pool) {
      const keyed = options.key === undefined ? {} : { messageId: messageIdFor(options.key, this.from) };
      await this.transport.sendMail({ ...mail, ...keyed });
      return;
    }
    // A pooled mail always has a Message-ID of restauth's: its deadline finds it in the pool by it.
    const messageId = messageIdFor(options.key ?? randomUUID(), this.from);
    await this.pool.bound(this.transport.sendMail({ ...mail, messageId }), messageId);
  }

  /** Connects, greets and logs in as a send would, sending nothing (`restauth doctor`). */
  async verify(): Promise<void> {
    // Pooled, its connection is the pool's, which has no deadline of its own: a server that drips held
    // `restauth doctor` for ever.
    const verifying = this.transport.verify();
    await (this.pool ? this.pool.bound(verifying) : verifying);
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/**
 * The development default when no SMTP server is configured: each mail is
 * built as a real RFC 5322 message by nodemailer, written to the outbox
 * folder as NAME.eml with NAME.json beside it (the same mail as data, for
 * scripts and tests), and logged, so links and codes can be followed without
 * a mail server. The folder is owner-only: the mails hold live tokens.
 */
export class OutboxMailer implements Mailer {
  /** Made at the first mail (see nodemailer()). */
  private builder: Transporter | null = null;
  private sequence = 0;

  constructor(
    readonly folder: string,
    private readonly logger: MailLogger,
    readonly from = defaultFrom('restauth'),
  ) {}

  async send(message: OutgoingMail, options: SendOptions = {}): Promise<void> {
    const date = new Date();
    this.builder ??= nodemailer().createTransport({
      streamTransport: true,
      buffer: true,
      newline: 'windows',
    });
    const info = (await this.builder.sendMail({
      ...message,
      from: this.from,
      date,
      ...(options.key === undefined ? {} : { messageId: messageIdFor(options.key, this.from) }),
    })) as unknown as {
      message: Buffer;
      messageId: string;
    };
    await mkdir(this.folder, { recursive: true, mode: 0o700 });
    // Sortable by time; pid and a counter keep two mails of one millisecond apart (OUTBOX_NAME).
    const name = `${date.toISOString().replace(/[:.]/g, '-')}-${process.pid}-${this.sequence++}`;
    const eml = join(this.folder, `${name}.eml`);
    const record = { ...message, from: this.from, date: date.toISOString(), messageId: info.messageId };
    // Each file whole or not at all (a reader watching the folder, a crash, a full disk), the .eml first:
    // a script that sees a .json finds its message beside it. A failed send leaves no file, and its retry
    // writes the mail again under a new name.
    await writeFileAtomically(eml, info.message, 0o600);
    await writeFileAtomically(
      join(this.folder, `${name}.json`),
      JSON.stringify(record, null, 2) + '\n',
      0o600,
    );
    this.logger.info(`mail to ${message.to}: ${message.subject} (development outbox: ${eml})`);
  }

  /**
   * Removes what a crash between creating and renaming a mail's file left (an outbox may be shared by
   * several instances: only files whose writer, the pid in the name, is no longer running, and only
   * restauth's own names): the temp files of writeFileAtomically, and the empty .json and .eml files
   * that versions writing in place left. Called at start; a partial file is never guessed at.
   */
  async removeCrashLeftovers(): Promise<string[]> {
    const names = await readdir(this.folder).catch(ifMissing([]));
    const removed: string[] = [];
    for (const name of names) {
      const temp = OUTBOX_TEMP_NAME.exec(name);
      const writer = temp ? temp[1] : OUTBOX_NAME.exec(name)?.[1];
      if (writer === undefined || processIsRunning(Number(writer))) continue;
      const path = join(this.folder, name);
      const info = await stat(path).catch(() => null);
      if (info?.isFile() && (temp !== null || info.size === 0)) {
        await rm(path, { force: true });
        removed.push(name);
      }
    }
    if (removed.length > 0) {
      this.logger.warn(
        `restauth: removed ${removed.length} outbox file(s) a crash left unfinished: ${removed.join(', ')}`,
      );
    }
    return removed;
  }

  async close(): Promise<void> {}
}

/** An outbox mail's file name: `<ISO time with - for : and .>-<pid>-<counter>.json|.eml`. */
const OUTBOX_NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-(\d+)-\d+\.(?:json|eml)$/;
/** writeFileAtomically's temp file of an outbox mail: `.<mail's name>.<writer's pid>.tmp` (or `.replaced`). */
const OUTBOX_TEMP_NAME =
  /^\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-\d+-\d+\.(?:json|eml)\.(\d+)\.(?:tmp|replaced)$/;

/**
 * The mailer the server sends with (see createMailer), ready: the development
 * outbox is cleared of the empty files a crash left first.
 */
export async function openMailer(
  config: Pick<Config, 'email' | 'outboxDir' | 'appName'>,
  logger: MailLogger,
): Promise<Mailer> {
  if (config.email) return createMailer(config, logger);
  const outbox = new OutboxMailer(config.outboxDir, logger, defaultFrom(config.appName));
  await outbox.removeCrashLeftovers();
  return outbox;
}

/** SMTP when the config has an `email` object, else the development outbox. */
export function createMailer(
  config: Pick<Config, 'email' | 'outboxDir' | 'appName'>,
  logger: MailLogger,
): Mailer {
  const from = defaultFrom(config.appName);
  if (config.email) return new SmtpMailer(config.email, from);
  return new OutboxMailer(config.outboxDir, logger, from);
}
