import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomically } from '../../lib/atomic-write.js';
import { InstanceLock } from './instance-lock.js';
import { journalPathFor, RecordChanges, RecordJournal } from './record-journal.js';

export type JsonDocument = Record<string, unknown>;

export interface Documents {
  /** db.json: the json-server document (users under usersProp, data collections). */
  data: JsonDocument;
  /** credentials.json: password hashes and restauth's private records. */
  credentials: JsonDocument;
}

export interface FileDatabaseLogger {
  info(message: string): void;
  warn(message: string): void;
}

type Pending = {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
} & (
  | { kind: 'any'; fn: (docs: Documents) => unknown }
  | { kind: 'credentials'; fn: (credentials: JsonDocument) => unknown }
  | { kind: 'records'; fn: (data: JsonDocument, changes: RecordChanges) => unknown }
);

interface FileState {
  path: string;
  /** What restauth last read or wrote, to skip unchanged writes. */
  text: string;
  /** Identity of the file as restauth left it, to notice edits made by hand. */
  mtimeMs: number;
  size: number;
  /** Permissions kept across rewrites (credentials.json stays owner-only). */
  mode: number;
}

const RELOAD_CHECK_INTERVAL_MS = 1000;
/** How long a commit waits for more writes when writes are arriving concurrently. */
const GATHER_MS = 1;
/** How soon after a journaled write db.json is rewritten with it (and the journal emptied). */
const COMPACT_AFTER_MS = 200;
/** A journal this large is compacted at once, whatever the timer says: it bounds replay at start. */
const COMPACT_AT_BYTES = 8 * 1024 * 1024;

/**
 * The two JSON files of the file store, held in memory, with one write queue.
 *
 * - Transactions run one after another; all those that arrive while a commit
 *   is being written run together in the next commit (group commit).
 * - A commit writes each changed file atomically (temp file, fsync, rename,
 *   fsync of the folder), credentials.json before db.json, and only then
 *   resolves its transactions: acknowledged means on disk.
 * - A commit made only of journaled transactions (record writes of the data
 *   API, which report each change) appends those changes to db.json's journal
 *   instead and is acknowledged once they are on disk there; db.json itself is
 *   rewritten shortly after (COMPACT_AFTER_MS), at close, and by the next
 *   commit that rewrites it anyway. Open replays a journal left by a crash.
 * - A commit made only of credentials transactions (sessions, tokens) and
 *   journaled ones leaves db.json alone: no serialization of a large
 *   document for a sign-in.
 * - A transaction that throws is rejected alone; it must validate before it
 *   mutates, as its partial changes are not undone.
 * - db.json edited by hand is noticed (size/mtime) and reloaded before the
 *   next commit, with a warning, instead of being overwritten.
 */
export class FileDatabase {
  /** Commits written so far (tests check that concurrent writes are grouped). */
  commits = 0;
  /** Bumped whenever the documents change (commit or reload): lets readers rebuild indexes lazily. */
  generation = 0;

  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private compactionDue = false;
  private compactionTimer: NodeJS.Timeout | null = null;
  private lastReloadCheck = 0;
  private readonly reloadListeners: Array<() => void> = [];
  private closed = false;

  private constructor(
    private docs: Documents,
    private readonly dataFile: FileState,
    private readonly credentialsFile: FileState,
    private readonly journal: RecordJournal,
    private readonly lock: InstanceLock,
    private readonly logger: FileDatabaseLogger,
  ) {}

  static async open(options: {
    dataFile: string;
    credentialsFile: string;
    logger?: FileDatabaseLogger;
  }): Promise<FileDatabase> {
    const logger = options.logger ?? { info: () => {}, warn: (message) => console.warn(message) };
    await mkdir(dirname(options.dataFile), { recursive: true });
    const lock = await InstanceLock.acquire(
      join(dirname(options.dataFile), `.${basename(options.dataFile)}.lock`),
      options.dataFile,
    );
    try {
      const data = await loadOrCreate(options.dataFile, {}, 0o644, logger);
      const credentials = await loadOrCreate(options.credentialsFile, { passwords: [] }, 0o600, logger);
      const journal = new RecordJournal(journalPathFor(options.dataFile));
      const recovered = await journal.recover(data.doc);
      if (recovered.applied > 0 || recovered.tornTail) {
        await writeAtomically(data.state, jsonText(data.doc));
        await journal.remove();
        logger.warn(
          `restauth: ${basename(options.dataFile)} was not closed cleanly; ` +
            `${recovered.applied} acknowledged write(s) replayed from ${basename(journal.path)}` +
            (recovered.tornTail ? ' (an unacknowledged, half-written last change dropped)' : ''),
        );
      }
      return new FileDatabase(
        { data: data.doc, credentials: credentials.doc },
        data.state,
        credentials.state,
        journal,
        lock,
        logger,
      );
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  get data(): JsonDocument {
    return this.docs.data;
  }

  get credentials(): JsonDocument {
    return this.docs.credentials;
  }

  /** Called after the documents were replaced from disk (hand edit): indexes must be rebuilt. */
  onReload(listener: () => void): void {
    this.reloadListeners.push(listener);
  }

  /** A transaction that may change anything: the files it changed are rewritten. */
  transact<T>(fn: (docs: Documents) => T): Promise<T> {
    return this.enqueue({ kind: 'any', fn });
  }

  /** A transaction that changes only credentials.json: db.json is not serialized for it. */
  transactCredentials<T>(fn: (credentials: JsonDocument) => T): Promise<T> {
    return this.enqueue({ kind: 'credentials', fn });
  }

  /**
   * A transaction that changes only db.json, and reports every change through
   * `changes` (a change it does not report is lost at the next restart): it is
   * journaled, so it costs a line on disk instead of a rewrite of db.json.
   */
  transactRecords<T>(fn: (data: JsonDocument, changes: RecordChanges) => T): Promise<T> {
    return this.enqueue({ kind: 'records', fn });
  }

  private enqueue<T>(work: Pick<Pending, 'kind' | 'fn'>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the file database is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ ...work, resolve: resolve as (value: unknown) => void, reject } as Pending);
      this.flushing ??= this.flush();
    });
  }

  /**
   * For readers: reloads db.json if it was edited by hand, at most once a
   * second and never while a commit is being written (the commit checks too).
   */
  async reloadIfChangedOnDisk(): Promise<void> {
    const now = Date.now();
    if (this.flushing || now - this.lastReloadCheck < RELOAD_CHECK_INTERVAL_MS) return;
    this.lastReloadCheck = now;
    await this.reloadChangedFiles();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.compactionTimer) clearTimeout(this.compactionTimer);
    while (this.flushing) await this.flushing;
    try {
      if (!this.journal.isEmpty) await this.compact();
      // db.json now holds every write: nothing is left to replay.
      if (this.journal.isEmpty) await this.journal.remove();
    } finally {
      await this.lock.release();
    }
  }

  private async flush(): Promise<void> {
    try {
      let lastBatch = 1;
      while (this.queue.length > 0 || this.compactionDue) {
        if (this.queue.length > 0) {
          // Under concurrent writes (the last commit was shared), wait a moment for the clients just
          // answered to send their next write, so it joins this commit instead of starting the next.
          if (lastBatch > 1) await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
          else await new Promise((resolve) => setImmediate(resolve));
          const batch = this.queue;
          this.queue = [];
          lastBatch = batch.length;
          await this.commit(batch);
        }
        if (this.compactionDue) {
          this.compactionDue = false;
          await this.compact();
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    try {
      await this.reloadChangedFiles();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    const journalLines: string[] = [];
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = batch.map(
      (pending) => {
        try {
          if (pending.kind === 'any') return { ok: true, value: pending.fn(this.docs) };
          if (pending.kind === 'credentials') return { ok: true, value: pending.fn(this.docs.credentials) };
          const changes = new RecordChanges();
          const value = pending.fn(this.docs.data, changes);
          journalLines.push(...changes.lines);
          return { ok: true, value };
        } catch (error) {
          return { ok: false, error };
        }
      },
    );
    try {
      let wrote: boolean;
      if (batch.some((pending) => pending.kind === 'any')) {
        wrote = await this.writeFiles();
      } else {
        // Credentials first, as writeFiles orders them.
        wrote =
          batch.some((pending) => pending.kind === 'credentials') &&
          (await writeIfChanged(this.credentialsFile, jsonText(this.docs.credentials)));
        if (journalLines.length > 0) {
          await this.journal.append(journalLines);
          this.scheduleCompaction();
          wrote = true;
        }
      }
      if (wrote) {
        this.commits++;
        this.generation++;
      }
    } catch (error) {
      // Memory is ahead of disk: go back to what is durable and fail the whole batch.
      this.logger.warn(`restauth: write failed (${(error as Error).message}); reloading the files from disk`);
      await this.reloadFromDisk().catch(() => {});
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const result = results[index]!;
      if (result.ok) pending.resolve(result.value);
      else pending.reject(result.error);
    });
  }

  /**
   * Rewrites the files that differ from memory, credentials.json first: a
   * crash between the two writes can leave only credentials without a user,
   * which open() removes, never a user without its credentials. Once db.json
   * holds everything, its journal is emptied.
   */
  private async writeFiles(): Promise<boolean> {
    const wroteCredentials = await writeIfChanged(this.credentialsFile, jsonText(this.docs.credentials));
    const wroteData = await writeIfChanged(this.dataFile, jsonText(this.docs.data));
    if (!this.journal.isEmpty) await this.journal.clear();
    return wroteCredentials || wroteData;
  }

  private scheduleCompaction(): void {
    if (this.journal.size >= COMPACT_AT_BYTES) this.compactionDue = true;
    this.compactionTimer ??= setTimeout(() => {
      this.compactionTimer = null;
      if (this.closed) return;
      this.compactionDue = true;
      this.flushing ??= this.flush();
    }, COMPACT_AFTER_MS);
  }

  /** Brings db.json up to date with the journal (called inside the write queue, or at close). */
  private async compact(): Promise<void> {
    if (this.journal.isEmpty) return;
    try {
      await this.reloadChangedFiles();
      await this.writeFiles();
    } catch (error) {
      // The journal still holds every acknowledged write: nothing is lost, the next compaction retries.
      this.logger.warn(
        `restauth: could not rewrite ${basename(this.dataFile.path)}: ${(error as Error).message}`,
      );
      if (!this.closed) this.scheduleCompaction();
      else throw error;
    }
  }

  private async reloadChangedFiles(): Promise<void> {
    let reloaded = false;
    for (const [state, key] of [
      [this.dataFile, 'data'],
      [this.credentialsFile, 'credentials'],
    ] as const) {
      const current = await stat(state.path).catch(() => null);
      if (current && current.mtimeMs === state.mtimeMs && current.size === state.size) continue;
      const text = current ? await readFile(state.path, 'utf8') : '';
      if (text === state.text) {
        if (current) Object.assign(state, { mtimeMs: current.mtimeMs, size: current.size });
        continue;
      }
      const doc = current ? parseDocument(text, state.path) : {};
      // Acknowledged record writes not yet in db.json go on top of the edit.
      if (key === 'data') this.journal.replayOnto(doc);
      this.docs = { ...this.docs, [key]: doc };
      Object.assign(state, { text, mtimeMs: current?.mtimeMs ?? 0, size: current?.size ?? 0 });
      this.logger.warn(
        `restauth: ${basename(state.path)} was changed outside restauth; reloaded it before writing`,
      );
      reloaded = true;
    }
    if (reloaded) this.afterReload();
  }

  private async reloadFromDisk(): Promise<void> {
    for (const [state, key] of [
      [this.dataFile, 'data'],
      [this.credentialsFile, 'credentials'],
    ] as const) {
      const text = await readFile(state.path, 'utf8');
      const current = await stat(state.path);
      const doc = parseDocument(text, state.path);
      if (key === 'data') this.journal.replayOnto(doc);
      this.docs = { ...this.docs, [key]: doc };
      Object.assign(state, { text, mtimeMs: current.mtimeMs, size: current.size });
    }
    this.afterReload();
  }

  private afterReload(): void {
    this.generation++;
    for (const listener of this.reloadListeners) listener();
  }
}

async function loadOrCreate(
  path: string,
  empty: JsonDocument,
  mode: number,
  logger: FileDatabaseLogger,
): Promise<{ doc: JsonDocument; state: FileState }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const state: FileState = { path, text: '', mtimeMs: 0, size: 0, mode };
    const doc = structuredClone(empty);
    await writeAtomically(state, jsonText(doc));
    logger.info(`restauth: created ${path}`);
    return { doc, state };
  }
  const current = await stat(path);
  const state = { path, text, mtimeMs: current.mtimeMs, size: current.size, mode: current.mode & 0o777 };
  return { doc: parseDocument(text, path), state };
}

function parseDocument(text: string, path: string): JsonDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error(`${path} must hold a JSON object`);
  }
  return doc as JsonDocument;
}

function jsonText(doc: JsonDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

async function writeIfChanged(state: FileState, text: string): Promise<boolean> {
  if (text === state.text) return false;
  await writeAtomically(state, text);
  return true;
}

/** Writes through writeFileAtomically and records what is now on disk. */
async function writeAtomically(state: FileState, text: string): Promise<void> {
  await writeFileAtomically(state.path, text, state.mode);
  const written = await stat(state.path);
  Object.assign(state, { text, mtimeMs: written.mtimeMs, size: written.size });
}
