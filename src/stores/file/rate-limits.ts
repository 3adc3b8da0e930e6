import type { RateLimitCounter } from '../../core/ports/rate-limits.js';
import { selectSmallest } from '../../lib/select-smallest.js';

/** The most windows kept in memory that may be evicted (~150 B each with an IPv6 /64 key: ~30 MB). */
export const MEMORY_COUNTER_MAX_KEYS = 200_000;

/** The most logins' wrong-password windows kept, evicted by their own counts only (~200 B each with a long login: ~40 MB). */
export const MEMORY_COUNTER_MAX_LOGINS = 200_000;

const LOGIN_GUESSES = 'passwordGuesses:login:';
const PASSWORD_SET = 'passwordSet:';

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
 * Wrong passwords (`passwordGuesses:`, an account's and a login's) are never evicted for other
 * windows: churning clients, which cost their maker a request each, must not reset them.
 * - An account's (by id) are never evicted, only expired: churn must not reset an account's, or
 *   guessing is unbounded again. They are bounded by the accounts. So is an account's last password
 *   change (`passwordSet:`), which ends the known clients that signed in before it.
 * - A login's, as typed, known or not (this counter cannot tell them apart, so neither can an
 *   answer), are kept up to `maxLogins`; past it a new login's count takes the place of the lowest
 *   ones, among them the soonest ending, as the evictable windows do. Each count cost its maker a
 *   password hash, so evicting one at a login's limit takes `maxLogins` others counted as high:
 *   that many hashes within the window. An evicted login's count tells nothing of its account:
 *   the login's next answers are a fresh login's whether an account has it or not, and the
 *   account's own count, kept whole, still bounds the guesses at it.
 */
export class MemoryRateLimitCounter implements RateLimitCounter {
  /** Windows that may be evicted past maxKeys: per client, known clients. */
  private readonly windows = new Map<string, Window>();
  /** Wrong passwords of accounts (by id), and their password changes: expired, never evicted. */
  private readonly accounts = new Map<string, Window>();
  /** Wrong passwords of logins, known or not: evicted past maxLogins by their own counts only. */
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
    const window = this.mapOf(key).get(key);
    if (!window || window.resetAt <= at || window.resetAt > at + 2 * windowMs) return null;
    return window;
  }

  /** Where `key` is kept. */
  private mapOf(key: string): Map<string, Window> {
    // An account's password change (passwordSetRecord) is kept as its wrong passwords are: evicting
    // it would bring back the exemptions of the clients that signed in before it.
    if (key.startsWith(PASSWORD_SET)) return this.accounts;
    if (!key.startsWith('passwordGuesses:')) return this.windows;
    return key.startsWith(LOGIN_GUESSES) ? this.logins : this.accounts;
  }

  /** The most windows `map` holds (an account's are never evicted). */
  private capOf(map: Map<string, Window>): number {
    if (map === this.windows) return this.maxKeys;
    return map === this.logins ? this.maxLogins : Infinity;
  }

  /** Room is made before a new key goes in: the window being hit is never the one evicted. */
  private set(key: string, window: Window, at: number): void {
    const map = this.mapOf(key);
    const cap = this.capOf(map);
    if (!map.has(key) && map.size >= cap) this.evict(map, cap, at);
    map.set(key, window);
  }

  private sweep(at: number): void {
    for (const map of [this.windows, this.accounts, this.logins])
      for (const [k, w] of map) if (w.resetAt <= at) map.delete(k);
    this.lastSweep = at;
  }

  /** `map` down to nine tenths of `cap`: expired windows first, then the lowest counts, soonest ending. */
  private evict(map: Map<string, Window>, cap: number, at: number): void {
    this.sweep(at);
    const keep = cap - Math.max(1, Math.floor(cap / 10));
    if (map.size <= keep) return;
    const evicted = map.size - keep;
    const order = [...map];
    selectSmallest(order, evicted, ([, a], [, b]) => a.count - b.count || a.resetAt - b.resetAt);
    for (let i = 0; i < evicted; i++) map.delete(order[i]![0]);
  }
}
