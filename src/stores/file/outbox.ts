import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutgoingMail } from '../../core/notifier.js';
import type { MailOutboxStore, OutboxMail } from '../../core/ports/outbox.js';
import { removeLeftoverTempFiles, writeFileAtomically } from '../../lib/atomic-write.js';

/** A dead mail is kept for inspection, but only so many: the file stays small. */
const DEAD_KEPT = 100;

interface StoredMail extends OutboxMail {
  /** Set when the worker gave up: never claimed again. */
  dead?: true;
}

interface QueueFile {
  version: 1;
  mails: StoredMail[];
}

function isStoredMail(value: unknown): value is StoredMail {
  const mail = value as StoredMail;
  return (
    typeof mail === 'object' &&
    mail !== null &&
    typeof mail.id === 'string' &&
    typeof mail.message?.to === 'string' &&
    typeof mail.attempts === 'number' &&
    typeof mail.nextAttemptAt === 'number'
  );
}

/**
 * The mail queue of one process, as a JSON file (in the state dir): every
 * change is written atomically and durably (temp file, fsync, rename) before
 * it resolves, so a mail accepted before a crash or a restart is still sent
 * after it. Operations are serialized and the content is cached in memory:
 * this process is the file's only writer (the file store's instance lock).
 * Queued mails hold reset tokens and codes in clear, so the file is 0600.
 */
export class FileMailQueue implements MailOutboxStore {
  readonly shared = false;
  private mails: StoredMail[] | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  /**
   * The queue, read at start: a damaged file refuses the start, naming it,
   * instead of a server that answers 500 to every sign-up that mails. Temp
   * files a crash left beside it are removed (the caller holds the lock that
   * makes this process the queue's one writer).
   */
  static async open(path: string, logger?: { warn(message: string): void }): Promise<FileMailQueue> {
    const removed = await removeLeftoverTempFiles(path);
    if (removed.length > 0) {
      logger?.warn(
        `restauth: removed ${removed.length} temp file(s) of the mail queue a crash left: ${removed.join(', ')}`,
      );
    }
    const queue = new FileMailQueue(path);
    await queue.load();
    return queue;
  }

  private async load(): Promise<StoredMail[]> {
    if (this.mails) return this.mails;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return (this.mails = []);
    }
    // A file we cannot read is never overwritten: that would lose the mails in it.
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw damaged(
        `mail queue ${this.path} is not valid JSON (${(error as Error).message}); fix or move it`,
      );
    }
    // An array is the first format (before dead mails were kept); both load.
    const list = Array.isArray(parsed) ? parsed : (parsed as Partial<QueueFile> | null)?.mails;
    if (!Array.isArray(list) || !list.every(isStoredMail)) {
      throw damaged(`mail queue ${this.path} is not a restauth mail queue; fix or move it`);
    }
    return (this.mails = list);
  }

  /** Runs one operation after the previous ones; writes the file when `change` says it changed something. */
  private serialized<T>(operation: (mails: StoredMail[]) => { result: T; changed: boolean }): Promise<T> {
    const next = this.chain.then(async () => {
      const mails = await this.load();
      const { result, changed } = operation(mails);
      if (changed) {
        try {
          await this.save(mails);
        } catch (error) {
          // Memory must not run ahead of the disk: the next operation reloads what was really saved.
          this.mails = null;
          throw error;
        }
      }
      return result;
    });
    this.chain = next.catch(() => {});
    return next;
  }

  private async save(mails: StoredMail[]): Promise<void> {
    const file: QueueFile = { version: 1, mails };
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileAtomically(this.path, JSON.stringify(file, null, 2), 0o600);
  }

  enqueue(message: OutgoingMail, now: number): Promise<OutboxMail> {
    const mail: StoredMail = {
      id: randomUUID(),
      message: { to: message.to, subject: message.subject, text: message.text, html: message.html },
      attempts: 0,
      nextAttemptAt: now,
      lastError: null,
    };
    return this.serialized((mails) => {
      mails.push(mail);
      return { result: { ...mail }, changed: true };
    });
  }

  claimDue(now: number, limit: number, leaseMs: number): Promise<OutboxMail[]> {
    return this.serialized((mails) => {
      const due = mails
        .filter((mail) => !mail.dead && mail.nextAttemptAt <= now)
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
        .slice(0, limit);
      for (const mail of due) mail.nextAttemptAt = now + leaseMs;
      return { result: due.map(({ dead: _dead, ...mail }) => ({ ...mail })), changed: due.length > 0 };
    });
  }

  markSent(id: string): Promise<void> {
    return this.serialized((mails) => {
      const index = mails.findIndex((mail) => mail.id === id);
      if (index !== -1) mails.splice(index, 1);
      return { result: undefined, changed: index !== -1 };
    });
  }

  markFailed(id: string, error: string, nextAttemptAt: number | null): Promise<void> {
    return this.serialized((mails) => {
      const mail = mails.find((candidate) => candidate.id === id);
      if (!mail) return { result: undefined, changed: false };
      mail.attempts += 1;
      mail.lastError = error;
      if (nextAttemptAt === null) {
        mail.dead = true;
        dropOldestDead(mails);
      } else {
        mail.nextAttemptAt = nextAttemptAt;
      }
      return { result: undefined, changed: true };
    });
  }

  depth(): Promise<number> {
    return this.serialized((mails) => ({
      result: mails.filter((mail) => !mail.dead).length,
      changed: false,
    }));
  }

  nextDueAt(): Promise<number | null> {
    return this.serialized((mails) => {
      const live = mails.filter((mail) => !mail.dead).map((mail) => mail.nextAttemptAt);
      return { result: live.length === 0 ? null : Math.min(...live), changed: false };
    });
  }
}

/** An E-code, as system errors have: the command line prints the message as one line, without a stack. */
function damaged(message: string): Error {
  return Object.assign(new Error(message), { code: 'EDAMAGED' });
}

function dropOldestDead(mails: StoredMail[]): void {
  let extra = mails.filter((mail) => mail.dead).length - DEAD_KEPT;
  for (let i = 0; i < mails.length && extra > 0;) {
    if (mails[i]!.dead) {
      mails.splice(i, 1);
      extra--;
    } else {
      i++;
    }
  }
}
