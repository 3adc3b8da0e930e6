import { constants } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { asFolderGone } from '../../lib/folder-gone.js';
import { pathLookIn, type PathLook } from '../../lib/path-look.js';
import { syncFolder } from '../../lib/sync-folder.js';
import { readStoreFile } from './store-file.js';
import { jsonParseProblem } from '../../lib/json-parse-problem.js';

export type JsonObject = Record<string, unknown>;

/**
 * How the journal's file is opened: appending, and where the platform has it, with O_DSYNC, so a
 * write returns once its bytes (and the size that reaches them) are on disk, as a write and an
 * fdatasync would. One request to libuv's thread pool instead of two: each is a wake-up of a pool
 * thread and of the event loop, and during a login storm each takes a core from a hash.
 */
const SYNCED_APPEND = constants.O_DSYNC
  ? constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC
  : null;

/** What a journal holds and how a change is applied to the document it belongs to. */
export interface JournalFormat<Change> {
  /** The change a parsed line holds; throws (saying what is wrong) on anything else. */
  parse(value: unknown): Change;
  /**
   * What applies changes to `doc`, one replay's worth: it may keep lookups
   * of `doc` between the changes it applies (nothing else changes `doc`
   * during a replay).
   */
  replayer(doc: JsonObject): Replayer<Change>;
}

/** Applies one replay's changes (a method: a journal of any change is a Journal<unknown>). */
export interface Replayer<Change> {
  apply(change: Change): void;
  /**
   * Told each change a recovery does not apply, as its file holds it already (or the journal is
   * stale): what a change carries besides its edit of the document (an audit event) is still owed.
   */
  skip?(change: Change): void;
}

/**
 * The file a journal's lines apply to, as last read or written (its KeptText): the digest of its text,
 * which the journal's base lines name.
 */
export interface JournalBase {
  /** Computed off the event loop when not known yet. */
  digest(): Promise<string>;
  /** At once (a reload after a fault). */
  digestNow(): string;
}

/** Where a journal ends, to undo what is appended after it (Journal.mark, undoSince). */
export interface JournalMark {
  size: number;
  count: number;
  /** The base the journal's last base line named then. */
  base: string | null;
}

/** What a recovery did (Journal.recover). */
export interface Recovered {
  /** Changes applied to the document. */
  applied: number;
  /** Changes not applied: the file holds them already, or (`stale`) the journal applies to no file restauth has. */
  skipped: number;
  /** The journal names its file, and db.json (or credentials.json) is not that file: nothing was applied. */
  stale: boolean;
  /** A half-written last line, never acknowledged, was dropped. */
  tornTail: boolean;
}

/** How a base line starts (baseLine): in-memory lines are told apart by it without parsing them. */
const BASE_LINE_START = '{"op":"base",';

/** The line that ties the lines after it to the file whose text has this digest (see Journal). */
function baseLine(digest: string): string {
  return `${JSON.stringify({ op: 'base', sha256: digest })}\n`;
}

/** The digest a parsed line names if it is a base line, else null (a change, or anything else). */
function baseNamed(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const line = value as Partial<Record<string, unknown>>;
  return line.op === 'base' && typeof line.sha256 === 'string' ? line.sha256 : null;
}

/**
 * The index of the first line to replay onto a file, given the digest each line names if it is a
 * base line (else null): the line after the last base line that names the file (`digest`), whatever
 * lines come before it (a journal that could not be emptied after a rewrite, which the file holds).
 * No base line at all: a journal of an earlier version, replayed whole as it was. Base lines none
 * of which names the file: the lines apply to another file (the one a compaction replaced, before a
 * stop left the journal behind), so nothing is replayed (null).
 */
function replayStart(bases: ReadonlyArray<string | null>, digest: () => string): number | null {
  if (bases.every((base) => base === null)) return 0;
  const file = digest();
  const at = bases.lastIndexOf(file);
  return at === -1 ? null : at + 1;
}

/**
 * An append-only journal of changes to one JSON document (db.json's record
 * writes, credentials.json's sessions and tokens).
 *
 * Rewriting a large file for every write costs a full serialization and a
 * full-file write; a journaled write costs one line and one fdatasync. So a
 * write is acknowledged once its line is durable here, and the document is
 * rewritten from memory later (compaction), after which the journal is
 * emptied.
 *
 * A change is not idempotent: a delete by id removes the first record with that id, so replayed onto
 * a file that already lacks it, it removed a second record of that id which nobody deleted (a db.json
 * may hold two, as json-server's does). So the journal's lines are tied to the exact file they apply
 * to: the first line written after the file was (re)written is a base line naming the digest of its
 * text (JournalBase), and a replay, at a start as after a fault, applies only the lines after the
 * last base line naming the file as it is. A rewrite's rename makes the lines before it stale by
 * construction: a crash between the rename and the emptying (or an emptying that fails) leaves lines
 * that name the replaced file, and they are not applied again. Without a `base` (tests of the format),
 * and for a journal an earlier version wrote (no base line), every line is replayed, as before.
 */
export class Journal<Change> {
  private handle: FileHandle | null = null;
  /** The file `handle` holds, by device and inode: the path must still name it after each append. */
  private held: { dev: number; ino: number } | null = null;
  /** How the path is looked at after each append (pathLookIn its folder), decided when the file is opened. */
  private look: PathLook | null = null;
  /** The lines written since the document was last rewritten, replayed onto it whenever it is reloaded. */
  protected lines: string[] = [];
  /** Bytes of the journal file. */
  size = 0;
  /**
   * The file this journal wrote was removed or replaced under the server: the lines since the last
   * compaction, acknowledged there, go again into the file the path names at the next append.
   */
  private lostFile = false;

  /** The digest the last base line of `lines` names (null: none yet since the journal was emptied). */
  private writtenBase: string | null = null;

  constructor(
    readonly path: string,
    private readonly format: JournalFormat<Change>,
    /** The file the lines apply to, as restauth last read or wrote it (see the class). */
    private readonly base: (() => JournalBase) | null = null,
  ) {}

  get isEmpty(): boolean {
    return this.lines.length === 0;
  }

  /**
   * At open: applies a journal left by a stopped or crashed process to `doc` (the file `base` names
   * as read), the lines after the last base line naming that file (see the class), and says what it
   * did. A torn last line was never acknowledged (its fdatasync did not return) and is dropped; any
   * other unreadable line, applied or not, stops the start naming the file and line (an EDAMAGED
   * error), and is never skipped.
   */
  async recover(doc: JsonObject): Promise<Recovered> {
    const bytes = await readStoreFile(this.path);
    if (bytes === null) return { applied: 0, skipped: 0, stale: false, tornTail: false };
    const text = bytes.toString('utf8');
    const lines = text.split('\n');
    const tail = lines.pop() ?? '';
    // Every line read (and checked) before any is applied: which apply depends on the last base line.
    const bases: Array<string | null> = [];
    const changes: Array<Change | null> = [];
    for (const [index, line] of lines.entries()) {
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        // Not the parser's error as the cause: its message quotes the line (a token, a hash).
        throw this.damaged(index + 1, `is not valid JSON: ${jsonParseProblem(error)}`, undefined);
      }
      const base = baseNamed(value);
      bases.push(base);
      if (base !== null) {
        changes.push(null);
        continue;
      }
      try {
        changes.push(this.format.parse(value));
      } catch (error) {
        throw this.damaged(index + 1, `is not a change restauth writes: ${(error as Error).message}`, error);
      }
    }
    let start: number | null = 0;
    // The file's digest only for a journal with base lines: one of an earlier version costs no hash.
    if (this.base !== null && bases.some((base) => base !== null)) {
      const file = await this.base().digest();
      start = replayStart(bases, () => file);
    }
    let applied = 0;
    let skipped = 0;
    const replay = this.format.replayer(doc);
    for (const [index, change] of changes.entries()) {
      if (change === null) continue;
      if (start !== null && index >= start) {
        replay.apply(change);
        applied++;
      } else {
        replay.skip?.(change);
        skipped++;
      }
    }
    return { applied, skipped, stale: start === null, tornTail: tail !== '' };
  }

  /** Appends the lines and returns once they are on disk. On failure the journal is as before. */
  async append(lines: string[]): Promise<void> {
    try {
      await this.appendOnce(lines);
    } catch (error) {
      // The file was removed or replaced (its folder removed and made again, a restore): the lines go at
      // once into the file the path names now, so this write does not fail too once the folder is back.
      if (!this.lostFile) throw error;
      await this.appendOnce(lines);
    }
  }

  private async appendOnce(lines: string[]): Promise<void> {
    if (!this.handle) {
      try {
        this.handle = await open(this.path, SYNCED_APPEND ?? 'a', 0o600);
        // The new file's name must survive a power loss too, like its content.
        await syncFolder(dirname(this.path));
      } catch (error) {
        await this.handle?.close().catch(() => {});
        this.handle = null;
        throw await asFolderGone(dirname(this.path), error);
      }
      const opened = await this.handle.stat();
      this.look = pathLookIn(dirname(this.path));
      this.size = opened.size;
      this.held = { dev: opened.dev, ino: opened.ino };
    }
    // The lines go under a base line naming the file as it is now, unless the last one names it (see the
    // class): the first append after the file was written, or after the journal was emptied.
    const base = this.base ? await this.base().digest() : null;
    const header = base !== null && base !== this.writtenBase ? [baseLine(base)] : [];
    // A file that replaced the one written (a restored folder) may hold some of these lines already: the
    // base lines among them say which file each applies to, so they are never applied twice.
    const text = (this.lostFile ? this.lines.join('') : '') + header.join('') + lines.join('');
    const before = this.size;
    try {
      const bytes = Buffer.from(text);
      const { bytesWritten } = await this.handle.write(bytes);
      // One write(2): on a disk that fills up it may write part of the lines and say so instead of failing.
      // A part is never acknowledged (nor left for the next append to follow): cut off below, as any failure.
      if (bytesWritten !== bytes.length) {
        throw Object.assign(
          new Error(`ENOSPC: no space left on device, wrote ${bytesWritten} of ${bytes.length} bytes`),
          { code: 'ENOSPC', errno: -28, syscall: 'write' },
        );
      }
      if (SYNCED_APPEND === null) await this.handle.datasync();
      await this.assertStillNamed();
    } catch (error) {
      await this.handle?.truncate(before).catch(() => {});
      if ((error as { code?: string }).code === 'ESTALE') {
        await this.handle?.close().catch(() => {});
        this.handle = null;
        this.lostFile = true;
      }
      throw error;
    }
    this.size += Buffer.byteLength(text);
    this.lostFile = false;
    this.lines.push(...header, ...lines);
    if (header.length > 0) this.writtenBase = base;
  }

  /**
   * The path must still name the file written: one removed (an operator's clean-up) or hidden (a
   * restored folder, a mount over it) would take acknowledged lines with it at the next start. Such a
   * write is refused as storage (507), and the next append writes to whatever the path names then.
   */
  private async assertStillNamed(): Promise<void> {
    const named = this.look ? await this.look(this.path) : await stat(this.path).catch(() => null);
    const held = this.held;
    if (named !== null && held !== null && named.ino === held.ino && named.dev === held.dev) return;
    throw Object.assign(
      new Error(
        `ESTALE: ${this.path} was removed or replaced while restauth wrote it; the write was refused`,
      ),
      { code: 'ESTALE', syscall: 'write' },
    );
  }

  /** Where the journal ends now, to undo what is appended after (undoSince). */
  mark(): JournalMark {
    return { size: this.size, count: this.lines.length, base: this.writtenBase };
  }

  /**
   * Takes back the lines appended since `mark` (their commit failed on the
   * other file's journal): cut off the file, so neither memory's replay nor
   * a restart's applies them. If the file cannot be cut, it keeps them.
   */
  async undoSince(mark: JournalMark): Promise<void> {
    if (this.size === mark.size) return;
    await this.handle?.truncate(mark.size);
    await this.handle?.datasync();
    this.size = mark.size;
    this.lines.length = mark.count;
    // A base line written since went with the lines.
    this.writtenBase = mark.base;
  }

  /**
   * Reapplies the lines the file lacks, as restauth last read or wrote it (after the document was
   * reloaded from it, or onto an edit of it applied under --watch), by the rule a start follows:
   * after a rewrite whose journal could not be emptied, its lines are in the file and are not
   * applied again. Returns how many changes it applied.
   */
  replayOnto(doc: JsonObject): number {
    const bases = this.lines.map((line) =>
      line.startsWith(BASE_LINE_START) ? baseNamed(JSON.parse(line)) : null,
    );
    const base = this.base;
    const start = base === null ? 0 : replayStart(bases, () => base().digestNow());
    if (start === null) return 0;
    const replay = this.format.replayer(doc);
    let applied = 0;
    for (const [index, line] of this.lines.entries()) {
      if (index < start || bases[index] !== null) continue;
      replay.apply(this.format.parse(JSON.parse(line)));
      applied++;
    }
    return applied;
  }

  /**
   * After the document was rewritten with everything: the journal starts over. If the file cannot be
   * cut (it throws), its lines stay, and the next append names the new file in a base line first.
   */
  async clear(): Promise<void> {
    if (this.handle) await this.handle.truncate(0);
    this.lines = [];
    this.size = 0;
    this.writtenBase = null;
  }

  /**
   * At open, a journal whose lines apply to none of the files restauth has (Recovered.stale): kept
   * beside under a name of its own (a dotfile, served by no route), not replayed nor deleted, and that
   * name returned. Its file was rewritten with its lines before a stop that left it behind, or, if
   * the file was changed outside restauth since, the operator may still want them.
   */
  async setAside(): Promise<string> {
    const aside = `${this.path}.stale-${new Date().toISOString().replaceAll(':', '-')}-${process.pid}`;
    await rename(this.path, aside);
    await syncFolder(dirname(this.path));
    return aside;
  }

  /** At a close that could not complete the document: the file stays, for the next start to replay. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  /** At close (the document complete) or after a recovery was written to the document. */
  async remove(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
    this.lines = [];
    this.size = 0;
    this.writtenBase = null;
    await rm(this.path, { force: true });
    await syncFolder(dirname(this.path));
  }

  private damaged(line: number, problem: string, cause: unknown): Error {
    // An E-code: the CLI prints the message as one line, without a stack.
    return Object.assign(
      new Error(
        `${this.path} line ${line} ${problem}; restauth does not start on a damaged journal: ` +
          'repair that line or restore the folder from a backup',
        { cause },
      ),
      { code: 'EDAMAGED' },
    );
  }
}
