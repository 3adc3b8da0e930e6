import { constants, watch, type FSWatcher, type Stats } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parse as parseTolerantly, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { AuthError, isAuthError } from '../../core/errors.js';
import {
  DocumentRefusal,
  type DocumentChange,
  type DocumentStore,
  type JsonDocument,
  type RecordChanges,
} from '../../core/ports/documents.js';
import { FileChangedError, writeFileAtomically, type FileIdentity } from '../../lib/atomic-write.js';
import { ifMissing } from '../../lib/if-missing.js';
import { pathLookIn, type PathLook } from '../../lib/path-look.js';
import { isPlainObject } from '../../lib/is-plain-object.js';
import { InstanceLock } from './instance-lock.js';
import { KeptPieces, KeptText } from './kept-text.js';
import { jsonPieces } from './json-pieces.js';
import { readStoreFile, syncStoreFile } from './store-file.js';
import { AuditFile, auditFilePath } from './audit-file.js';
import { CredentialChanges, CredentialsJournal, credentialsJournalPathFor } from './credentials-journal.js';
import type { Journal } from './journal.js';
import type { JournalState } from '../backend.js';
import { JournaledChanges, journalPathFor, RecordJournal } from './record-journal.js';
import { normalizeCredentials } from './records.js';
import { credentialsFromDisk, credentialsPieces, credentialsText } from './credentials-dates.js';
import { MAX_JSON_DEPTH, valueNestsDeeperThan } from '../../lib/json-depth.js';
import { jsonParseProblem } from '../../lib/json-parse-problem.js';

export type { JsonDocument } from '../../core/ports/documents.js';

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
} &
  /** `inPieces`: both files are rewritten in pieces, not compared whole first (see transact). */
  (
    | { kind: 'any'; fn: (docs: Documents) => unknown; inPieces?: boolean }
    /** Changes anything in db.json, nothing in credentials.json: db.json is rewritten, credentials.json left alone. */
    | { kind: 'document'; fn: (data: JsonDocument, unchanged: () => void) => unknown }
    | { kind: 'credentials'; fn: (credentials: JsonDocument, changes: CredentialChanges) => unknown }
    | { kind: 'records'; fn: (data: JsonDocument, changes: RecordChanges) => unknown }
    | {
        kind: 'journaled';
        fn: (docs: Documents, credentialChanges: CredentialChanges, recordChanges: RecordChanges) => unknown;
        /** db.json's lines are appended before credentials.json's (a removal: see transactJournaled). */
        recordsFirst?: boolean;
      }
  );

interface FileState {
  path: string;
  /** What restauth last read or wrote: to skip unchanged writes, put its version back, reload after a fault. */
  kept: KeptText;
  /** credentials.json: its text is kept deflated (KeptText). */
  compact: boolean;
  /** Identity of the file as restauth left it, to notice edits made by hand. */
  ino: number;
  mtimeMs: number;
  size: number;
  /** Permissions kept across rewrites (credentials.json stays owner-only), as the file has them now. */
  mode: number;
}

const HAND_EDIT_CHECK_INTERVAL_MS = 1000;
/** How long a commit waits for more writes when writes are arriving concurrently. */
const GATHER_MS = 1;
/**
 * db.json is rewritten with its journal (and the journal emptied) once the journal is as large as
 * the file, and at least this large: each journaled byte then pays for about one byte of rewrite,
 * at 1,000 users as at 50,000, and a start replays at most about one file's worth of journal.
 */
const DATA_COMPACT_MIN_BYTES = 64 * 1024;
/**
 * Short of that, db.json catches up with its journal this long after the first write it lacks,
 * at least: so the file shows the writes soon to whoever reads it (a small db.json within 0.2 s).
 */
const COMPACT_AFTER_MS = 200;
/**
 * ... and this long per MiB of db.json: a rewrite costs about 10 ms per MiB, so a trickle of
 * writes (a sign-up every few seconds at 50,000 users) pays one rewrite per such wait, about 1 %
 * of a core at most, where it paid one per write.
 */
const COMPACT_AFTER_MS_PER_MIB = 1000;
/** A journal this large is compacted at once, whatever the timer says: it bounds replay at start. */
const COMPACT_AT_BYTES = 8 * 1024 * 1024;

/** How many records of a collection one piece of db.json holds when it is written in pieces (dataPieces). */
const RECORDS_PER_PIECE = 500;

/** How long after a failed compaction it is tried again. */
const COMPACTION_RETRY_MS = 1000;

/**
 * While compactions fail (a file that cannot be rewritten, an audit log that cannot be written), a
 * journal takes writes up to this many times the size it is compacted at, then refuses them (507):
 * it holds every acknowledged write meanwhile, and a start replays it whole, so it must not grow
 * without bound. Only while compactions fail: a busy commit may overshoot the compaction point.
 */
const JOURNAL_CAP_FACTOR = 4;

/** A compaction that keeps failing, and the writes a full journal refuses, are logged at most this often. */
const COMPACTION_WARNING_INTERVAL_MS = 60_000;

/** Which files a compaction brings up to date with their journals. */
interface Compaction {
  data: boolean;
  credentials: boolean;
}

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
 *   rewritten once the journal is as large as the file (DATA_COMPACT_MIN_BYTES),
 *   else a while after the first write it lacks (0.2 s, and 1 s per MiB of
 *   db.json), at close, and by the next commit that rewrites it anyway. Open
 *   replays a journal left by a crash: only the lines after the last base line
 *   naming db.json as it is, never those a rewrite already holds (see Journal).
 * - Credentials transactions (sign-ins, refreshes, logouts, one-time
 *   tokens, password changes) and user transactions (sign-ups, profile
 *   edits, removals: `transactJournaled`, which also report their db.json
 *   record) report the entries they change, and a commit made only of them
 *   and record writes appends those entries to credentials.json's journal
 *   (`.credentials.json.journal`), acknowledged once fdatasynced: no
 *   serialization of either document, so their cost does not grow with the
 *   number of users. credentials.json is rewritten when its journal has
 *   grown as large as the file (at least COMPACT_AT_BYTES: the rewrite's
 *   cost, spread over the writes that filled the journal, stays a constant
 *   share of each), at close, and by the next commit that rewrites it
 *   anyway. Open replays a journal left by a crash.
 * - A commit with a transaction over the whole of db.json (`transactDocument`)
 *   rewrites db.json alone; credentials.json's writes of that commit are
 *   journaled, so it does not build credentials.json to compare it. It and
 *   the compactions write their files in pieces, requests answered between
 *   them (commits wait in the queue meanwhile).
 * - A failed commit leaves memory as it was before: if a file cannot be
 *   written (full disk, read-only folder), memory goes back to what is on
 *   disk and every transaction of the commit is rejected with the error. A
 *   transaction that refuses (throws an AuthError or a DocumentRefusal) is
 *   rejected alone: it must refuse before it mutates. Any other throw may have left a half-done
 *   change: memory goes back to what is on disk, the thrower is rejected,
 *   and the rest of its commit runs again.
 * - A compaction that fails (a file that cannot be rewritten, an audit log
 *   that cannot be written so the credentials journal cannot be emptied) is
 *   retried every second, logged at most once a minute, and the journals
 *   take writes up to their bound (JOURNAL_CAP_FACTOR), then refuse them.
 * - The files are restauth's while it runs: a change made outside restauth
 *   (noticed by inode, size and mtime, before each commit and each rewrite)
 *   is never adopted, as restauth cannot tell which version it was made from
 *   and adopting a stale copy would undo acknowledged writes. It is kept
 *   beside as `<file>.rejected-<time>`, with a warning, and restauth's
 *   version is put back (docs/operations.md, hand edits).
 * - Except with `adoptEdits` (json-server's --watch): db.json is watched, and
 *   a change of it made outside restauth is applied, inside the write queue
 *   (so between two commits, never during one): the file as saved, with the
 *   writes db.json's journal still holds (acknowledged since the file was
 *   last rewritten) replayed on top, becomes the document. An edit that is
 *   not valid JSON is left alone and logged until it is saved again.
 */
export class FileDatabase implements DocumentStore {
  /** Bumped whenever the documents change (commit or reload): lets readers rebuild indexes lazily. */
  generation = 0;

  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private compactionDue: Compaction = { data: false, credentials: false };
  private compactionTimer: NodeJS.Timeout | null = null;
  private compactionRetry: NodeJS.Timeout | null = null;
  /** Why the last compaction failed; null once one succeeds (see JOURNAL_CAP_FACTOR). */
  private compactionFailure: unknown = null;
  /** Compactions that failed since the start (the metrics' restauth_file_compaction_failures_total). */
  private compactionFailures = 0;
  private lastCompactionWarning: number | null = null;
  /** When a write refused by a full journal was last logged (each is, else, at every write). */
  private lastJournalFullWarning: number | null = null;
  private lastHandEditCheck = 0;
  /** Set while a commit's changes are in memory and not yet acknowledged or undone (see settled). */
  private unacknowledged: ({ done: Promise<void> } & Record<keyof Documents, boolean>) | null = null;
  private readonly reloadListeners: Array<() => void> = [];
  private readonly editChecks: Array<(data: JsonDocument) => void> = [];
  private readonly changeListeners: Array<(change: DocumentChange) => void> = [];
  private closed = false;
  private watcher: FSWatcher | null = null;
  /** Identity of an edit of db.json that could not be applied (not valid JSON), reported once. */
  private unappliedEdit: Required<FileIdentity> | null = null;
  /** How each file's path is looked at (pathLookIn its folder), decided at its first look. */
  private readonly looks = new Map<string, PathLook>();

  private constructor(
    private docs: Documents,
    private readonly dataFile: FileState,
    private readonly credentialsFile: FileState,
    private readonly journal: RecordJournal,
    private readonly credentialsJournal: CredentialsJournal,
    /** The audit log beside credentials.json: a sign-in's event is journaled in its commit (CredentialsJournal). */
    readonly auditLog: AuditFile,
    private readonly lock: Pick<InstanceLock, 'release'>,
    private readonly logger: FileDatabaseLogger,
    private readonly compactAfterMs: number,
    private readonly onCommit: (transactions: number) => void,
    private readonly onCompacted: (files: Compaction) => void,
    private readonly onWriteFailed: (error: unknown) => void,
    private readonly compactAtBytes: number,
    private readonly adoptEdits: boolean,
    private readonly onCompactionPiece: (characters: number, file: keyof Documents) => void,
    private readonly onFileWritten: (file: keyof Documents) => void,
  ) {}

  static async open(options: {
    dataFile: string;
    credentialsFile: string;
    logger?: FileDatabaseLogger;
    /** How soon after a journaled write db.json is rewritten (tests set it long, to find the journal full). */
    compactAfterMs?: number;
    /** Told after each commit that wrote to disk, with the number of transactions it carried. */
    onCommit?: (transactions: number) => void;
    /** Told after a compaction brought the named files up to date with their journals. */
    onCompacted?: (files: { data: boolean; credentials: boolean }) => void;
    /** Told the error of each commit or compaction that could not be written (a full disk, a read-only folder). */
    onWriteFailed?: (error: unknown) => void;
    /** A journal this large is compacted at once (credentials.json's: once also as large as the file). */
    compactAtBytes?: number;
    /** json-server's --watch: db.json changed outside restauth is applied, not set aside (see the class). */
    adoptEdits?: boolean;
    /** The audit log's file (default: auditFilePath of the credentials file). */
    auditFile?: string;
    /**
     * Told each piece a file is written in, by its length (tests: what one slice holds): a compaction's,
     * and db.json's by a whole-document commit.
     */
    onCompactionPiece?: (characters: number, file: keyof Documents) => void;
    /**
     * Told once a rewrite of a file is renamed into place, before its journal is emptied (crash tests:
     * a kill there leaves a complete file and a journal of writes it already holds).
     */
    onFileWritten?: (file: keyof Documents) => void;
  }): Promise<FileDatabase> {
    const logger = options.logger ?? { info: () => {}, warn: (message) => console.warn(message) };
    await mkdir(dirname(options.dataFile), { recursive: true });
    const lock = await lockFiles([options.dataFile, options.credentialsFile]);
    const auditLog = new AuditFile(options.auditFile ?? auditFilePath(options.credentialsFile));
    try {
      // db.json's text is kept plain as read (usually small); once written in pieces, deflated (KeptPieces).
      // Both owner-only when restauth makes them: db.json holds the users' records (addresses, names) and
      // private collections, credentials.json their password hashes and sessions. An existing file keeps
      // its mode (json-server's 0644 db.json too); only credentials.json's is worth a warning.
      const data = await loadOrCreate(options.dataFile, {}, 0o600, false, logger);
      const credentials = await loadOrCreate(options.credentialsFile, { passwords: [] }, 0o600, true, logger);
      warnIfReadableByOthers(credentials.state, 'password hashes and sessions', logger);
      // Its dates as numbers in memory (credentials-dates.ts), before the journal's entries join them.
      credentialsFromDisk(credentials.doc);
      // Each journal's lines are tied to its file as restauth last read or wrote it (the state's kept text,
      // replaced at each write): a replay never applies them to another (see Journal).
      const journal = new RecordJournal(journalPathFor(options.dataFile), () => data.state.kept);
      const credentialsJournal = new CredentialsJournal(
        credentialsJournalPathFor(options.credentialsFile),
        auditLog,
        () => credentials.state.kept,
      );
      // Credentials first, as commits write them: a user in db.json always finds its credentials.
      await recoverJournal(credentialsJournal, credentials, credentialsText, logger);
      await recoverJournal(journal, data, jsonText, logger);
      const database = new FileDatabase(
        { data: data.doc, credentials: credentials.doc },
        data.state,
        credentials.state,
        journal,
        credentialsJournal,
        auditLog,
        lock,
        logger,
        options.compactAfterMs ?? COMPACT_AFTER_MS,
        options.onCommit ?? (() => {}),
        options.onCompacted ?? (() => {}),
        options.onWriteFailed ?? (() => {}),
        options.compactAtBytes ?? COMPACT_AT_BYTES,
        options.adoptEdits ?? false,
        options.onCompactionPiece ?? (() => {}),
        options.onFileWritten ?? (() => {}),
      );
      if (options.adoptEdits) database.watchDataFile();
      return database;
    } catch (error) {
      await auditLog.close().catch(() => {});
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

  /** Called after the documents were replaced by what is on disk (a failed commit): indexes must be rebuilt. */
  onReload(listener: () => void): void {
    this.reloadListeners.push(listener);
  }

  /** Run on each db.json saved outside restauth before it is applied (see DocumentStore.checkEdits). */
  checkEdits(check: (data: JsonDocument) => void): void {
    this.editChecks.push(check);
  }

  /** Told each change of db.json as a transaction makes it (see DocumentStore.onChange). */
  onChange(listener: (change: DocumentChange) => void): void {
    this.changeListeners.push(listener);
  }

  private told(change: DocumentChange): void {
    for (const listener of this.changeListeners) listener(change);
  }

  /** Journals the changes a record transaction reports, and tells the change listeners of each as it comes. */
  private reported(changes: JournaledChanges): RecordChanges {
    return {
      put: (collection, key, record) => {
        changes.put(collection, key, record);
        this.told({ op: 'put', collection, key, record });
      },
      delete: (collection, key, id) => {
        changes.delete(collection, key, id);
        this.told({ op: 'delete', collection, key, id });
      },
      set: (name, value) => {
        changes.set(name, value);
        this.told({ op: 'set', name, value });
      },
    };
  }

  /**
   * A transaction that may change anything: the files it changed are rewritten. With `inPieces` (one
   * that changes both, however large: the takeover of a json-server-auth db.json, which may run again
   * at a reload while requests are served) both are written in pieces, requests answered between
   * them, where each was stringified and compared whole on the event loop.
   */
  transact<T>(fn: (docs: Documents) => T, options: { inPieces?: boolean } = {}): Promise<T> {
    return this.enqueue({ kind: 'any', fn, inPieces: options.inPieces === true });
  }

  /**
   * A transaction that changes only credentials.json, and reports every
   * entry it puts, edits or removes through `changes` (a change it does not
   * report is lost at a crash): it is journaled, so it costs a few lines on
   * disk instead of a rewrite of credentials.json.
   */
  transactCredentials<T>(fn: (credentials: JsonDocument, changes: CredentialChanges) => T): Promise<T> {
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

  /**
   * A transaction that changes both files and reports every change it makes
   * to either (a user's sign-up, profile edit or removal: its db.json record
   * and its credentials.json entries): journaled in both journals,
   * credentials.json's lines first (as writeFiles orders the files), so
   * neither file is rewritten and its cost does not grow with the users.
   * A crash between the two appends keeps the first: credentials first, a
   * sign-up leaves credentials without a user (harmless, see findOrphans).
   * A removal asks `recordsFirst`, for the same outcome: its db.json line
   * goes first, and its commit shares no transaction that needs the other
   * order (see takeCommit).
   */
  transactJournaled<T>(
    fn: (docs: Documents, credentialChanges: CredentialChanges, recordChanges: RecordChanges) => T,
    options: { recordsFirst?: true } = {},
  ): Promise<T> {
    return this.enqueue({ kind: 'journaled', fn, recordsFirst: options.recordsFirst === true });
  }

  /**
   * A transaction that may change anything in db.json (not credentials.json): db.json is rewritten,
   * unless every such transaction of the commit called `unchanged` (it changed nothing).
   */
  transactDocument<T>(fn: (data: JsonDocument, unchanged: () => void) => T): Promise<T> {
    // Not `transact`: its commit would build and hash all of credentials.json (23 MB at 50,000 users) in
    // one go on the event loop to learn it is unchanged, or rewrite it whole while its journal has lines.
    return this.enqueue({ kind: 'document', fn });
  }

  private enqueue<T>(
    work: Pick<Pending, 'kind' | 'fn'> & { inPieces?: boolean; recordsFirst?: boolean },
  ): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the file database is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ ...work, resolve: resolve as (value: unknown) => void, reject } as Pending);
      this.flushing ??= this.flush();
    });
  }

  /**
   * For readers: at most once a second, when no commit is under way (each
   * commit checks anyway), looks whether a file was changed outside
   * restauth and if so queues an empty commit to set the change aside and
   * say so. Never fails and never waits for the disk's answer to a write.
   */
  async beforeRead(): Promise<void> {
    const now = Date.now();
    // Either way: a clock set back must not stop the checks until it catches up with the last one.
    const sinceLast = Math.abs(now - this.lastHandEditCheck);
    if (this.closed || this.flushing || sinceLast < HAND_EDIT_CHECK_INTERVAL_MS) return;
    this.lastHandEditCheck = now;
    for (const state of [this.dataFile, this.credentialsFile]) {
      const current = await stat(state.path).catch(() => null);
      if (!current || !sameFile(current, state)) {
        // The commit logs a failure to set the edit aside; the reader is not the one to answer for it.
        // An empty record commit: its start looks at the files, and it writes nothing itself (an applied
        // edit under --watch stays as it was saved).
        this.transactRecords(() => undefined).catch(() => {});
        return;
      }
    }
  }

  /**
   * Watches db.json's folder (an editor may replace the file rather than write into it) and, on a
   * change of db.json, queues an empty commit: its start applies the edit (setAsideHandEdits).
   */
  private watchDataFile(): void {
    const name = basename(this.dataFile.path);
    this.watcher = watch(dirname(this.dataFile.path), (_event, file) => {
      // Some platforms do not say which file changed: look anyway, it costs one stat.
      if (this.closed || (file !== null && file !== name)) return;
      this.transactRecords(() => undefined).catch(() => {});
    });
    this.watcher.on('error', (error) => {
      this.logger.warn(`restauth: cannot watch ${this.dataFile.path} any more: ${describe(error)}`);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    if (this.compactionTimer) clearTimeout(this.compactionTimer);
    if (this.compactionRetry) clearTimeout(this.compactionRetry);
    while (this.flushing) await this.flushing;
    try {
      await this.compact({ data: true, credentials: true });
      // The files now hold every write: nothing is left to replay.
      if (this.journal.isEmpty) await this.journal.remove();
      if (this.credentialsJournal.isEmpty) await this.credentialsJournal.remove();
    } finally {
      try {
        // A journal not removed (the compaction failed: a full disk) is left for the next start, closed.
        await Promise.all([this.journal.close(), this.credentialsJournal.close()]);
        await this.auditLog.close();
      } finally {
        await this.lock.release();
      }
    }
  }

  private async flush(): Promise<void> {
    try {
      let lastBatch = 1;
      while (this.queue.length > 0 || this.compactionDue.data || this.compactionDue.credentials) {
        if (this.queue.length > 0) {
          // Under concurrent writes (the last commit was shared), wait a moment for the clients just
          // answered to send their next write, so it joins this commit instead of starting the next.
          if (lastBatch > 1) await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
          else await new Promise((resolve) => setImmediate(resolve));
          const { batch, rest } = takeCommit(this.queue);
          this.queue = rest;
          lastBatch = batch.length;
          await this.commit(batch);
        }
        if (this.compactionDue.data || this.compactionDue.credentials) {
          const due = this.compactionDue;
          this.compactionDue = { data: false, credentials: false };
          await this.compact(due);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  /**
   * Resolves once memory holds only what the disk has taken: at once, or when the commit under way is
   * acknowledged or undone. A reader awaits it right before it reads (nothing awaited in between):
   * from a commit's first change in memory to the disk's answer, memory holds writes a full disk may
   * yet undo, and a read then answered a record, or let in a password, that never existed durably.
   * Only a commit that may change one of `documents` is waited for (db.json's by default, what the
   * data API reads): a sign-in's read does not wait out a rewrite of db.json in pieces, nor a data
   * read a sign-in's fdatasync.
   */
  async settled(documents: ReadonlyArray<keyof Documents> = ['data']): Promise<void> {
    for (
      let commit = this.unacknowledged;
      commit !== null && documents.some((document) => commit![document]);
      commit = this.unacknowledged
    ) {
      await commit.done;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    try {
      await this.setAsideHandEdits(this.adoptEdits);
    } catch (error) {
      this.logger.warn(`restauth: could not set aside a change made outside restauth: ${describe(error)}`);
      for (const pending of batch) pending.reject(error);
      return;
    }
    let end!: () => void;
    const done = new Promise<void>((resolve) => (end = resolve));
    this.unacknowledged = {
      done,
      // What the commit's transactions may change (see Pending): a credentials transaction no record.
      data: batch.some((pending) => pending.kind !== 'credentials'),
      credentials: batch.some((pending) => pending.kind !== 'records' && pending.kind !== 'document'),
    };
    try {
      await this.applyAndWrite(batch);
    } finally {
      this.unacknowledged = null;
      end();
    }
  }

  /** Runs a commit's transactions on memory, then writes what they changed (see the class). */
  private async applyAndWrite(batch: Pending[]): Promise<void> {
    const journalLines: string[] = [];
    const credentialLines: string[] = [];
    /** The audit events of the credentials lines: journaled alone when the files are rewritten instead. */
    const auditLines: string[] = [];
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    /** A whole-document transaction of the commit changed db.json (see transactDocument). */
    let rewritesData = false;
    for (const [position, pending] of batch.entries()) {
      try {
        if (pending.kind === 'any') {
          const value = pending.fn(this.docs);
          // What it changed in db.json is not reported: whatever readers derived from it goes.
          this.told({ op: 'any' });
          results.push({ ok: true, value });
        } else if (pending.kind === 'document') {
          let unchanged = false;
          const value = pending.fn(this.docs.data, () => (unchanged = true));
          if (!unchanged) {
            this.told({ op: 'any' });
            rewritesData = true;
          }
          results.push({ ok: true, value });
        } else if (pending.kind === 'credentials') {
          const changes = new CredentialChanges();
          const value = pending.fn(this.docs.credentials, changes);
          // Read now: a later transaction of this commit may change the same entry again.
          credentialLines.push(...changes.lines(normalizeCredentials(this.docs.credentials)));
          auditLines.push(...changes.auditLines());
          results.push({ ok: true, value });
        } else if (pending.kind === 'journaled') {
          const changes = new CredentialChanges();
          const records = new JournaledChanges();
          const value = pending.fn(this.docs, changes, this.reported(records));
          credentialLines.push(...changes.lines(normalizeCredentials(this.docs.credentials)));
          auditLines.push(...changes.auditLines());
          journalLines.push(...records.lines);
          results.push({ ok: true, value });
        } else {
          const changes = new JournaledChanges();
          const value = pending.fn(this.docs.data, this.reported(changes));
          journalLines.push(...changes.lines);
          results.push({ ok: true, value });
        }
      } catch (error) {
        if (isAuthError(error) || error instanceof DocumentRefusal) {
          // A refusal, made before the transaction changed anything.
          results.push({ ok: false, error });
          continue;
        }
        // A fault partway through may have left a half-done change: back to what is on disk,
        // and the others of this commit run again on it (in the next commit, in their order).
        this.restoreFromDisk();
        pending.reject(error);
        this.queue.unshift(...batch.slice(0, position), ...batch.slice(position + 1));
        return;
      }
    }
    let wrote: boolean;
    try {
      if (batch.some((pending) => pending.kind === 'any')) {
        const inPieces = batch.some((pending) => pending.kind === 'any' && pending.inPieces === true);
        wrote = await this.writeFiles(undefined, undefined, inPieces);
        // The files hold the other changes now; the audit events live in the journal until the audit
        // log has them. After the files: a failure here leaves writes never acknowledged without their
        // events (harmless), never an event without its writes.
        if (auditLines.length > 0) {
          await this.credentialsJournal.append(auditLines);
          wrote = true;
        }
      } else {
        // Credentials first, as writeFiles orders them (a removal's commit aside: appendRecordsFirst). A
        // whole-document transaction that changed db.json
        // rewrites it (which then holds the record writes of the commit too): credentials.json stays
        // journaled. One that changed nothing (called `unchanged`) rewrites nothing.
        wrote = false;
        if (credentialLines.length > 0) this.assertJournalRoom(this.credentialsJournal, this.credentialsFile);
        if (journalLines.length > 0 && !rewritesData) this.assertJournalRoom(this.journal, this.dataFile);
        if (batch.some(isRecordsFirst)) {
          // A removal's commit: takeCommit keeps whole-file writes and sign-ups out of it.
          wrote = await this.appendRecordsFirst(journalLines, credentialLines);
        } else {
          const credentialsMark = this.credentialsJournal.mark();
          if (credentialLines.length > 0) {
            await this.credentialsJournal.append(credentialLines);
            this.scheduleCompaction();
            wrote = true;
          }
          if (journalLines.length > 0 || rewritesData) {
            try {
              if (rewritesData) {
                wrote = (await this.writeFiles({ data: true, credentials: false }, undefined, true)) || wrote;
              } else {
                await this.journal.append(journalLines);
                this.scheduleCompaction();
                wrote = true;
              }
            } catch (error) {
              // The commit fails whole: its credentials lines go too (a sign-up refused leaves no credentials),
              // or, if the journal cannot be cut, stay as credentials without a user (harmless, see findOrphans).
              await this.credentialsJournal.undoSince(credentialsMark).catch((undo: unknown) => {
                this.logger.warn(
                  `restauth: could not take back lines of ${basename(this.credentialsJournal.path)}: ${describe(undo)}`,
                );
              });
              throw error;
            }
          }
        }
      }
      // Readers' indexes of db.json (the data API's, the store's users) survive a commit of credentials only.
      if (wrote && batch.some((pending) => pending.kind !== 'credentials')) this.generation++;
    } catch (error) {
      // Memory is ahead of disk: back to what is durable, and the whole commit fails.
      const journalFull = (error as { journalFull?: boolean }).journalFull === true;
      if (!journalFull || !warnedWithinAMinute(this.lastJournalFullWarning)) {
        if (journalFull) this.lastJournalFullWarning = Date.now();
        this.logger.warn(`restauth: write failed (${describe(error)}); the commit is undone`);
      }
      this.onWriteFailed(error);
      this.restoreFromDisk();
      for (const pending of batch) pending.reject(error);
      return;
    }
    if (wrote) this.onCommit(batch.length);
    // Committed: the audit events it journaled go on to the audit log's file.
    this.credentialsJournal.acknowledge();
    batch.forEach((pending, index) => {
      const result = results[index]!;
      if (result.ok) pending.resolve(result.value);
      else pending.reject(result.error);
    });
  }

  /**
   * A removal's commit: db.json's lines, then credentials.json's. A crash between the two leaves
   * credentials without a user (harmless, see findOrphans), never a user without its credentials.
   * If the second append fails the first is taken back (the commit fails whole); if it cannot be,
   * it stays, which is again credentials without a user. Whether anything was written.
   */
  private async appendRecordsFirst(journalLines: string[], credentialLines: string[]): Promise<boolean> {
    const recordsMark = this.journal.mark();
    if (journalLines.length > 0) {
      await this.journal.append(journalLines);
      this.scheduleCompaction();
    }
    if (credentialLines.length > 0) {
      try {
        await this.credentialsJournal.append(credentialLines);
        this.scheduleCompaction();
      } catch (error) {
        await this.journal.undoSince(recordsMark).catch((undo: unknown) => {
          this.logger.warn(
            `restauth: could not take back lines of ${basename(this.journal.path)}: ${describe(undo)}`,
          );
        });
        throw error;
      }
    }
    return journalLines.length > 0 || credentialLines.length > 0;
  }

  /**
   * Rewrites the files that differ from memory, credentials.json first: a
   * crash between the two writes can leave only credentials without a user,
   * never a user without its credentials. If db.json then cannot be written,
   * credentials.json is put back as it was (when the disk allows), so disk
   * and memory go back to the state before the commit together. Once a file
   * holds everything, its journal is emptied. A compaction rewrites only the
   * files it names (`which`).
   */
  private async writeFiles(
    which: Compaction = { data: true, credentials: true },
    /** Told a journal that could not be emptied (default: logged; the file holds its writes anyway). */
    notEmptied: (journal: Journal<unknown>, error: unknown) => void = (journal, error) =>
      this.logger.warn(`restauth: could not empty ${basename(journal.path)}: ${describe(error)}`),
    /**
     * A compaction's, a whole-document commit's, a takeover's: the files are written in pieces, requests answered
     * between them, and without a comparison (it needs the whole text; the file lacks writes anyway).
     */
    inPieces = false,
  ): Promise<boolean> {
    const credentialsBefore = this.credentialsFile.kept;
    const wroteCredentials =
      which.credentials &&
      (await this.writeIfChanged(
        this.credentialsFile,
        inPieces ? () => this.credentialsPieces() : credentialsText(this.docs.credentials),
      ));
    let wroteData = false;
    try {
      if (which.data) {
        wroteData = await this.writeIfChanged(
          this.dataFile,
          inPieces ? () => this.dataPieces() : jsonText(this.docs.data),
        );
      }
    } catch (error) {
      if (wroteCredentials) {
        await this.writeIfChanged(this.credentialsFile, credentialsBefore.text).catch((undo: unknown) =>
          this.logger.warn(
            `restauth: could not put ${basename(this.credentialsFile.path)} back (${describe(undo)}); ` +
              'it may hold credentials of a user db.json lacks, which is harmless',
          ),
        );
      }
      throw error;
    }
    if (wroteCredentials) this.onFileWritten('credentials');
    if (wroteData) this.onFileWritten('data');
    const complete: Array<Journal<unknown>> = [];
    if (which.credentials) complete.push(this.credentialsJournal as Journal<unknown>);
    if (which.data) complete.push(this.journal as Journal<unknown>);
    for (const journal of complete) {
      if (journal.isEmpty) continue;
      // Its file is complete: a journal that cannot be emptied only replays what the file has.
      await journal.clear().catch((error: unknown) => notEmptied(journal, error));
    }
    return wroteCredentials || wroteData;
  }

  /**
   * credentials.json's text in pieces, each told to onCompactionPiece once written (writeFileAtomically
   * asks for the next piece after writing one). Only inside the write queue: no commit changes the
   * document while the pieces are made, though requests that read it are answered between them.
   */
  private *credentialsPieces(): Generator<string> {
    for (const piece of credentialsPieces(this.docs.credentials)) {
      yield piece;
      this.onCompactionPiece(piece.length, 'credentials');
    }
  }

  /** db.json's text (jsonText) in pieces, as credentialsPieces: 50,000 users and 10,000 posts held the loop 30 ms. */
  private *dataPieces(): Generator<string> {
    for (const piece of jsonPieces(this.docs.data, RECORDS_PER_PIECE)) {
      yield piece;
      this.onCompactionPiece(piece.length, 'data');
    }
  }

  /**
   * Writes `content` if it differs from the file. Content in pieces (a compaction's) is written
   * without that check: comparing needs the whole text, and a compaction's journal holds writes the
   * file lacks.
   */
  private async writeIfChanged(state: FileState, content: FileContent): Promise<boolean> {
    if (typeof content === 'string' && state.kept.equals(content)) return false;
    for (let attempt = 1; ; attempt++) {
      try {
        const { displaced } = await writeAtomically(state, content);
        if (displaced !== null) {
          // Written into in place while restauth replaced it: that version is kept, not deleted.
          const aside = rejectedName(state.path);
          await rename(displaced, aside);
          this.logger.warn(
            `restauth: ${basename(state.path)} was changed outside restauth while it runs; the change is kept as ` +
              `${basename(aside)}, not applied (to edit it by hand, stop restauth first: see docs/operations.md)`,
          );
        }
        return true;
      } catch (error) {
        // Changed by hand between the check at the commit's start and the rename: set aside, then write.
        if (!(error instanceof FileChangedError)) throw error;
        if (this.adoptEdits && state === this.dataFile) {
          // Under --watch the edit is to be applied, which only the start of a commit may do: this write
          // is given up (a compaction is tried again later, the journal keeps its writes; a commit is undone
          // and answered 503), and the watcher's commit applies the edit.
          throw new AuthError('over_capacity', `${basename(state.path)} was saved while restauth wrote it`, {
            retryAfter: 1,
            cause: error,
          });
        }
        if (attempt === 5) {
          // Saved again faster than it can be set aside: this commit fails (undone), nothing is lost.
          throw new AuthError(
            'over_capacity',
            `${basename(state.path)} keeps being changed outside restauth`,
            {
              retryAfter: 1,
              cause: error,
            },
          );
        }
        await this.setAsideHandEdits();
      }
    }
  }

  private scheduleCompaction(): void {
    // A compaction failed and is tried again soon (of every journal with lines): not at every commit
    // meanwhile, each rewriting a file.
    if (this.compactionRetry !== null) return;
    const dataDueAt = Math.min(this.compactAtBytes, Math.max(DATA_COMPACT_MIN_BYTES, this.dataFile.size));
    if (this.journal.size >= dataDueAt) this.compactionDue.data = true;
    // credentials.json is rewritten once its journal is as large as the file: each journaled byte
    // then pays for about one byte of rewrite, at 1,000 users as at 50,000.
    if (this.credentialsCompactionDue()) this.compactionDue.credentials = true;
    if (this.journal.isEmpty) return;
    this.compactionTimer ??= setTimeout(() => {
      this.compactionTimer = null;
      if (this.closed) return;
      this.compactionDue.data = true;
      this.flushing ??= this.flush();
    }, this.catchUpDelay());
  }

  private credentialsCompactionDue(): boolean {
    return this.credentialsJournal.size >= Math.max(this.compactAtBytes, this.credentialsFile.size);
  }

  /** How long db.json may lack a journaled write (see COMPACT_AFTER_MS_PER_MIB). */
  private catchUpDelay(): number {
    return Math.max(this.compactAfterMs, (this.dataFile.size / 1_048_576) * COMPACT_AFTER_MS_PER_MIB);
  }

  /**
   * After a failed compaction (a full disk): tried again a while later, not
   * at once, so a disk that stays full is not written to in a loop.
   */
  private retryCompactionLater(failed: Compaction): void {
    this.compactionRetry ??= setTimeout(() => {
      this.compactionRetry = null;
      if (this.closed) return;
      // What failed, and what writes journaled meanwhile made due (they scheduled no compaction,
      // see scheduleCompaction): db.json's journal is due soon after any write, credentials.json's
      // only once as large as its file, so a db.json that keeps failing leaves it alone.
      this.compactionDue.data ||= failed.data || !this.journal.isEmpty;
      this.compactionDue.credentials ||= failed.credentials || this.credentialsCompactionDue();
      this.flushing ??= this.flush();
    }, COMPACTION_RETRY_MS).unref();
  }

  /** Brings the named files up to date with their journals (called inside the write queue, or at close). */
  private async compact(which: Compaction): Promise<void> {
    const due = {
      data: which.data && !this.journal.isEmpty,
      credentials: which.credentials && !this.credentialsJournal.isEmpty,
    };
    if (!due.data && !due.credentials) {
      // Both journals empty (a hand edit applied may have folded db.json's in): nothing is failing.
      if (this.journal.isEmpty && this.credentialsJournal.isEmpty) this.compactionFailure = null;
      return;
    }
    const named = { ...due };
    /** The files this compaction could not bring up to date: only they are retried. */
    const failed: Compaction = { data: false, credentials: false };
    let firstError: unknown = null;
    const fail = (file: keyof Compaction, error: unknown) => {
      if (file === 'data') failed.data = true;
      else failed.credentials = true;
      firstError ??= error;
    };
    try {
      await this.setAsideHandEdits(this.adoptEdits);
    } catch (error) {
      if (due.credentials) fail('credentials', error);
      if (due.data) fail('data', error);
    }
    // Each file on its own, credentials.json first: unlike a commit's rewrite, which undoes the
    // one it wrote when the other fails (memory goes back to disk), a compaction changes nothing in
    // memory, so a file brought up to date stays so and its journal is emptied. A db.json that
    // cannot be rewritten then leaves credentials.json alone at each retry, where credentials.json
    // was rewritten and put back every second.
    if (due.credentials && !failed.credentials) {
      let notEmptied: unknown = null;
      await this.writeFiles(
        { data: false, credentials: true },
        (_journal, error) => (notEmptied ??= error),
        true,
      )
        // A journal not emptied (its audit events cannot be written) grows on: the compaction failed.
        .then(() => notEmptied !== null && fail('credentials', notEmptied))
        .catch((error: unknown) => fail('credentials', error));
    }
    if (due.data && !failed.data) {
      // An edit waiting to be valid JSON is not overwritten: the journal keeps the writes meanwhile.
      // It grows on (bounded as any failure); at close it is simply kept.
      if (this.unappliedEdit !== null) {
        if (!this.closed) {
          fail(
            'data',
            new Error(
              `${basename(this.dataFile.path)} was saved with an edit that is not valid JSON; ` +
                'its journal keeps the writes until the file is saved valid',
            ),
          );
        }
      } else {
        await this.writeFiles({ data: true, credentials: false }, undefined, true).catch((error: unknown) =>
          fail('data', error),
        );
      }
    }
    const done = { data: due.data && !failed.data, credentials: due.credentials && !failed.credentials };
    if (done.data || done.credentials) this.onCompacted(done);
    if (firstError === null) {
      this.compactionFailure = null;
      this.lastCompactionWarning = null;
      this.lastJournalFullWarning = null;
      return;
    }
    // The journals still hold every acknowledged write: nothing is lost, the next compaction retries.
    this.compactionFailure = firstError;
    this.compactionFailures++;
    this.warnCompactionFailed(named, firstError);
    this.onWriteFailed(firstError);
    if (this.closed) throw firstError;
    this.retryCompactionLater(failed);
  }

  /** At the first failure, then at most once a minute while they go on (retried every second). */
  private warnCompactionFailed(due: Compaction, error: unknown): void {
    if (warnedWithinAMinute(this.lastCompactionWarning)) return;
    this.lastCompactionWarning = Date.now();
    const files = [due.credentials && this.credentialsFile.path, due.data && this.dataFile.path];
    const journals = [
      [this.credentialsJournal, this.credentialsFile],
      [this.journal, this.dataFile],
    ] as const;
    const sizes = journals
      .filter(([journal]) => !journal.isEmpty)
      .map(
        ([journal, file]) =>
          `${basename(journal.path)} ${mebibytes(journal.size)} of at most ${mebibytes(this.journalCap(file))}`,
      );
    this.logger.warn(
      `restauth: could not bring ${files
        .filter((file) => file !== false)
        .map((file) => basename(file))
        .join(' and ')} up to date with its journal: ${describe(error)}; the journal keeps every write ` +
        `and takes new ones until it reaches its bound, then writes are refused (507) until this is fixed ` +
        `(${sizes.join(', ')}; see docs/operations.md, "A compaction that keeps failing")`,
    );
  }

  /** The size a journal may reach while compactions fail (JOURNAL_CAP_FACTOR). */
  private journalCap(file: FileState): number {
    return JOURNAL_CAP_FACTOR * Math.max(this.compactAtBytes, file.size);
  }

  /**
   * Refuses a commit (as storage: 507) that would append to a journal past its bound while
   * compactions fail: the journal is what a start replays, and what memory reloads from.
   */
  private assertJournalRoom(journal: { path: string; size: number }, file: FileState): void {
    if (this.compactionFailure === null || journal.size < this.journalCap(file)) return;
    throw Object.assign(
      new Error(
        `EFBIG: ${basename(journal.path)} has reached ${mebibytes(journal.size)} because ` +
          `${basename(file.path)} could not be brought up to date with it (${describe(this.compactionFailure)}); ` +
          'writes are refused until a compaction succeeds',
      ),
      { code: 'EFBIG', syscall: 'write', journalFull: true },
    );
  }

  /**
   * Whether writes are refused because a journal reached its bound while compactions fail (see
   * JOURNAL_CAP_FACTOR): what /ready and Store.assertWritable report.
   */
  get journalsFull(): boolean {
    return (
      this.compactionFailure !== null &&
      (this.credentialsJournal.size >= this.journalCap(this.credentialsFile) ||
        this.journal.size >= this.journalCap(this.dataFile))
    );
  }

  /** The journals and their compactions now: what the metrics report. */
  get journalState(): JournalState {
    return {
      compactionFailing: this.compactionFailure !== null,
      compactionFailures: this.compactionFailures,
      journalsFull: this.journalsFull,
      auditPruneFailing: this.auditLog.pruneFailing,
      bytes: { data: this.journal.size, credentials: this.credentialsJournal.size },
    };
  }

  /**
   * A file changed outside restauth (edited, replaced or removed) is kept
   * beside as `<file>.rejected-<time>` and restauth's version is put back:
   * memory, which holds every acknowledged write, stays as it is.
   */
  private async setAsideHandEdits(adopt = false): Promise<void> {
    const states = [this.dataFile, this.credentialsFile];
    // Both files looked at together: every commit (a sign-in's too) starts here, and a stat through
    // libuv's thread pool is a wake-up of a pool thread and of the event loop, which on a busy machine
    // takes a core from a hash (on a local file system none is: pathLookIn).
    const looked = await Promise.all(states.map((state) => this.lookAt(state.path)));
    for (const [index, state] of states.entries()) {
      for (let attempt = 1; ; attempt++) {
        const current = attempt === 1 ? (looked[index] ?? null) : await this.lookAt(state.path);
        if (current && sameFile(current, state)) break;
        // Only a file is read: a FIFO put there waited for a writer, every commit queued behind it.
        const text = current?.isFile() ? await readFile(state.path, 'utf8').catch(() => null) : null;
        if (current && text !== null && state.kept.equals(text)) {
          // Touched, not changed (the same bytes saved again): nothing to set aside. Saved as a new file,
          // it may not be on disk yet (syncStoreFile); gone meanwhile, the next look sees it. Synced even
          // under the same inode number: ext4 gives a file deleted and saved again its old number.
          await syncStoreFile(state.path).catch(ifMissing(undefined));
          Object.assign(state, identityOf(current));
          break;
        }
        if (adopt && state === this.dataFile && current && text !== null) {
          if (await this.adoptDataFileEdit(text, identityOf(current))) break;
          // Saved again while it was applied: look at the newer version.
          if (attempt < 5) continue;
        }
        let aside: string | null = null;
        let moved = false;
        if (current) {
          // A second name for the edited file, not a copy: the file never goes missing, and an editor
          // still writing into it writes into the one set aside.
          ({ aside, moved } = await keepBeside(state.path));
        }
        this.unappliedEdit = null;
        try {
          // Only if no other file has taken its name in the meantime (else that one is set aside too).
          await writeAtomically(state, state.kept.text, {
            unchangedSince: current && !moved ? { ino: current.ino } : NO_FILE,
          });
        } catch (error) {
          if (!(error instanceof FileChangedError) || attempt === 5) throw error;
        }
        this.logger.warn(
          `restauth: ${basename(state.path)} was ${aside === null ? 'removed' : 'changed'} outside restauth while it runs; ` +
            (aside === null ? '' : `the change is kept as ${basename(aside)}, not applied, and `) +
            `${basename(state.path)} holds restauth's data again (to edit it by hand, stop restauth first: see docs/operations.md)`,
        );
      }
    }
  }

  private lookAt(path: string): Promise<Stats | null> {
    let look = this.looks.get(path);
    if (!look) {
      look = pathLookIn(dirname(path));
      this.looks.set(path, look);
    }
    return look(path);
  }

  /**
   * Applies db.json as saved outside restauth (--watch), with the journal's acknowledged writes on
   * top; runs inside the write queue. False when the file changed again meanwhile (nothing applied).
   * An edit that is not valid JSON, or that a check refuses (checkEdits: what the start refuses, such
   * as a key holding a "/"), is reported once and left alone (true): restauth keeps serving
   * what it had, writes go on into the journal, and the next save is looked at again.
   */
  private async adoptDataFileEdit(text: string, identity: Required<FileIdentity>): Promise<boolean> {
    let doc: JsonDocument;
    try {
      doc = parseDocument(text, this.dataFile.path);
      for (const check of this.editChecks) check(doc);
    } catch (error) {
      if (this.unappliedEdit === null || !sameFile(this.unappliedEdit, { ...this.dataFile, ...identity })) {
        this.logger.warn(
          `restauth: ${describe(error).replace(/; restauth does not start.*$/u, '')}: the change is not applied ` +
            'until the file is valid again; restauth keeps serving what it had',
        );
      }
      this.unappliedEdit = identity;
      return true;
    }
    const replayed = this.journal.replayOnto(doc);
    if (replayed > 0) {
      // The journal's writes are in the document now: written into the file, the journal emptied.
      try {
        await writeAtomically(this.dataFile, jsonText(doc), { unchangedSince: identity });
      } catch (error) {
        if (error instanceof FileChangedError) return false;
        throw error;
      }
      // The file holds them: a journal that cannot be emptied only replays what the file has.
      await this.journal.clear().catch((error: unknown) => {
        this.logger.warn(`restauth: could not empty ${basename(this.journal.path)}: ${describe(error)}`);
      });
    } else {
      // The file as saved, byte for byte: restauth does not rewrite what it did not change, but makes it
      // durable. Gone meanwhile: saved again, looked at again.
      if (!(await syncStoreFile(this.dataFile.path).then(() => true, ifMissing(false)))) return false;
      Object.assign(this.dataFile, { kept: KeptText.of(text, this.dataFile.compact), ...identity });
    }
    this.unappliedEdit = null;
    this.docs = { ...this.docs, data: doc };
    this.afterReload();
    this.logger.info(
      `restauth: ${basename(this.dataFile.path)} changed outside restauth: reloaded` +
        (replayed > 0 ? ` (with ${replayed} write(s) of its journal on top)` : ''),
    );
    return true;
  }

  /** Memory back to what is durable: the two files as last written, and their journals' acknowledged lines. */
  private restoreFromDisk(): void {
    const data = parseDocument(this.dataFile.kept.text, this.dataFile.path);
    this.journal.replayOnto(data);
    const credentials = parseDocument(this.credentialsFile.kept.text, this.credentialsFile.path);
    credentialsFromDisk(credentials);
    this.credentialsJournal.replayOnto(credentials);
    this.docs = { data, credentials };
    this.afterReload();
  }

  private afterReload(): void {
    this.generation++;
    for (const listener of this.reloadListeners) listener();
  }
}

function isRecordsFirst(pending: Pending): boolean {
  return pending.kind === 'journaled' && pending.recordsFirst === true;
}

/**
 * The next commit's transactions from `queue`, in order: all of them, unless a removal
 * (recordsFirst) and a transaction whose db.json change must follow its credentials (a sign-up,
 * an edit journaled credentials first, a rewrite of either file: writeFiles writes credentials.json
 * first) are both there. The two orders cannot both hold in one commit's appends, so the commit
 * ends before the first transaction that needs the other order than those taken; the rest waits
 * for the next commit. Credentials-only and record-only transactions go with either.
 */
function takeCommit(queue: Pending[]): { batch: Pending[]; rest: Pending[] } {
  const order = (pending: Pending): 'records' | 'credentials' | null => {
    if (isRecordsFirst(pending)) return 'records';
    return pending.kind === 'credentials' || pending.kind === 'records' ? null : 'credentials';
  };
  let taken: 'records' | 'credentials' | null = null;
  for (const [position, pending] of queue.entries()) {
    const needs = order(pending);
    if (needs === null) continue;
    if (taken !== null && needs !== taken)
      return { batch: queue.slice(0, position), rest: queue.slice(position) };
    taken = needs;
  }
  return { batch: queue, rest: [] };
}

/**
 * At open: applies what a crashed or killed process left in `journal` to its
 * document, writes the document with it and removes the journal, saying so.
 * A journal whose lines apply to another file than the one there is set aside, not applied.
 */
async function recoverJournal(
  journal: Journal<unknown>,
  file: { doc: JsonDocument; state: FileState },
  text: (doc: JsonDocument) => string,
  logger: FileDatabaseLogger,
): Promise<void> {
  const recovered = await journal.recover(file.doc);
  if (recovered.stale) {
    // Usually a kill between a rewrite's rename and the journal's emptying: the file holds every line.
    // The same is seen of a file edited by hand after a crash, so the lines are kept, not deleted.
    const aside = await journal.setAside();
    logger.warn(
      `restauth: ${basename(file.state.path)} is not the file ${basename(journal.path)} was written for: ` +
        `it was rewritten with the journal's ${recovered.skipped} write(s) before a stop that left the journal ` +
        `behind, or changed outside restauth since; the journal is not replayed and is kept as ${basename(aside)} ` +
        '(see docs/operations.md)',
    );
    return;
  }
  if (recovered.applied === 0 && recovered.skipped === 0 && !recovered.tornTail) return;
  await writeAtomically(file.state, text(file.doc), { force: true });
  await journal.remove();
  logger.warn(
    `restauth: ${basename(file.state.path)} was not closed cleanly; ` +
      `${recovered.applied} acknowledged write(s) replayed from ${basename(journal.path)}` +
      (recovered.tornTail ? ' (an unacknowledged, half-written last change dropped)' : ''),
  );
}

async function loadOrCreate(
  path: string,
  empty: JsonDocument,
  mode: number,
  compact: boolean,
  logger: FileDatabaseLogger,
): Promise<{ doc: JsonDocument; state: FileState }> {
  // Read as bytes: credentials.json's are kept deflated from them (KeptText), not encoded again.
  const bytes = await readStoreFile(path);
  if (bytes === null) {
    const state: FileState = {
      path,
      kept: KeptText.of('', compact),
      compact,
      ino: 0,
      mtimeMs: 0,
      size: 0,
      mode,
    };
    const doc = structuredClone(empty);
    await writeAtomically(state, jsonText(doc), { force: true });
    logger.info(`restauth: created ${path}`);
    return { doc, state };
  }
  const current = await stat(path);
  const text = bytes.toString('utf8');
  const doc = parseDocument(text, path);
  await syncStoreFile(path);
  const state = {
    path,
    kept: KeptText.of(text, compact, bytes),
    compact,
    ...identityOf(current),
    mode: current.mode & 0o777,
  };
  return { doc, state };
}

/**
 * Names a file holding `what` that other local accounts may read (group or world bits): a copy made
 * by hand, an unpacked backup or a checkout under umask 022 is 0644, and restauth keeps a file's mode.
 * A warning, not a refusal, as for a config file holding a secret (config/readable-secrets.ts).
 */
function warnIfReadableByOthers(state: FileState, what: string, logger: FileDatabaseLogger): void {
  if (process.platform === 'win32' || (state.mode & 0o077) === 0) return;
  logger.warn(`restauth: ${state.path} holds ${what} and is readable by other users: chmod 600 it`);
}

/**
 * A damaged file stops the start with its name, line and column (an error
 * with an E-code, which the CLI prints as one line, without a stack).
 */
function parseDocument(text: string, path: string): JsonDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw damaged(path, `is not valid JSON ${whereInvalid(text)}(${jsonParseProblem(error)})`);
  }
  if (!isPlainObject(doc)) {
    throw damaged(path, 'must hold a JSON object');
  }
  if (valueNestsDeeperThan(doc, MAX_FILE_DEPTH)) {
    throw damaged(
      path,
      `nests arrays and objects more than ${MAX_FILE_DEPTH} levels deep (restauth's own writes nest at most ${MAX_JSON_DEPTH})`,
    );
  }
  return doc;
}

/**
 * How deep a file's JSON may nest. JSON.parse takes any depth, but every later walk of a record (a
 * read's serialization, a write's copy, a rewrite of the file) recurses and ran out of stack at about
 * 5,000 levels: reads and writes of it answered 500 and the rewrite at a stop failed. Far beyond any
 * real document (clients may send at most MAX_JSON_DEPTH), far below the stack's end.
 */
const MAX_FILE_DEPTH = 1000;

function damaged(path: string, problem: string): Error {
  const error = new Error(
    `${path} ${problem}; restauth does not start on a damaged file: repair it or restore it from a backup`,
  ) as NodeJS.ErrnoException;
  error.code = 'EDAMAGED';
  return error;
}

/** "at line L, column C " of the first syntax error (V8's messages do not always give a position). */
function whereInvalid(text: string): string {
  const errors: ParseError[] = [];
  parseTolerantly(text, errors, {
    disallowComments: true,
    allowTrailingComma: false,
    allowEmptyContent: false,
  });
  const first = errors[0];
  if (first === undefined) return '';
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `at line ${line}, column ${column}: ${printParseErrorCode(first.error)} `;
}

function jsonText(doc: JsonDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Writes through writeFileAtomically and records what is now on disk. Unless
 * `force`, the rename happens only if the file is still as restauth left it
 * (FileChangedError otherwise): a change made by hand is never overwritten
 * unseen.
 */
async function writeAtomically(
  state: FileState,
  content: FileContent,
  options: { force?: boolean; unchangedSince?: FileIdentity } = {},
): Promise<{ displaced: string | null }> {
  const unchangedSince = options.force ? undefined : (options.unchangedSince ?? identityOf(state));
  // The file's mode and owner as they are now: a chmod or chown made while restauth runs (credentials.json
  // made owner-only, handed to the service's user) was undone by the next rewrite. Unreadable: as before.
  const current = await stat(state.path).catch(() => null);
  if (current !== null) state.mode = current.mode & 0o777;
  const owner = current === null ? undefined : { uid: current.uid, gid: current.gid };
  if (typeof content === 'string') {
    const { written, displaced } = await writeFileAtomically(state.path, content, state.mode, {
      unchangedSince,
      owner,
    });
    Object.assign(state, { kept: KeptText.of(content, state.compact), ...written });
    return { displaced };
  }
  // Kept as it is written: deflated, as KeptPieces makes it (db.json's too, plain when written whole).
  const kept = new KeptPieces();
  try {
    const { written, displaced } = await writeFileAtomically(
      state.path,
      kept.through(content()),
      state.mode,
      { unchangedSince, owner },
    );
    Object.assign(state, { kept: await kept.kept(), ...written });
    return { displaced };
  } catch (error) {
    kept.discard();
    throw error;
  }
}

/**
 * A file's new text: whole, or made in pieces (a compaction's, credentialsPieces) when asked for,
 * again at each attempt.
 */
type FileContent = string | (() => Iterable<string>);

let rejectedCount = 0;

/** `<path>.rejected-<time>-<n>`: sorts by time, never taken twice by one process. */
function rejectedName(path: string): string {
  return `${path}.rejected-${new Date().toISOString().replaceAll(':', '-')}-${++rejectedCount}`;
}

/** Where the copies rejectedName names are, and which names they have: never served (data/private-files.ts). */
export function rejectedCopies(path: string): { folder: string; named(name: string): boolean } {
  const prefix = `${basename(path)}.rejected-`;
  return { folder: dirname(path), named: (name) => name.startsWith(prefix) };
}

const NO_FILE: FileIdentity = { ino: 0 };

/**
 * Gives the file at `path` a second name, `<path>.rejected-<time>`,
 * by a hard link; where the file system has none, by a copy of its content.
 * What is no file (a directory made or moved there under the server) is
 * moved to that name (`moved`): it has no second name, nor content to copy,
 * and every write answered 500 while it stood there.
 */
async function keepBeside(path: string): Promise<{ aside: string; moved: boolean }> {
  for (;;) {
    const aside = rejectedName(path);
    try {
      if (!(await stat(path)).isFile()) {
        await rename(path, aside);
        return { aside, moved: true };
      }
      await link(path, aside);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      await copyFile(path, aside, constants.COPYFILE_EXCL);
    }
    return { aside, moved: false };
  }
}

function identityOf(stats: { ino: number; mtimeMs: number; size: number }): Required<FileIdentity> {
  return { ino: stats.ino, mtimeMs: stats.mtimeMs, size: stats.size };
}

function sameFile(stats: { ino: number; mtimeMs: number; size: number }, state: FileState): boolean {
  return stats.ino === state.ino && stats.mtimeMs === state.mtimeMs && stats.size === state.size;
}

/** Whether a warning logged at `last` (ms) is less than a minute old, either way: a clock set back must not silence it. */
function warnedWithinAMinute(last: number | null): boolean {
  return last !== null && Math.abs(Date.now() - last) < COMPACTION_WARNING_INTERVAL_MS;
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MiB`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The instance locks of db.json and of credentials.json, taken in that order, released together.
 * credentials.json's own: its default path is beside the data file, so two servers of two data
 * files in one folder (`restauth a.json`, `restauth b.json`) shared it, each under its own data
 * file's lock, and one's rewrite of credentials.json from its memory, emptying the shared journal,
 * dropped the other's acknowledged sign-ups and sessions.
 */
async function lockFiles(files: readonly string[]): Promise<Pick<InstanceLock, 'release'>> {
  const locks: InstanceLock[] = [];
  const release = async () => {
    for (const lock of locks.reverse()) await lock.release();
  };
  try {
    for (const file of new Set(files)) locks.push(await InstanceLock.acquire(instanceLockPath(file), file));
  } catch (error) {
    await release();
    throw error;
  }
  return { release };
}

/** The lock file that one restauth process per data file holds (instance-lock.ts). */
export function instanceLockPath(dataFile: string): string {
  return join(dirname(dataFile), `.${basename(dataFile)}.lock`);
}
