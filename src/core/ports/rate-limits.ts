import type { FoldedHit } from '../rate-limit-deferred.js';

/** Fixed-window counters: one instance's memory, or a table shared by every instance. */
export interface RateLimitCounter {
  /** Counts one hit on `key` and returns the count in its current window and when that window ends. */
  hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }>;
  /**
   * `key`'s open window without counting a hit; null when none is open (a window ending more than
   * two of its lengths from now was opened by a clock since set back: none, as `hit` reads it).
   */
  peek(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date } | null>;
  /**
   * Opens `key`'s window anew, ending at `resetAt` (one hit), whatever window it had: a record that
   * lasts from its latest event, where `hit` keeps the end of a window still open.
   */
  renew(key: string, resetAt: Date): Promise<void>;
}

/** Wrong passwords in an open window: how many, and when it ends (null: none open). */
export interface GuessCount {
  failures: number;
  resetAt: Date | null;
}

/**
 * A login's wrong passwords (whoever's it is: what a 429 goes by), its account's by any of its
 * logins (null: no account has it), and whether the client asking signed the account in before.
 */
export interface GuessStanding extends GuessCount {
  account: GuessCount | null;
  knownClient: boolean;
}

/**
 * What a store that reads the standing with the sign-in's lookup (and records a known client with
 * its writes) needs: the counter keys are these prefixes followed by the user's id.
 */
export interface GuessProbe {
  failuresPrefix: string;
  /** The key of the login's own count, read whether an account has it or not. */
  loginKey: string;
  /** Null: no client to look for (a command run on the host). */
  knownPrefix: string | null;
  /**
   * The key of the account's last password change (followed by its id, ending as long after the
   * change as a known client after its sign-in): a known client ending before it signed in before
   * the change and does not count.
   */
  passwordSetPrefix: string;
  windowMs: number;
  max: number;
  now: Date;
  /** A per-client hit to count in the lookup too (DeferredHit); the store answers its window. */
  clientHit?: FoldedHit | null;
}

/** The rate-limit row that remembers a client as an account's known one (key) until `until`. */
export interface KnownClientRecord {
  key: string;
  until: Date;
}

/** One key's hits counted in one instance since its last write, in the window that instance opened. */
export interface PendingHits {
  key: string;
  windowMs: number;
  /** When the window this instance counts in ends. */
  resetAt: Date;
  hits: number;
}

/** A counter shared by several instances that also takes many keys' hits in one write (PostgreSQL). */
export interface SharedRateLimitCounter extends RateLimitCounter {
  /** Adds each key's hits to its shared window, all in one statement; answers each key's window after. */
  addHits(pending: readonly PendingHits[], now: Date): Promise<Map<string, { count: number; resetAt: Date }>>;
  /** Hits counted by another statement on the table (a store's lookup): the table is swept by them too. */
  counted?(hits: number, now: Date): Promise<void>;
}
