import { open, type FileHandle } from 'node:fs/promises';
import { ifMissing } from '../../lib/if-missing.js';

/** Where one event's line is in the audit file, and what listing sorts and filters it by. */
export interface IndexedLine {
  offset: number;
  length: number;
  /** The event's `at`, in ms. */
  at: number;
  userId: string | null;
}

/** The file as indexed: its events newest first, and a last line without its newline, if any. */
export interface IndexedFile {
  newestFirst: readonly IndexedLine[];
  /** A last line a failed or crashed append left without its newline: listed if it is an event. */
  unterminated: string | null;
}

/** How much of the file one read takes: the event loop runs between two reads and their parsing. */
const SCAN_CHUNK_BYTES = 256 * 1024;

/**
 * An index of the audit file's event lines (offset, length, date, user), so that a page of the
 * admin audit list reads and parses only its own lines, not the whole file (at 100,000 events that
 * took about half a second of CPU per page, with every other request waiting).
 *
 * It is built at the first listing, reading the file in chunks (the event loop runs between them),
 * and brought up to date at each listing by reading only the bytes appended since (the file only
 * grows between prunes; a prune replaces it and calls `reset`). It holds no event's text.
 */
export class AuditIndex {
  private lines: IndexedLine[] = [];
  /** Newest first, events of the same instant in insertion order (what listing returns). */
  private sorted: IndexedLine[] = [];
  /** The bytes indexed: the end of the last whole line read. */
  private indexedBytes = 0;
  /** The file indexed (a prune renames another file in its place). */
  private ino: number | null = null;
  /** One copy of each user id: a user's many events share it rather than each holding its own. */
  private userIds = new Map<string, string>();

  constructor(
    readonly path: string,
    /** The date and user of a line's event, or null if the line is no event. */
    private readonly parse: (line: string) => { at: number; userId: string | null } | null,
  ) {}

  /** Forget the file: it was replaced (a prune). */
  reset(): void {
    this.lines = [];
    this.sorted = [];
    this.indexedBytes = 0;
    this.ino = null;
    this.userIds = new Map();
  }

  /** The index brought up to date with the file. The caller keeps appends and prunes out meanwhile. */
  async current(): Promise<IndexedFile> {
    const handle = await open(this.path, 'r').catch(ifMissing(null));
    if (handle === null) {
      this.reset();
      return { newestFirst: [], unterminated: null };
    }
    try {
      const { ino, size } = await handle.stat();
      if (ino !== this.ino || size < this.indexedBytes) {
        this.reset();
        this.ino = ino;
      }
      const added = this.lines.length;
      const unterminated = await this.scan(handle, size);
      this.sortAdded(added);
      return { newestFirst: this.sorted, unterminated };
    } finally {
      await handle.close();
    }
  }

  /** The text of these indexed lines, in the same order. */
  async read(lines: readonly IndexedLine[]): Promise<string[]> {
    if (lines.length === 0) return [];
    const handle = await open(this.path, 'r');
    try {
      return await Promise.all(
        lines.map(async (line) => {
          const buffer = Buffer.alloc(line.length);
          const { bytesRead } = await handle.read(buffer, 0, line.length, line.offset);
          return buffer.toString('utf8', 0, bytesRead);
        }),
      );
    } finally {
      await handle.close();
    }
  }

  /** Indexes the whole lines from indexedBytes to `size`; returns the unterminated rest, if any. */
  private async scan(handle: FileHandle, size: number): Promise<string | null> {
    let chunkBytes = SCAN_CHUNK_BYTES;
    while (this.indexedBytes < size) {
      const want = Math.min(chunkBytes, size - this.indexedBytes);
      const buffer = Buffer.alloc(want);
      const { bytesRead } = await handle.read(buffer, 0, want, this.indexedBytes);
      if (bytesRead === 0) return null;
      const lastNewline = buffer.lastIndexOf(0x0a, bytesRead - 1);
      if (lastNewline === -1) {
        // The rest of the file is one line without its newline: what a failed append leaves.
        if (this.indexedBytes + bytesRead >= size) return buffer.toString('utf8', 0, bytesRead);
        // Or a line longer than a chunk: read more at once.
        chunkBytes *= 2;
        continue;
      }
      let start = 0;
      while (start <= lastNewline) {
        const end = buffer.indexOf(0x0a, start);
        const event = this.parse(buffer.toString('utf8', start, end));
        if (event !== null) {
          this.lines.push({
            offset: this.indexedBytes + start,
            length: end - start,
            at: event.at,
            userId: event.userId === null ? null : this.userIdCopy(event.userId),
          });
        }
        start = end + 1;
      }
      this.indexedBytes += lastNewline + 1;
    }
    return null;
  }

  private userIdCopy(userId: string): string {
    const kept = this.userIds.get(userId);
    if (kept !== undefined) return kept;
    this.userIds.set(userId, userId);
    return userId;
  }

  /** Puts the lines indexed from `from` on into `sorted`. */
  private sortAdded(from: number): void {
    const added = this.lines.length - from;
    if (added === 0) return;
    if (added > 64) {
      // Array sort is stable: events of the same instant stay in insertion order.
      this.sorted = this.lines.slice().sort((a, b) => b.at - a.at);
      return;
    }
    for (let i = from; i < this.lines.length; i++) {
      const line = this.lines[i]!;
      // After every event dated the same or later: those of its instant were inserted before it.
      let low = 0;
      let high = this.sorted.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (this.sorted[middle]!.at >= line.at) low = middle + 1;
        else high = middle;
      }
      this.sorted.splice(low, 0, line);
    }
  }
}
