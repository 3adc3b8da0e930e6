import type { PendingHits, SharedRateLimitCounter } from './ports/rate-limits.js';

/** How often an instance writes the hits it counted to the shared table. */
export const TALLY_TICK_MS = 500;

/**
 * The most keys an instance tallies at once. Each client refreshing within a window holds an entry
 * until its window ends; past this many, new clients are counted per request in the shared table,
 * so a botnet rotating addresses costs writes, not memory.
 */
export const TALLY_MAX_KEYS = 100_000;

interface Window {
  windowMs: number;
  resetAt: number;
  /** The shared count as of this instance's last write (its own hits written until then included). */
  shared: number;
  /** This instance's hits not yet written. */
  pending: number;
  /**
   * Until the window's first hits are written and the table's count read back (one statement): they
   * wait, and so do the tick's writes of the key.
   */
  reading: Promise<void> | null;
  /** The shared count before this instance's first hits, as that statement found it: what they are answered by. */
  before: number;
}

/**
 * Client rate limits counted in this instance's memory and written to the shared table in one
 * statement per tick for every key, instead of a transaction per limited request.
 *
 * Within one instance a refusal is exact: its count is the shared count last read plus every hit
 * since. A window this instance opens starts from the table's open window for the key: its first
 * hits are written and the count read back before they are answered (one statement for every key
 * first seen in one turn of the event loop), so a restarted or added instance gives no client a
 * fresh allowance. Writing them then, not at the tick, costs a client that comes back rarely (an
 * hourly refresh) one statement per visit instead of a read and a write. Across N instances each
 * learns the others' later hits at its next write, so together they admit at most N × (the hits
 * each admits in one tick) past the allowance before all refuse.
 */
export class RateLimitTally {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private closed = false;
  /** Windows opened in this turn of the event loop, whose first hits are written together. */
  private unread: Array<{ key: string; window: Window }> = [];
  /** The read of `unread`, once this turn ends. */
  private nextRead: Promise<void> | null = null;
  /** Reads sent and not yet answered. */
  private readonly reading = new Set<Promise<void>>();

  constructor(
    private readonly counter: SharedRateLimitCounter,
    private readonly clock: () => Date,
    private readonly tickMs = TALLY_TICK_MS,
    private readonly maxKeys = TALLY_MAX_KEYS,
  ) {}

  /**
   * Counts one hit on `key`; answers the count in its window as this instance knows it, or null when
   * the tally is full and the caller counts this hit per request in the shared table.
   */
  async hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date } | null> {
    const at = now.getTime();
    let window = this.windows.get(key);
    // A window ending more than two lengths ahead was opened by a clock since set back (as the table reads it).
    const ended = (resetAt: number): boolean => resetAt <= at || resetAt > at + 2 * windowMs;
    if (!window || ended(window.resetAt)) {
      if (!window && this.windows.size >= this.maxKeys) {
        this.schedule(); // the next tick drops the ended windows, making room
        return null;
      }
      window = { windowMs, resetAt: at + windowMs, shared: 0, pending: 0, reading: null, before: 0 };
      window.reading = this.readSoon(key, window);
      this.windows.set(key, window);
    }
    window.pending++;
    if (window.reading) {
      // Hits waiting for one read are answered in their order: the first is the count before it plus one.
      const ordinal = window.pending;
      await window.reading;
      this.schedule();
      return { count: window.before + ordinal, resetAt: new Date(window.resetAt) };
    }
    this.schedule();
    return { count: window.shared + window.pending, resetAt: new Date(window.resetAt) };
  }

  /** Writes `window`'s first hits and reads its shared count back, with every other opened in this turn. */
  private readSoon(key: string, window: Window): Promise<void> {
    this.unread.push({ key, window });
    this.nextRead ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const batch = this.unread;
      this.unread = [];
      this.nextRead = null;
      const read = this.read(batch);
      this.reading.add(read);
      await read.finally(() => this.reading.delete(read));
    });
    return this.nextRead;
  }

  private async read(batch: Array<{ key: string; window: Window }>): Promise<void> {
    // The hits counted so far: those arriving while the statement runs wait, and are written at the tick.
    const sent = batch.map(({ key, window }) => ({ key, window, hits: window.pending }));
    let after = new Map<string, { count: number; resetAt: Date }>();
    try {
      after = await this.counter.addHits(
        sent.map(({ key, window, hits }) => ({
          key,
          windowMs: window.windowMs,
          resetAt: new Date(window.resetAt),
          hits,
        })),
        this.clock(),
      );
    } catch {
      // The database is away: counted from this instance's hits alone, written at a later tick.
    }
    for (const { key, window, hits } of sent) {
      const table = after.get(key);
      if (table) {
        window.pending -= hits;
        window.shared = table.count;
        window.before = table.count - hits;
        window.resetAt = table.resetAt.getTime();
      }
      window.reading = null;
    }
  }

  /**
   * Writes every key's pending hits in one statement and takes the shared counts back. A failed write
   * keeps them pending for the next tick (the request that counted them already had its answer).
   */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.writing) await this.writing;
    await Promise.all([this.nextRead, ...this.reading]);
    const sent = new Map<string, { window: Window; hits: number }>();
    const pending: PendingHits[] = [];
    const at = this.clock().getTime();
    for (const [key, window] of this.windows) {
      // A window whose first hits are being written is written at the next tick: no hit sent twice.
      if (window.reading) this.schedule();
      else if (window.pending > 0) {
        sent.set(key, { window, hits: window.pending });
        pending.push({
          key,
          windowMs: window.windowMs,
          resetAt: new Date(window.resetAt),
          hits: window.pending,
        });
      } else if (window.resetAt <= at) {
        this.windows.delete(key); // ended, nothing to write: memory holds only open windows
      }
    }
    if (pending.length === 0) return;
    this.writing = this.write(sent, pending);
    try {
      await this.writing;
    } finally {
      this.writing = null;
    }
  }

  /** Writes what is pending and ticks no more (the instance closes its pool next). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), this.tickMs).unref();
  }

  private async write(
    sent: Map<string, { window: Window; hits: number }>,
    pending: PendingHits[],
  ): Promise<void> {
    let after: Map<string, { count: number; resetAt: Date }>;
    try {
      after = await this.counter.addHits(pending, this.clock());
    } catch {
      this.schedule(); // the database is away: the hits stay pending for the next tick
      return;
    }
    for (const [key, { window, hits }] of sent) {
      const shared = after.get(key);
      // A window this instance replaced meanwhile (it ended) counts on from its own hits.
      if (!shared || this.windows.get(key) !== window) continue;
      window.pending -= hits;
      window.shared = shared.count;
      window.resetAt = shared.resetAt.getTime();
    }
  }
}
