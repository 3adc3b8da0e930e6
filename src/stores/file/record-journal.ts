import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncFolderOf } from '../../lib/atomic-write.js';

type JsonObject = Record<string, unknown>;

/** One change to db.json, as a line of the journal. */
type RecordChange =
  | { op: 'put'; collection: string; key: string; record: JsonObject }
  | { op: 'delete'; collection: string; key: string; id: unknown }
  | { op: 'set'; name: string; value: unknown };

/**
 * What a journaled transaction changed in db.json, recorded as it happens
 * (each change serialized at once: later edits of the same object belong to
 * later changes).
 */
export class RecordChanges {
  readonly lines: string[] = [];

  /** The record now stored under its id (`key`) in a collection: inserted or replaced. */
  put(collection: string, key: string, record: JsonObject): void {
    this.add({ op: 'put', collection, key, record });
  }

  /** The record with this id (compared as strings) removed from a collection. */
  delete(collection: string, key: string, id: unknown): void {
    this.add({ op: 'delete', collection, key, id });
  }

  /** A top-level value (a singular resource) replaced. */
  set(name: string, value: unknown): void {
    this.add({ op: 'set', name, value });
  }

  private add(change: RecordChange): void {
    this.lines.push(`${JSON.stringify(change)}\n`);
  }
}

/** Where the journal of a db.json lives: beside it, hidden like its lock. */
export function journalPathFor(dataFile: string): string {
  return join(dirname(dataFile), `.${basename(dataFile)}.journal`);
}

/**
 * The append-only journal of db.json's record writes.
 *
 * Rewriting a large db.json for every write costs a full serialization and a
 * full-file write; a journaled write costs one line and one fdatasync. So a
 * record write is acknowledged once its line is durable here, and db.json is
 * rewritten from memory a moment later (compaction), after which the journal
 * is emptied. Replaying is idempotent (records are put and deleted by id, with
 * their whole content), so a crash between the rewrite and the emptying only
 * replays changes db.json already has.
 */
export class RecordJournal {
  private handle: FileHandle | null = null;
  /** The lines written since db.json was last rewritten, replayed onto db.json whenever it is reloaded. */
  private lines: string[] = [];
  /** Bytes of the journal file. */
  size = 0;

  constructor(readonly path: string) {}

  get isEmpty(): boolean {
    return this.lines.length === 0;
  }

  /**
   * At open: applies a journal left by a stopped or crashed process to `doc`
   * and returns how many changes it held. A torn last line was never
   * acknowledged (its fdatasync did not return) and is dropped; any other
   * unreadable line is an error, never skipped.
   */
  async recover(doc: JsonObject): Promise<{ applied: number; tornTail: boolean }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { applied: 0, tornTail: false };
      throw error;
    }
    const lines = text.split('\n');
    const tail = lines.pop() ?? '';
    let applied = 0;
    for (const [index, line] of lines.entries()) {
      if (line === '') continue;
      let change: RecordChange;
      try {
        change = JSON.parse(line) as RecordChange;
      } catch (error) {
        throw new Error(`${this.path} line ${index + 1} is not valid JSON: ${(error as Error).message}`, {
          cause: error,
        });
      }
      applyChange(doc, change);
      applied++;
    }
    return { applied, tornTail: tail !== '' };
  }

  /** Appends the lines and returns once they are on disk. On failure the journal is as before. */
  async append(lines: string[]): Promise<void> {
    const text = lines.join('');
    const before = this.size;
    if (!this.handle) {
      this.handle = await open(this.path, 'a', 0o600);
      // The new file's name must survive a power loss too, like its content.
      await syncFolderOf(this.path);
    }
    try {
      await this.handle.write(text);
      await this.handle.datasync();
    } catch (error) {
      await this.handle.truncate(before).catch(() => {});
      throw error;
    }
    this.size += Buffer.byteLength(text);
    this.lines.push(...lines);
  }

  /** Reapplies the lines written since the last compaction (after db.json was reloaded from disk). */
  replayOnto(doc: JsonObject): void {
    for (const line of this.lines) applyChange(doc, JSON.parse(line) as RecordChange);
  }

  /** After db.json was rewritten with everything: the journal starts over. */
  async clear(): Promise<void> {
    if (this.handle) await this.handle.truncate(0);
    this.lines = [];
    this.size = 0;
  }

  /** At close (db.json complete) or after a recovery was written to db.json. */
  async remove(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
    this.lines = [];
    this.size = 0;
    await rm(this.path, { force: true });
    await syncFolderOf(this.path);
  }
}

function applyChange(doc: JsonObject, change: RecordChange): void {
  if (change.op === 'set') {
    // eslint-disable-next-line no-restricted-syntax -- collection names the data API journaled after refusing prototype keys (data/keys.ts), or restauth's own journal
    doc[change.name] = change.value;
    return;
  }
  // eslint-disable-next-line no-restricted-syntax -- collection names the data API journaled after refusing prototype keys (data/keys.ts), or restauth's own journal
  if (change.op === 'put') doc[change.collection] ??= [];
  const rows = doc[change.collection];
  // A collection replaced by a hand edit with something else: the change has nowhere to go.
  if (!Array.isArray(rows)) return;
  const id = String(change.op === 'put' ? change.record[change.key] : change.id);
  const index = rows.findIndex(
    (row) => typeof row === 'object' && row !== null && String((row as JsonObject)[change.key]) === id,
  );
  if (change.op === 'put') {
    if (index === -1) rows.push(change.record);
    // eslint-disable-next-line no-restricted-syntax -- an array index
    else rows[index] = change.record;
  } else if (index !== -1) {
    rows.splice(index, 1);
  }
}
