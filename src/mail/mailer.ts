import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config/schema.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends one message; rejects when the transport refuses it (the queue retries). */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

export interface MailLogger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * Waits a mail worker can afford: nodemailer's own defaults (2 min to
 * connect, 10 min of socket silence) would hold every queued mail behind one
 * dead server. The config can still set them.
 */
const TIMEOUTS = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 60_000 };

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
  readonly from: string;

  constructor(options: Record<string, unknown>, fallbackFrom = defaultFrom('restauth')) {
    const { from, url, ...smtp } = options;
    this.from = typeof from === 'string' && from.trim() !== '' ? from : fallbackFrom;
    if (url !== undefined && typeof url !== 'string') throw new Error('email.url must be a string');
    // With a url, the SMTP transport merges it over the other options (createTransport would drop them).
    this.transport = nodemailer.createTransport(
      url === undefined
        ? ({ ...TIMEOUTS, ...smtp } as SMTPTransport.Options)
        : new SMTPTransport({ ...TIMEOUTS, ...smtp, url } as SMTPTransport.Options),
    );
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ ...message, from: this.from });
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
  private readonly builder = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows',
  });
  private sequence = 0;

  constructor(
    readonly folder: string,
    private readonly logger: MailLogger,
    readonly from = defaultFrom('restauth'),
  ) {}

  async send(message: MailMessage): Promise<void> {
    const date = new Date();
    const info = (await this.builder.sendMail({ ...message, from: this.from, date })) as unknown as {
      message: Buffer;
      messageId: string;
    };
    await mkdir(this.folder, { recursive: true, mode: 0o700 });
    // Sortable by time; pid and a counter keep two mails of one millisecond apart.
    const name = `${date.toISOString().replace(/[:.]/g, '-')}-${process.pid}-${this.sequence++}`;
    const eml = join(this.folder, `${name}.eml`);
    const record = { ...message, from: this.from, date: date.toISOString(), messageId: info.messageId };
    await writeFile(join(this.folder, `${name}.json`), JSON.stringify(record, null, 2) + '\n', {
      mode: 0o600,
    });
    await writeFile(eml, info.message, { mode: 0o600 });
    this.logger.info(`mail to ${message.to}: ${message.subject} (development outbox: ${eml})`);
  }

  async close(): Promise<void> {}
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
