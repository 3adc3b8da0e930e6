import { open, stat, type FileHandle } from 'node:fs/promises';
import { readStoreFile } from './store-file.js';
import { basename, dirname, extname } from 'node:path';
import type { AuditEvent, AuditPage } from '../../core/ports/store.js';
import { AuditIndex, type IndexedLine } from './audit-index.js';
import { writeFileAtomically } from '../../lib/atomic-write.js';
import { isPlainObject } from '../../lib/is-plain-object.js';
import { syncFolder } from '../../lib/sync-folder.js';
import { linesInSlices } from './lines-in-slices.js';

/** Where the audit log of `credentials.json` lives: `credentials.audit.jsonl`, in the same folder. */
export function auditFilePath(credentialsFile: string): string {
  const stem =
    extname(credentialsFile) === '.json' ? credentialsFile.slice(0, -'.json'.length) : credentialsFile;
  return `${stem}.audit.jsonl`;
}

/** The file holds IP addresses and who did what: owner-only, like credentials.json. */
const AUDIT_FILE_MODE = 0o600;

/** How soon events made durable by the credentials journal are written here (several in one write). */
const JOURNALED_WRITE_MS = 1000;

/**
 * While prunes fail (a volume with room for lines but not for the prune's copy, an audit log that
 * cannot be replaced), the file may grow to this many times its size at the failed prune, and at
 * least to AUDIT_CAP_FLOOR_BYTES; then appends are refused as storage (EFBIG): a sign-in's event
 * then stays in the credentials journal, whose own bound answers 507, rather than the log outgrowing
 * its retention without bound.
 */
const AUDIT_GROWTH_WHILE_PRUNES_FAIL = 2;
const AUDIT_CAP_FLOOR_BYTES = 64 * 1024 * 1024;

interface Pending {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** An event as one line of the file: the AuditEvent with `at` as an ISO string. */
interface AuditLine extends Omit<AuditEvent, 'at'> {
  at: string;
}

/**
 * The file store's audit log: `<credentials file without .json>.audit.jsonl`
 * beside credentials.json, one JSON event per line, in insertion order.
 *
 * It is not part of credentials.json because that file is rewritten whole at
 * every commit: a log that only grows would make every sign-in slower. Here
 * recording is an append, and only listing and pruning read the file.
 *
 * - Events recorded in the same tick go out in one write; the file is
 *   fdatasync'd before their promises resolve (acknowledged means on disk).
 * - Appends and prunes run one after another; a prune rewrites the file
 *   atomically (temp file, rename), so a reader sees it before or after. The
 *   rewritten file's first line is the prune's bound (`{"prunedBefore":...}`):
 *   the events it removed may still be in the credentials journal, and a start
 *   after a crash appends none dated before it.
 * - A line that is not a whole event (a crash in the middle of an append) is
 *   skipped when reading, and the next append starts on a line of its own.
 * - Listing reads only its page's lines, found by an index of the file's
 *   lines (AuditIndex) built at the first listing, in chunks that let other
 *   requests run, and brought up to date by reading what was appended since.
 * - A sign-in's event is made durable by credentials.json's journal, in the
 *   session's own commit (see CredentialsJournal): it is handed here after
 *   that commit (`journaled`) and written within a second, several in one
 *   write and fdatasync, or at once when the journal is about to be emptied
 *   (`sync`), so a sign-in pays one fdatasync, not two. Until then listing
 *   and pruning see it in memory. After a crash, the journal's events the
 *   file lacks are appended at the next start (`restore`).
 */
export class AuditFile {
  private pending: Pending[] = [];
  /** The end of the chain of appends and prunes: each waits for the one before. */
  private tail: Promise<void> = Promise.resolve();
  /** Opened on the first append; dropped by a prune (the file is replaced) or a failed write. */
  private handle: FileHandle | null = null;
  private closed = false;
  /** Lines of events already durable in the credentials journal, not yet written here (see `journaled`). */
  private unwritten: string[] = [];
  private unwrittenTimer: NodeJS.Timeout | null = null;
  /** Where each event's line is, so that a page of the list reads only its own lines. */
  private readonly index: AuditIndex;

  /** Why the last prune failed; null once one succeeds (see AUDIT_GROWTH_WHILE_PRUNES_FAIL). */
  private pruneFailure: unknown = null;
  /** The size appends may take the file to while prunes fail; null while they succeed. */
  private capBytes: number | null = null;
  /** Whether the last append was refused for the cap (until a prune succeeds). */
  private atCap = false;

  /** `onAppend` is told, after each write is on disk, how many events it carried. */
  constructor(
    readonly path: string,
    private readonly onAppend: (events: number) => void = () => {},
    private readonly capFloorBytes: number = AUDIT_CAP_FLOOR_BYTES,
    /** How much a prune reads at a time (tests: smaller), and what it tells after each slice it worked on. */
    private readonly slicing: { bytes?: number; onSlice?: (lines: number) => void } = {},
  ) {
    this.index = new AuditIndex(path, (line) => {
      const event = parseLine(line);
      return event === null ? null : { at: event.at.getTime(), userId: event.userId };
    });
  }

  /** Whether the last prune failed (retention not applied): what the metrics report. */
  get pruneFailing(): boolean {
    return this.pruneFailure !== null;
  }

  /** Whether appends are refused because the file reached its bound while prunes fail: /ready says so. */
  get full(): boolean {
    return this.pruneFailure !== null && this.atCap;
  }

  record(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line: auditLineText(event), resolve, reject });
      // The first event of a batch schedules its write; the others join it.
      if (this.pending.length === 1) void this.serialized(() => this.appendPending());
    });
  }

  async list(options: { page: number; perPage: number; userId?: string }): Promise<AuditPage> {
    const { userId } = options;
    const matches = (line: { userId: string | null }) => userId === undefined || line.userId === userId;
    const start = (Math.max(options.page, 1) - 1) * options.perPage;
    const end = start + options.perPage;
    // In the chain: no write is under way, so each event is either in the file or still unwritten.
    return this.serialized(async () => {
      const { newestFirst, unterminated } = await this.index.current();
      // Events not in the index (an unterminated last line, the unwritten ones), inserted after it.
      const later = parseLines(unterminated === null ? this.unwritten : [unterminated, ...this.unwritten])
        .filter(matches)
        .sort((a, b) => b.at.getTime() - a.at.getTime());
      // Newest first; events of the same instant in insertion order: the file's before the later ones.
      const page: (IndexedLine | AuditEvent)[] = [];
      let total = 0;
      let next = 0;
      for (const line of newestFirst) {
        if (!matches(line)) continue;
        while (next < later.length && later[next]!.at.getTime() > line.at) {
          if (total >= start && total < end) page.push(later[next]!);
          total++;
          next++;
        }
        if (total >= start && total < end) page.push(line);
        total++;
      }
      for (; next < later.length; next++) {
        if (total >= start && total < end) page.push(later[next]!);
        total++;
      }
      const indexed = page.filter((entry): entry is IndexedLine => !(entry.at instanceof Date));
      const texts = await this.index.read(indexed);
      const read = new Map(indexed.map((line, i) => [line, texts[i]!]));
      const events: AuditEvent[] = [];
      for (const entry of page) {
        if (entry.at instanceof Date) events.push(entry as AuditEvent);
        else {
          const event = parseLine(read.get(entry as IndexedLine)!);
          if (event !== null) events.push(event);
        }
      }
      return { events, total };
    });
  }

  /**
   * Removes the events dated before `before`. The rewritten file starts with a line saying so
   * (`{"prunedBefore":...}`, see prunedBeforeLine), in the same rename: a pruned event may still be in
   * the credentials journal, and `restore` after a crash must not bring it back.
   */
  prune(before: Date): Promise<number> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    return this.serialized(async () => {
      // The unwritten events are pruned with the file's, and what is kept of them written with it.
      // Only those of now: events journaled while the prune reads and writes stay unwritten after it.
      const taken = this.unwritten.length;
      const unwritten = this.unwritten.slice(0, taken).map((line) => line.slice(0, -1));
      const bound = before.getTime();
      // Read twice, a slice at a time (linesInSlices): first to learn whether anything goes and the
      // latest earlier prune's bound (the rewritten file's first line), then to write what stays.
      // Parsed whole, 100,000 events held the event loop about 0.3 s, answering no request meanwhile.
      let pruned = 0;
      let damaged = 0;
      let prunedBefore = bound;
      const count = (line: string) => {
        const kind = classify(line, bound);
        if (kind === 'pruned') pruned++;
        else if (kind === 'damaged') damaged++;
        else if (kind !== 'kept' && kind !== 'empty') prunedBefore = Math.max(prunedBefore, kind.getTime());
      };
      for await (const lines of this.slices()) lines.forEach(count);
      unwritten.forEach(count);
      // Runs hourly: with nothing to remove, the file is left as it is rather than copied.
      if (pruned === 0 && damaged === 0) return this.pruned(0);
      await this.closeHandle();
      // The file is replaced (or, on failure, may be): the index is rebuilt at the next listing.
      this.index.reset();
      try {
        await writeFileAtomically(
          this.path,
          this.keptText(prunedBeforeLine(new Date(prunedBefore)), bound, unwritten),
          AUDIT_FILE_MODE,
        );
      } catch (error) {
        this.pruneFailure = error;
        const size = await stat(this.path).then(
          (stats) => stats.size,
          () => 0,
        );
        this.capBytes ??= Math.max(this.capFloorBytes, AUDIT_GROWTH_WHILE_PRUNES_FAIL * size);
        throw error;
      }
      this.unwritten = this.unwritten.slice(taken);
      return this.pruned(pruned);
    });
  }

  /** The file's lines a slice at a time, each slice told to `onSlice` once it was worked on. */
  private async *slices(): AsyncGenerator<string[]> {
    for await (const lines of linesInSlices(this.path, this.slicing.bytes)) {
      yield lines;
      this.slicing.onSlice?.(lines.length);
    }
  }

  /** What a prune keeps, as the pieces of the rewritten file: `first`, then the events dated from `bound` on. */
  private async *keptText(
    first: string,
    bound: number,
    unwritten: readonly string[],
  ): AsyncGenerator<string> {
    yield first;
    const kept = (lines: readonly string[]) =>
      lines
        .filter((line) => classify(line, bound) === 'kept')
        .map((line) => `${line}\n`)
        .join('');
    for await (const lines of this.slices()) yield kept(lines);
    yield kept(unwritten);
  }

  /** A prune succeeded: the file is within its retention again, appends unbounded. */
  private pruned(count: number): number {
    this.pruneFailure = null;
    this.capBytes = null;
    this.atCap = false;
    return count;
  }

  /**
   * Events already durable in the credentials journal (the lines `auditLineText` makes), handed over
   * once their commit succeeded: written within JOURNALED_WRITE_MS, several in one write and
   * fdatasync, rather than each with its own.
   */
  journaled(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.unwritten.push(...lines);
    this.unwrittenTimer ??= setTimeout(() => {
      this.unwrittenTimer = null;
      // A failure keeps them unwritten (the journal keeps them durable): tried again at the next sync.
      if (!this.closed) this.sync().catch(() => {});
    }, JOURNALED_WRITE_MS).unref();
  }

  /** Writes the journaled events not written yet, and returns once they are on disk. */
  sync(): Promise<void> {
    return this.serialized(async () => {
      if (this.unwritten.length > 0) await this.appendLines([]);
    });
  }

  /**
   * At the start after a crash: the events a credentials journal held (its lines from
   * `auditLineText`), appended if the file lacks them (a crash may have come before or after their
   * write here), and on disk before this returns: the journal is removed next.
   */
  restore(lines: readonly string[]): Promise<void> {
    return this.serialized(async () => {
      if (lines.length === 0) return;
      const text = (await readStoreFile(this.path))?.toString('utf8') ?? '';
      const present = new Set(parseLines(text.split('\n')).map((event) => event.id));
      // An event the file lacks because a prune removed it (the journal outlived the prune) stays pruned.
      const prunedBefore = prunedBeforeOf(text);
      const missing = lines.filter((line) => {
        const event = parseLine(line);
        return event !== null && !present.has(event.id) && event.at.getTime() >= prunedBefore;
      });
      this.unwritten.push(...missing);
      if (this.unwritten.length > 0) await this.appendLines([]);
    });
  }

  /** Waits for the pending writes, writes the journaled events, then releases the file. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.unwrittenTimer) clearTimeout(this.unwrittenTimer);
    this.unwrittenTimer = null;
    await this.serialized(async () => {
      try {
        if (this.unwritten.length > 0) await this.appendLines([]);
      } finally {
        await this.closeHandle();
      }
    });
  }

  private serialized<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job);
    this.tail = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  private async appendPending(): Promise<void> {
    // Let the rest of this tick record its events too: they join this write.
    await new Promise((resolve) => setImmediate(resolve));
    const batch = this.pending;
    this.pending = [];
    try {
      await this.appendLines(batch.map((pending) => pending.line));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    for (const pending of batch) pending.resolve();
  }

  /**
   * Appends the unwritten journaled events, then `lines`, in one write, and returns once they are on
   * disk (inside the chain). On failure the journaled ones stay unwritten, for the next try.
   */
  private async appendLines(lines: readonly string[]): Promise<void> {
    const journaled = this.unwritten;
    this.unwritten = [];
    try {
      const handle = await this.appendHandle();
      const text = [...journaled, ...lines].join('');
      if (this.capBytes !== null) {
        const { size } = await handle.stat();
        this.atCap = size + Buffer.byteLength(text) > this.capBytes;
        if (this.atCap) {
          throw Object.assign(
            new Error(
              `EFBIG: the audit log ${basename(this.path)} has reached ${size} bytes and could not be pruned ` +
                `(${describe(this.pruneFailure)}); events are refused until a prune succeeds`,
            ),
            { code: 'EFBIG', syscall: 'write' },
          );
        }
      }
      await handle.writeFile(text);
      await handle.datasync();
    } catch (error) {
      // The write may have stopped mid-line: reopening checks the last byte before the next append.
      await this.closeHandle().catch(() => {});
      this.unwritten = [...journaled, ...this.unwritten];
      throw error;
    }
    this.onAppend(journaled.length + lines.length);
  }

  private async appendHandle(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    // a+: appends, and lets us read the last byte.
    const handle = await open(this.path, 'a+', AUDIT_FILE_MODE);
    try {
      const { size } = await handle.stat();
      if (size === 0) {
        // Possibly a new file: its folder entry must reach the disk too, or a power loss could lose it.
        await syncFolder(dirname(this.path));
      } else {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        // A crash mid-append left a partial line: end it, so the next event is not glued to it.
        if (last[0] !== 0x0a) await handle.writeFile('\n');
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.handle = handle;
    return handle;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An event as a line of the file: field by field, so nothing but the event's own fields reaches it. */
export function auditLineText(event: AuditEvent): string {
  const line: AuditLine = {
    id: event.id,
    at: event.at.toISOString(),
    action: event.action,
    actorId: event.actorId,
    userId: event.userId,
    ip: event.ip,
    data: event.data,
  };
  return `${JSON.stringify(line)}\n`;
}

/**
 * The line a prune starts the rewritten file with: events dated before `before` were removed. It is
 * no event (readers skip it as they skip a damaged line) and is rewritten by the next prune.
 */
function prunedBeforeLine(before: Date): string {
  return `${JSON.stringify({ prunedBefore: before.toISOString() })}\n`;
}

/**
 * What a prune does with a line: keeps it (an event dated from `bound` on), prunes it (an event dated
 * before), drops it (damaged: no event, and the rewrite is the moment to clean up), or reads the
 * bound of an earlier prune's line (rewritten as the latest bound: after the clock went back, this
 * prune's may be the earlier one).
 */
function classify(line: string, bound: number): 'kept' | 'pruned' | 'damaged' | 'empty' | Date {
  if (line === '') return 'empty';
  const earlierPrune = parsePrunedBefore(line);
  if (earlierPrune !== null) return earlierPrune;
  const event = parseLine(line);
  if (event === null) return 'damaged';
  return event.at.getTime() < bound ? 'pruned' : 'kept';
}

/** The bound of a prune's line, or null if `line` is not one. */
function parsePrunedBefore(line: string): Date | null {
  if (!line.startsWith('{"prunedBefore":')) return null;
  try {
    const value: unknown = JSON.parse(line);
    if (!isPlainObject(value) || typeof value.prunedBefore !== 'string') return null;
    const at = new Date(value.prunedBefore);
    return Number.isNaN(at.getTime()) ? null : at;
  } catch {
    return null;
  }
}

/**
 * The latest prune's bound in the file's text (ms; -Infinity if it was never pruned). An event dated
 * before it that the journal holds was pruned; one recorded later with an earlier date (the clock
 * stepped back by more than the retention) would be dropped too if a crash left it in the journal alone.
 */
function prunedBeforeOf(text: string): number {
  let latest = -Infinity;
  for (const line of text.split('\n')) {
    const at = parsePrunedBefore(line);
    if (at !== null) latest = Math.max(latest, at.getTime());
  }
  return latest;
}

/** Whether `value` (a parsed line) is an event as auditLineText writes it. */
export function isAuditLine(value: unknown): boolean {
  return toEvent(value) !== null;
}

function parseLines(lines: readonly string[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const line of lines) {
    const event = parseLine(line);
    if (event !== null) events.push(event);
  }
  return events;
}

/** The event on this line, or null for an empty or damaged line (never throws). */
function parseLine(line: string): AuditEvent | null {
  if (line.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  return toEvent(value);
}

/** The event a parsed line holds, or null if it is not one. */
function toEvent(value: unknown): AuditEvent | null {
  if (!isPlainObject(value)) return null;
  const record = value;
  const nullableString = (key: string) => record[key] === null || typeof record[key] === 'string';
  if (
    typeof record.id !== 'string' ||
    typeof record.at !== 'string' ||
    typeof record.action !== 'string' ||
    !nullableString('actorId') ||
    !nullableString('userId') ||
    !nullableString('ip') ||
    typeof record.data !== 'object' ||
    record.data === null ||
    Array.isArray(record.data)
  ) {
    return null;
  }
  const at = new Date(record.at);
  if (Number.isNaN(at.getTime())) return null;
  const fields = record as unknown as AuditLine;
  return {
    id: fields.id,
    at,
    action: fields.action,
    actorId: fields.actorId,
    userId: fields.userId,
    ip: fields.ip,
    data: fields.data,
  };
}
