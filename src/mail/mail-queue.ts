import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomically } from '../lib/atomic-write.js';
import type { MailMessage } from './mailer.js';

export interface QueuedMail {
  id: string;
  message: MailMessage;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
}

/** Where mails wait to be sent: durable, so a restart loses none. */
export interface MailQueue {
  /** True when other processes use the same queue: their workers may hold mails, and this one polls. */
  readonly shared: boolean;
  enqueue(message: MailMessage, now: number): Promise<QueuedMail>;
  /** The mails due now, taken for `leaseMs`: no other worker gets them meanwhile. */
  claim(now: number, maxAttempts: number, leaseMs: number): Promise<QueuedMail[]>;
  /** The earliest time a mail is due, or null when none waits. */
  nextDue(maxAttempts: number): Promise<number | null>;
  remove(id: string): Promise<void>;
  failed(id: string, error: string, nextAttemptAt: number): Promise<QueuedMail | undefined>;
}

/**
 * Mails waiting to be sent, kept in a JSON file written atomically, so a mail
 * accepted before a crash or a restart is still sent after it. Operations are
 * serialized; the file is small (sent mails leave it). One process uses it.
 */
export class FileMailQueue implements MailQueue {
  readonly shared = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  private async load(): Promise<QueuedMail[]> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as QueuedMail[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  private update<T>(change: (mails: QueuedMail[]) => T): Promise<T> {
    const next = this.chain.then(async () => {
      const mails = await this.load();
      const result = change(mails);
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await writeFileAtomically(this.path, JSON.stringify(mails, null, 2), 0o600);
      return result;
    });
    this.chain = next.catch(() => {});
    return next;
  }

  enqueue(message: MailMessage, now: number): Promise<QueuedMail> {
    return this.update((mails) => {
      const mail: QueuedMail = {
        id: randomUUID(),
        message,
        attempts: 0,
        nextAttemptAt: now,
        lastError: null,
      };
      mails.push(mail);
      return mail;
    });
  }

  /** One process: nothing to lease against. */
  async claim(now: number, maxAttempts: number): Promise<QueuedMail[]> {
    await this.chain;
    return (await this.load()).filter((mail) => mail.nextAttemptAt <= now && mail.attempts < maxAttempts);
  }

  async nextDue(maxAttempts: number): Promise<number | null> {
    await this.chain;
    const waiting = (await this.load()).filter((mail) => mail.attempts < maxAttempts);
    return waiting.length === 0 ? null : Math.min(...waiting.map((mail) => mail.nextAttemptAt));
  }

  remove(id: string): Promise<void> {
    return this.update((mails) => {
      const index = mails.findIndex((mail) => mail.id === id);
      if (index !== -1) mails.splice(index, 1);
    });
  }

  failed(id: string, error: string, nextAttemptAt: number): Promise<QueuedMail | undefined> {
    return this.update((mails) => {
      const mail = mails.find((candidate) => candidate.id === id);
      if (mail) Object.assign(mail, { attempts: mail.attempts + 1, lastError: error, nextAttemptAt });
      return mail;
    });
  }
}
