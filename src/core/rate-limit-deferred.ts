/** The hit a store counts with the statement it sends anyway (the sign-in's lookup): its key and window. */
export interface FoldedHit {
  key: string;
  windowMs: number;
}

/**
 * A request's hit on its family's limit, counted later than the route's start: in the statement the
 * request sends anyway (the password sign-in's lookup, one round trip instead of two), or, on a path
 * that never reaches it, at once (`count`). Counted once whichever way; past the allowance the
 * request is refused with the same 429 and Retry-After the route's own check answers.
 */
export class DeferredHit {
  private counted = false;

  constructor(
    private readonly key: string,
    private readonly windowMs: number,
    /** Counts the hit on its own (RateLimiter.check's path): refuses past the allowance. */
    private readonly countNow: () => Promise<void>,
    /** Refuses a count past the allowance (RateLimiter's 429), and hears of a count made elsewhere. */
    private readonly judge: (count: number, resetAt: Date) => Promise<void>,
  ) {}

  /** The hit, for a store to count with its statement, which then answers `settle`; null once counted. */
  take(): FoldedHit | null {
    if (this.counted) return null;
    this.counted = true;
    return { key: this.key, windowMs: this.windowMs };
  }

  /**
   * The count the store's statement answered for the taken hit: refused past the allowance.
   * Undefined: the store did not count it (it folds no hit), so it is counted now.
   */
  async settle(window: { count: number; resetAt: Date } | undefined): Promise<void> {
    if (window) await this.judge(window.count, window.resetAt);
    else await this.countNow();
  }

  /** Counts the hit now unless it was (a path that reaches no folding statement): refused past the allowance. */
  async count(): Promise<void> {
    if (this.counted) return;
    this.counted = true;
    await this.countNow();
  }
}
