import { constants } from 'node:fs';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
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
}

/**
 * An append-only journal of changes to one JSON document (db.json's record
 * writes, credentials.json's sessions and tokens).
 *
 * Rewriting a large file for every write costs a full serialization and a
 * full-file write; a journaled write costs one line and one fdatasync. So a
 * write is acknowledged once its line is durable here, and the document is
 * rewritten from memory later (compaction), after which the journal is
 * emptied. Replaying must be idempotent (changes put and delete whole
 * entries by key), so a crash between the rewrite and the emptying only
 * replays changes the document already has.
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

  constructor(
    readonly path: string,
    private readonly format: JournalFormat<Change>,
  ) {}

  get isEmpty(): boolean {
    return this.lines.length === 0;
  }

  /** Lines written since the document was last rewritten. */
  get count(): number {
    return this.lines.length;
  }

  /**
   * At open: applies a journal left by a stopped or crashed process to `doc`
   * and returns how many changes it held. A torn last line was never
   * acknowledged (its fdatasync did not return) and is dropped; any other
   * unreadable line stops the start naming the file and line (an EDAMAGED
   * error), and is never skipped.
   */
  async recover(doc: JsonObject): Promise<{ applied: number; tornTail: boolean }> {
    const bytes = await readStoreFile(this.path);
    if (bytes === null) return { applied: 0, tornTail: false };
    const text = bytes.toString('utf8');
    const lines = text.split('\n');
    const tail = lines.pop() ?? '';
    let applied = 0;
    const replay = this.format.replayer(doc);
    for (const [index, line] of lines.entries()) {
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        // Not the parser's error as the cause: its message quotes the line (a token, a hash).
        throw this.damaged(index + 1, `is not valid JSON: ${jsonParseProblem(error)}`, undefined);
      }
      let change: Change;
      try {
        change = this.format.parse(value);
      } catch (error) {
        throw this.damaged(index + 1, `is not a change restauth writes: ${(error as Error).message}`, error);
      }
      replay.apply(change);
      applied++;
    }
    return { applied, tornTail: tail !== '' };
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
    // Replaying is idempotent: lines the file may hold already cost only their bytes.
    const text = (this.lostFile ? this.lines.join('') : '') + lines.join('');
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
    this.lines.push(...lines);
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
  mark(): { size: number; count: number } {
    return { size: this.size, count: this.lines.length };
  }

  /**
   * Takes back the lines appended since `mark` (their commit failed on the
   * other file's journal): cut off the file, so neither memory's replay nor
   * a restart's applies them. If the file cannot be cut, it keeps them.
   */
  async undoSince(mark: { size: number; count: number }): Promise<void> {
    if (this.size === mark.size) return;
    await this.handle?.truncate(mark.size);
    await this.handle?.datasync();
    this.size = mark.size;
    this.lines.length = mark.count;
  }

  /** Reapplies the lines written since the last compaction (after the document was reloaded from disk). */
  replayOnto(doc: JsonObject): void {
    const replay = this.format.replayer(doc);
    for (const line of this.lines) replay.apply(this.format.parse(JSON.parse(line)));
  }

  /** After the document was rewritten with everything: the journal starts over. */
  async clear(): Promise<void> {
    if (this.handle) await this.handle.truncate(0);
    this.lines = [];
    this.size = 0;
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
