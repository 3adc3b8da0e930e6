import type { RateLimitCounter } from '../../core/ports/rate-limits.js';
import { selectSmallest } from '../../lib/select-smallest.js';

/** The most windows kept in memory that may be evicted (~150 B each with an IPv6 /64 key: ~30 MB). */
export const MEMORY_COUNTER_MAX_KEYS = 200_000;

/** The most logins' wrong-password windows kept, never evicted (~200 B each with a long login: ~40 MB). */
export const MEMORY_COUNTER_MAX_LOGINS = 200_000;

const LOGIN_GUESSES = 'passwordGuesses:login:';

interface Window {
  count: number;
  resetAt: number;
}

/**
 * Per-instance counters in memory, for a store served by one process (the
 * file store, under its instance lock); expired windows are swept as keys are hit.
 *
 * Memory is bounded: a client is its address or IPv6 /64 (a /44 holds a million), so these keys
 * are capped at `maxKeys`. Past it, the windows with the lowest counts go first, among them the
 * soonest to end (a tenth of the cap at once, picked by a selection, so one pass pays for many
 * inserts). Evicting a client's window gives nothing new to someone able to churn that many keys:
 * they hold that many allowances already; and a count near its limit outlives every lower one, so
 * evicting it takes `maxKeys` keys counted as high. Evicting a known client (`passwordKnown:`,
 * count 1, 30 days) only costs its owner the exemption.
 *
 * Wrong passwords (`passwordGuesses:`, an account's and an unknown login's alike) are never evicted,
 * only expired: churn must not reset an account's, or guessing is unbounded again, and an unknown
 * login's must last as long, or a count that churn resets tells the login has no account. An
 * account's are bounded by the accounts. A login's cost its maker a password hash each, but the
 * hasher's rate times a long window (passwordGuesses.window) is no bound worth the name: at most
 * `maxLogins` are kept so, and a login first counted past that goes with the evictable windows.
 * Known logins and unknown ones alike (this counter cannot tell them apart, so neither can an
 * answer); every account's own count (`passwordGuesses:<id>`) is still kept whole, so guesses at an
 * account stay bounded by its allowance whatever churn evicts. What a flood of unknown logins buys
 * (`maxLogins` hashes, then churn): a login first counted afterwards may have its count evicted, so
 * its 429 before hashing may not come; its account's allowance still holds. The other choices were
 * worse: answering every new login as spent let that flood refuse every user's sign-in for the
 * window, and a count per client needs the client, which a counter is not given.
 */
export class MemoryRateLimitCounter implements RateLimitCounter {
  /** Windows that may be evicted past maxKeys: per client, known clients. */
  private readonly windows = new Map<string, Window>();
  /** Wrong passwords of accounts (by id): expired, never evicted. */
  private readonly accounts = new Map<string, Window>();
  /** Wrong passwords of logins, known or not, the first maxLogins: expired, never evicted. */
  private readonly logins = new Map<string, Window>();
  private lastSweep = 0;
  /** The latest time a hit or peek was counted at: what renew, which is given none, sweeps by. */
  private latest = 0;

  constructor(
    private readonly maxKeys = MEMORY_COUNTER_MAX_KEYS,
    private readonly maxLogins = MEMORY_COUNTER_MAX_LOGINS,
  ) {}

  /** Windows held (a test): [evictable, accounts' wrong passwords, logins' kept]. */
  get sizes(): [number, number, number] {
    return [this.windows.size, this.accounts.size, this.logins.size];
  }

  async hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }> {
    const at = now.getTime();
    this.latest = at;
    // Either way: a clock set back must not stop the sweeps until it catches up.
    if (Math.abs(at - this.lastSweep) > 60_000) this.sweep(at);
    let window = this.current(key, windowMs, at);
    if (!window) {
      window = { count: 0, resetAt: at + windowMs };
      this.set(key, window, at);
    }
    window.count++;
    return { count: window.count, resetAt: new Date(window.resetAt) };
  }

  async peek(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date } | null> {
    this.latest = now.getTime();
    const window = this.current(key, windowMs, this.latest);
    return window && { count: window.count, resetAt: new Date(window.resetAt) };
  }

  async renew(key: string, resetAt: Date): Promise<void> {
    this.set(key, { count: 1, resetAt: resetAt.getTime() }, this.latest);
  }

  /**
   * `key`'s open window. One ending more than two of its lengths from now was opened by a clock
   * since set back: none, or its client would wait out the whole jump (the same bound as PostgreSQL's).
   */
  private current(key: string, windowMs: number, at: number): Window | null {
    const window =
      this.mapOf(key).get(key) ?? (key.startsWith(LOGIN_GUESSES) ? this.windows.get(key) : undefined);
    if (!window || window.resetAt <= at || window.resetAt > at + 2 * windowMs) return null;
    return window;
  }

  /** Where `key` is kept; a login past maxLogins, with the evictable windows (read there too). */
  private mapOf(key: string): Map<string, Window> {
    if (!key.startsWith('passwordGuesses:')) return this.windows;
    if (!key.startsWith(LOGIN_GUESSES)) return this.accounts;
    return this.logins.has(key) || this.logins.size < this.maxLogins ? this.logins : this.windows;
  }

  /** Room is made before a new key goes in: the window being hit is never the one evicted. */
  private set(key: string, window: Window, at: number): void {
    const map = this.mapOf(key);
    // A login's window ended with the evictable ones, now kept with the logins: one window per key.
    if (map === this.logins) this.windows.delete(key);
    if (map === this.windows && !map.has(key) && map.size >= this.maxKeys) this.evict(at);
    map.set(key, window);
  }

  private sweep(at: number): void {
    for (const map of [this.windows, this.accounts, this.logins])
      for (const [k, w] of map) if (w.resetAt <= at) map.delete(k);
    this.lastSweep = at;
  }

  /** Down to nine tenths of maxKeys: expired windows first, then the lowest counts, soonest ending. */
  private evict(at: number): void {
    this.sweep(at);
    const keep = this.maxKeys - Math.max(1, Math.floor(this.maxKeys / 10));
    if (this.windows.size <= keep) return;
    const evicted = this.windows.size - keep;
    const order = [...this.windows];
    selectSmallest(order, evicted, ([, a], [, b]) => a.count - b.count || a.resetAt - b.resetAt);
    for (let i = 0; i < evicted; i++) this.windows.delete(order[i]![0]);
  }
}
