import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { readStoreFile } from './store-file.js';
import { dirname, join } from 'node:path';
import type { MailOutboxStore, OutboxMail, OutgoingMail } from '../../core/ports/outbox.js';
import { removeLeftoverTempFiles, writeFileAtomically } from '../../lib/atomic-write.js';
import { instanceLockPath } from './file-database.js';
import { InstanceLock } from './instance-lock.js';
import { jsonParseProblem } from '../../lib/json-parse-problem.js';

/** The mail queue of a server whose state folder is `stateDir`. */
export function mailQueuePath(stateDir: string): string {
  return join(stateDir, 'mail-queue.json');
}

/** A dead mail is kept for inspection, but only so many: the file stays small. */
const DEAD_KEPT = 100;

/**
 * What a held mail waits for: the commit of the one-time token it carries (its
 * hash), or of the account it welcomes (its id and creation time).
 */
export type MailHold = { token: string } | { user: string; createdAt: string };

interface StoredMail extends OutboxMail {
  /** Set when the worker gave up: never claimed again. */
  dead?: true;
  /** Written before what it carries is committed: never claimed while set (see hold). */
  heldFor?: MailHold;
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
 * this process is the file's only writer (its own instance lock, taken by open).
 * Queued mails hold reset tokens and codes in clear, so the file is 0600.
 *
 * A token and its mails are both kept or neither (the Store contract), across
 * two files: the file store writes the mails here first, held, then commits
 * the token, then releases them (or discards them when the token was not
 * stored). A crash in between leaves held mails, which the next start settles
 * by whether their token committed (settleHeld).
 */
export class FileMailQueue implements MailOutboxStore {
  readonly shared = false;
  private mails: StoredMail[] | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly events = new EventEmitter();
  private lock: InstanceLock | null = null;

  constructor(readonly path: string) {}

  /**
   * The queue, read at start: a damaged file refuses the start, naming it,
   * instead of a server that answers 500 to every sign-up that mails. Temp
   * files a crash left beside it are removed (the caller holds the lock that
   * makes this process the queue's one writer).
   */
  static async open(path: string, logger?: { warn(message: string): void }): Promise<FileMailQueue> {
    // Its own lock, not only db.json's and credentials.json's: two servers with their own files and
    // one state folder (one --state-dir) would each write the queue from its own memory, dropping
    // the other's mails, and each send the other's (reset links to whoever sent them twice).
    await mkdir(dirname(path), { recursive: true });
    const lock = await InstanceLock.acquire(instanceLockPath(path), path);
    try {
      const removed = await removeLeftoverTempFiles(path);
      if (removed.length > 0) {
        logger?.warn(
          `restauth: removed ${removed.length} temp file(s) of the mail queue a crash left: ${removed.join(', ')}`,
        );
      }
      const queue = new FileMailQueue(path);
      await queue.load();
      queue.lock = lock;
      return queue;
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Releases the queue's lock (taken by open), after the writes under way. */
  async close(): Promise<void> {
    await this.chain.catch(() => {});
    await this.lock?.release();
    this.lock = null;
  }

  private async load(): Promise<StoredMail[]> {
    if (this.mails) return this.mails;
    const bytes = await readStoreFile(this.path);
    if (bytes === null) return (this.mails = []);
    const text = bytes.toString('utf8');
    // A file we cannot read is never overwritten: that would lose the mails in it.
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw damaged(`mail queue ${this.path} is not valid JSON (${jsonParseProblem(error)}); fix or move it`);
    }
    // An array is the first format (before dead mails were kept); both load.
    const list = Array.isArray(parsed) ? parsed : (parsed as Partial<QueueFile> | null)?.mails;
    if (!Array.isArray(list) || !list.every(isStoredMail)) {
      throw damaged(`mail queue ${this.path} is not a restauth mail queue; fix or move it`);
    }
    return (this.mails = list);
  }

  /**
   * Runs one operation after the previous ones, on the queue in memory; writes the file when
   * `change` says it changed something. An operation that only reads, or changes what is kept in
   * memory only (release, renewLease), passes `inMemory`.
   */
  private serialized<T>(
    operation: (mails: StoredMail[]) => { result: T; changed: boolean },
    inMemory = false,
  ): Promise<T> {
    const next = this.chain.then(async () => {
      const mails = await this.load();
      if (inMemory) return operation(mails).result;
      // Memory must not run ahead of the disk when a write fails (a full disk): the operation's own
      // change is undone. Not by reading the file again: that would also undo what is kept in
      // memory only, and a mail released in memory would stay held, unsent, until a restart.
      const before = structuredClone(mails);
      const { result, changed } = operation(mails);
      if (changed) {
        try {
          await this.save(mails);
        } catch (error) {
          this.mails = before;
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

  async enqueue(message: OutgoingMail, now: number): Promise<OutboxMail> {
    const mail = newMail(message, now);
    const queued = await this.serialized((mails) => {
      mails.push(mail);
      return { result: { ...mail }, changed: true };
    });
    this.events.emit('queued');
    return queued;
  }

  onQueued(listener: () => void): void {
    this.events.on('queued', listener);
  }

  /**
   * Writes `messages` durably, held for `heldFor`: the worker never claims
   * them until `release`. Returns their ids for release or discard.
   */
  hold(messages: readonly OutgoingMail[], now: number, heldFor: MailHold): Promise<string[]> {
    const held = messages.map((message) => ({ ...newMail(message, now), heldFor }));
    return this.serialized((mails) => {
      mails.push(...held);
      return { result: held.map((mail) => mail.id), changed: true };
    });
  }

  /**
   * What they carry is committed: the mails become due, and the worker is
   * woken. In memory only, saved with the queue's next write (the worker's
   * claim): should the process end first, the next start releases them again
   * (settleHeld), as their token is on disk.
   */
  async release(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.serialized((mails) => {
      for (const mail of mails) if (ids.includes(mail.id)) delete mail.heldFor;
      return { result: undefined, changed: false };
    }, true);
    this.events.emit('queued');
  }

  /**
   * What they carry was not stored (a failure, the throttle): the mails go,
   * from the file too (they hold a secret nothing accepts). Should that write
   * fail, they stay held, never sent, and the next start drops them.
   */
  discard(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.serialized((mails) => {
      const before = mails.length;
      for (let i = mails.length - 1; i >= 0; i--) if (ids.includes(mails[i]!.id)) mails.splice(i, 1);
      return { result: undefined, changed: mails.length !== before };
    });
  }

  /**
   * At start, before serving: each held mail a crash left is released when
   * what it carries committed, else dropped (its token was never stored, so
   * its link or code would open nothing). Returns how many of each.
   */
  settleHeld(committed: (hold: MailHold) => boolean): Promise<{ released: number; dropped: number }> {
    return this.serialized((mails) => {
      let released = 0;
      let dropped = 0;
      for (let i = mails.length - 1; i >= 0; i--) {
        const mail = mails[i]!;
        if (mail.heldFor === undefined) continue;
        if (committed(mail.heldFor)) {
          delete mail.heldFor;
          released++;
        } else {
          mails.splice(i, 1);
          dropped++;
        }
      }
      return { result: { released, dropped }, changed: released + dropped > 0 };
    });
  }

  claimDue(
    now: number,
    limit: number,
    leaseMs: number,
    aheadMs = Infinity,
    excluding: readonly string[] = [],
  ): Promise<OutboxMail[]> {
    return this.serialized((mails) => {
      const isDue = (at: number) => at <= now || at > now + aheadMs;
      const due = mails
        .filter(
          (mail) => !mail.dead && !mail.heldFor && isDue(mail.nextAttemptAt) && !excluding.includes(mail.id),
        )
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
        .slice(0, limit);
      for (const mail of due) mail.nextAttemptAt = now + leaseMs;
      return { result: due.map(outboxMail), changed: due.length > 0 };
    });
  }

  /**
   * In memory only, saved with the queue's next write: the queue has one process, so a lease
   * only keeps this process's worker from sending a mail twice; after a crash the shorter lease
   * on disk lets the next start send it a little sooner.
   */
  renewLease(id: string, leasedUntil: number, until: number): Promise<boolean> {
    return this.serialized((mails) => {
      const mail = mails.find((candidate) => candidate.id === id);
      const held = mail !== undefined && !mail.dead && mail.nextAttemptAt === leasedUntil;
      if (held) mail.nextAttemptAt = until;
      return { result: held, changed: false };
    }, true);
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
    return this.serialized(
      (mails) => ({
        result: mails.filter((mail) => !mail.dead && !mail.heldFor).length,
        changed: false,
      }),
      true,
    );
  }

  nextDueAt(excluding: readonly string[] = []): Promise<number | null> {
    return this.serialized((mails) => {
      const live = mails
        .filter((mail) => !mail.dead && !mail.heldFor && !excluding.includes(mail.id))
        .map((mail) => mail.nextAttemptAt);
      return { result: live.length === 0 ? null : Math.min(...live), changed: false };
    }, true);
  }
}

function newMail(message: OutgoingMail, now: number): StoredMail {
  return {
    id: randomUUID(),
    message: { to: message.to, subject: message.subject, text: message.text, html: message.html },
    attempts: 0,
    nextAttemptAt: now,
    lastError: null,
  };
}

/** A stored mail as the worker sees it: without the queue's own marks. */
function outboxMail({ dead: _dead, heldFor: _heldFor, ...mail }: StoredMail): OutboxMail {
  return { ...mail };
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
