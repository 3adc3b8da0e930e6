import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends one message; throws when the transport refuses it (the queue retries). */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

export interface MailLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** SMTP through nodemailer, configured with its own options (postgrest-auth's `email` object, or `{url}`). */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;
  private readonly from: string | undefined;

  constructor(options: Record<string, unknown>) {
    const { from, url, ...smtp } = options;
    this.from = typeof from === 'string' ? from : undefined;
    this.transport = nodemailer.createTransport(typeof url === 'string' ? url : (smtp as object));
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ ...message, ...(this.from ? { from: this.from } : {}) });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/**
 * The development default when no SMTP server is configured: each mail is
 * built as a real RFC 822 message, written to the outbox folder as .eml, and
 * logged, so links and codes can be followed without a mail server.
 */
export class OutboxMailer implements Mailer {
  private readonly builder = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'unix',
  });
  private sequence = 0;

  constructor(
    private readonly folder: string,
    private readonly logger: MailLogger,
    private readonly from = 'restauth@localhost',
  ) {}

  async send(message: MailMessage): Promise<void> {
    const info = (await this.builder.sendMail({ ...message, from: this.from })) as unknown as {
      message: Buffer;
    };
    await mkdir(this.folder, { recursive: true, mode: 0o700 });
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${this.sequence++}.eml`;
    const path = join(this.folder, name);
    await writeFile(path, info.message, { mode: 0o600 });
    this.logger.info(`restauth: mail to ${message.to}: ${message.subject} (development outbox: ${path})`);
  }

  async close(): Promise<void> {}
}

export function createMailer(
  config: { email: Record<string, unknown> | null; outboxDir: string },
  logger: MailLogger,
): Mailer {
  if (config.email) return new SmtpMailer(config.email);
  return new OutboxMailer(config.outboxDir, logger);
}
