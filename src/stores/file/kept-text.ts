import { createHash, webcrypto } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createDeflate, deflateSync, inflate, inflateSync } from 'node:zlib';

const inflateAsync = promisify(inflate);

/**
 * A file's text as restauth last read or wrote it. The file store needs it
 * to tell an unchanged rewrite (skipped) and a touched-but-unchanged file
 * from an edit, to put its own version back over a hand edit, and to reload
 * memory after a failed commit. Only the first is frequent, and a hash
 * answers it; the others are rare (faults), so a large text is kept
 * deflated: credentials.json at 50,000 users is 23-45 MB as a string and
 * about 2 MB deflated, for a deflate and a hash per rewrite (about the
 * serialization's own cost, once per journal's worth of writes).
 */
export class KeptText {
  private constructor(
    private readonly plain: string | null,
    private readonly deflated: Buffer | null,
    private hash: string | null,
  ) {}

  /**
   * `text`, deflated when `compact` (a file rewritten rarely and read back
   * only after a fault). `bytes`, its UTF-8 encoding when the caller has it
   * (the file as read): deflateSync and the hash would otherwise each encode
   * their own copy (48 MB at 50,000 users), garbage that an idle server keeps.
   * The file as read is hashed at the first comparison, not at the start (0.1 s at 50,000 users):
   * that comes at the first rewrite, which many runs never reach.
   */
  static of(text: string, compact: boolean, bytes?: Buffer): KeptText {
    if (!compact) return new KeptText(text, null, null);
    const encoded = bytes ?? Buffer.from(text, 'utf8');
    const deflated = deflateSync(encoded, { level: 1 });
    return new KeptText(null, deflated, bytes === undefined ? hashOf(encoded) : null);
  }

  /** A compact text already deflated, with its hash (KeptPieces). */
  static deflated(deflated: Buffer, hash: string): KeptText {
    return new KeptText(null, deflated, hash);
  }

  /** Whether `text` is the kept text. */
  equals(text: string): boolean {
    if (this.plain !== null) return this.plain === text;
    return this.digestNow() === hashOf(text);
  }

  /**
   * The text's SHA-256 (base64): what a journal names as the file its lines apply to (journal.ts,
   * JournalBase). Computed off the event loop when not known yet (zlib and WebCrypto's digest run in
   * libuv's thread pool): a file loaded at the start, or written whole, is hashed at the first journaled
   * write after, and 23 MB held the loop about 0.1 s.
   */
  async digest(): Promise<string> {
    if (this.hash !== null) return this.hash;
    const bytes = this.plain !== null ? Buffer.from(this.plain, 'utf8') : await inflateAsync(this.deflated!);
    this.hash = Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('base64');
    return this.hash;
  }

  /** The same digest at once, on the event loop (a reload after a fault, rare; usually already known). */
  digestNow(): string {
    this.hash ??= hashOf(this.plain ?? inflateSync(this.deflated!));
    return this.hash;
  }

  get text(): string {
    return this.plain ?? inflateSync(this.deflated!).toString('utf8');
  }
}

function hashOf(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('base64');
}

/**
 * The KeptText of a compact text written in pieces (a compaction's, credentialsPieces): each piece
 * hashed and handed to zlib, which deflates in its thread pool, as it passes on to the file. Made
 * whole after the write, the deflate and the hash of 23 MB held the event loop for about 0.1 s each.
 */
export class KeptPieces {
  private readonly hash = createHash('sha256');
  private readonly deflate = createDeflate({ level: 1 });
  private readonly deflated: Buffer[] = [];

  constructor() {
    this.deflate.on('data', (chunk: Buffer) => this.deflated.push(chunk));
  }

  /** The pieces as bytes, each kept as it passes. */
  async *through(pieces: Iterable<string>): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
      const bytes = Buffer.from(piece, 'utf8');
      this.hash.update(bytes);
      // zlib behind: wait for it rather than hold the whole text in its queue.
      if (!this.deflate.write(bytes)) await once(this.deflate, 'drain');
      yield bytes;
    }
  }

  /** Once every piece passed: the kept text. */
  async kept(): Promise<KeptText> {
    this.deflate.end();
    await finished(this.deflate);
    return KeptText.deflated(Buffer.concat(this.deflated), this.hash.digest('base64'));
  }

  /** The write failed: zlib's work is dropped. */
  discard(): void {
    this.deflate.destroy();
  }
}
