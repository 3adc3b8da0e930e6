import type { Client } from './audit.js';
import { clientBucket } from './client-bucket.js';
import { AuthError } from './errors.js';
import { unobserved, type AuthEvents } from './ports/events.js';
import type { GuessProbe, GuessStanding, KnownClientRecord, RateLimitCounter } from './ports/rate-limits.js';
import type { RateLimitRule } from './rate-limit.js';

/** How long a client that signed an account in is remembered as that account's known client. */
const KNOWN_CLIENT_MS = 30 * 86_400_000;

/** Checks of one account that may wait in one process for their turn; past it: 503 over_capacity. */
const MAX_WAITING = 256;

/** One account's checks in this process: how many run, who waits, and its failures as last counted here. */
interface AccountChecks {
  running: number;
  waiting: Array<() => void>;
  /** Checks admitted or waiting: the entry is dropped when none is left. */
  users: number;
  failures: number;
  resetAt: number;
}

/**
 * Wrong passwords allowed per account, whatever client sends them: the per-client limits count a
 * client by its address, so guesses from many addresses (a botnet, the /64s of an IPv6 /48) at one
 * account were unbounded, and every dialect's login route had its own allowance.
 *
 * Only FAILURES are counted, after the hash said no: a right password never spends anything, so a
 * burst of right-password sign-ins of one account (a shared service account) all succeed. A burst
 * of guesses is bounded instead by admitting no more of an account's checks at once (in this
 * process) than it has wrong passwords left: the others wait, they are not refused.
 *
 * Past the allowance a check is refused (429) before any hashing, the right password too, unless
 * its client signed this account in within KNOWN_CLIENT_MS (NIST 800-63B 5.2.2): the owner's usual
 * device or network goes on signing in during an attack, one check at a time.
 *
 * The key is the account's id, so every spelling of its name or address is one budget; a login no
 * account has is counted by its normalized key (unknownAccount), so the 429 tells nobody whether an
 * account exists.
 */
export class AccountGuessLimit {
  private readonly accounts = new Map<string, AccountChecks>();

  constructor(
    private readonly counter: RateLimitCounter,
    private readonly rule: RateLimitRule,
    private readonly clock: () => Date = () => new Date(),
    /** Hears of each refusal (metrics: the `passwordGuesses` family). */
    private readonly events: Pick<AuthEvents, 'rateLimited'> = unobserved,
  ) {}

  get enabled(): boolean {
    return this.rule.max > 0; // 0 disables the limit
  }

  /**
   * The limit as `client` meets it: its bucket, read once, and whether `store` writes a known client
   * with its session (else the counters remember it). A limit that is off counts, refuses and
   * remembers nothing.
   */
  forClient(client: Client | null, store: { readonly recordsKnownClients?: true }): ClientGuesses {
    return new ClientGuesses(
      this,
      this.enabled ? clientBucket(client) : null,
      store.recordsKnownClients === true,
    );
  }

  /** What a store folding the standing of `login` into its lookup is asked (null: the limit is off). */
  probe(login: string, clientBucket: string | null): GuessProbe | null {
    if (!this.enabled) return null;
    return {
      failuresPrefix: failuresKey(''),
      unknownKey: failuresKey(unknownAccount(login)),
      knownPrefix: clientBucket === null ? null : knownKey(clientBucket, ''),
      windowMs: this.windowMs,
      max: this.rule.max,
      now: this.clock(),
    };
  }

  /** The standing read from the counters, for a store that does not fold it into its lookup. */
  async standing(account: GuessAccount, clientBucket: string | null): Promise<GuessStanding> {
    const now = this.clock();
    const window = await this.counter.peek(failuresKey(account), this.windowMs, now);
    const failures = window?.count ?? 0;
    const known =
      failures >= this.rule.max && clientBucket !== null && typeof account === 'string'
        ? await this.counter.peek(knownKey(clientBucket, account), KNOWN_CLIENT_MS, now)
        : null;
    return { failures, resetAt: window?.resetAt ?? null, knownClient: known !== null };
  }

  /**
   * Remembers a client that signed `userId` in, for a store that does not record it with its writes:
   * for KNOWN_CLIENT_MS from this sign-in (a hit would keep the end of the window its first one opened,
   * and the owner's daily device would be a stranger 30 days after it first signed in).
   */
  async remember(userId: string, clientBucket: string): Promise<void> {
    if (!this.enabled) return;
    const { key, until } = this.knownRecord(userId, clientBucket, this.clock());
    await this.counter.renew(key, until);
  }

  /** What a store writes with a sign-in of `userId` from `clientBucket` at `now` (Store.openSignIn's knownClient). */
  knownRecord(userId: string, clientBucket: string, now: Date): { key: string; until: Date } {
    return { key: knownKey(clientBucket, userId), until: new Date(now.getTime() + KNOWN_CLIENT_MS) };
  }

  /** knownRecord for a user the store is making (a sign-up's session): its id is to follow `prefix`. */
  knownPrefixRecord(clientBucket: string, now: Date): { prefix: string; until: Date } {
    return { prefix: knownKey(clientBucket, ''), until: new Date(now.getTime() + KNOWN_CLIENT_MS) };
  }

  /**
   * Runs `check` (the hash compared) for `account`, once it may: refused (429) past the
   * allowance unless the client is known, queued while as many of the account's checks run as it
   * has wrong passwords left. `check` answers whether the password was right; a wrong one is counted.
   */
  async run(account: GuessAccount, standing: GuessStanding, check: () => Promise<boolean>): Promise<boolean> {
    const key = failuresKey(account);
    const entry = this.entry(key);
    entry.users++;
    try {
      await this.admit(entry, standing);
      let right: boolean;
      try {
        right = await check();
      } catch (error) {
        this.leave(entry); // a check that failed to run (an overloaded hasher) guessed nothing
        throw error;
      }
      // A wrong password is counted before the waiters look again, so they see it.
      if (!right) await this.counted(entry, key).finally(() => this.leave(entry));
      else this.leave(entry);
      return right;
    } finally {
      if (--entry.users === 0) this.accounts.delete(key);
    }
  }

  private get windowMs(): number {
    return this.rule.window * 1000;
  }

  private entry(key: string): AccountChecks {
    let entry = this.accounts.get(key);
    if (!entry) {
      entry = { running: 0, waiting: [], users: 0, failures: 0, resetAt: 0 };
      this.accounts.set(key, entry);
    }
    return entry;
  }

  private async admit(entry: AccountChecks, standing: GuessStanding): Promise<void> {
    for (;;) {
      const now = this.clock().getTime();
      const read = standing.resetAt && standing.resetAt.getTime() > now ? standing.failures : 0;
      const here = entry.resetAt > now ? entry.failures : 0;
      const failures = Math.max(read, here);
      if (failures >= this.rule.max && !standing.knownClient) {
        this.refuse(Math.max(standing.resetAt?.getTime() ?? 0, entry.resetAt), now);
      }
      // As many at once as wrong passwords are left (one past them, for a known client).
      if (entry.running < Math.max(1, this.rule.max - failures)) {
        entry.running++;
        return;
      }
      if (entry.waiting.length >= MAX_WAITING)
        throw new AuthError('over_capacity', undefined, { retryAfter: 1 });
      await new Promise<void>((resolve) => entry.waiting.push(resolve));
    }
  }

  /** Counts a wrong password, in the shared counter and in this process's view of the account. */
  private async counted(entry: AccountChecks, key: string): Promise<void> {
    const { count, resetAt } = await this.counter.hit(key, this.windowMs, this.clock());
    entry.failures = count;
    entry.resetAt = resetAt.getTime();
  }

  /** Ends a check: every waiter looks again (the allowance may have shrunk, or the account be spent). */
  private leave(entry: AccountChecks): void {
    entry.running--;
    for (const wake of entry.waiting.splice(0)) wake();
  }

  private refuse(resetAt: number, now: number): never {
    this.events.rateLimited('passwordGuesses');
    const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000));
    throw new AuthError('over_request_rate_limit', 'Too many requests, retry later', { retryAfter });
  }
}

/** The guess limit as one client meets it (AccountGuessLimit.forClient). */
export class ClientGuesses {
  constructor(
    private readonly limit: AccountGuessLimit,
    /** Null: the limit is off, or no client address (a command run on the host). */
    private readonly bucket: string | null,
    private readonly recordsKnownClients: boolean,
  ) {}

  /** What a store folding the standing of `login` into its lookup is asked (null: the limit is off). */
  probe(login: string): GuessProbe | null {
    return this.limit.probe(login, this.bucket);
  }

  /**
   * Runs a password `check` of `account` under the per-account guess limit (AccountGuessLimit.run),
   * with the standing the store read along with the user, or else read from the counters.
   */
  async run(
    account: GuessAccount,
    standing: GuessStanding | undefined,
    check: () => Promise<boolean>,
  ): Promise<boolean> {
    if (!this.limit.enabled) return check();
    return this.limit.run(account, standing ?? (await this.limit.standing(account, this.bucket)), check);
  }

  /**
   * Opens a session (`open`) of `userId` for the client and remembers the client as the account's known
   * one (AccountGuessLimit): however the account was proven (a password, a mailed link or code, a
   * provider, a recovery), its owner goes on signing in by password from that client during an
   * attack. A store that records known clients writes it with the session (`open`'s record: no round
   * trip more); otherwise the counters remember it once the session opened.
   */
  async opening<T>(
    userId: string,
    now: Date,
    open: (known: KnownClientRecord | null) => Promise<T>,
  ): Promise<T> {
    if (this.bucket === null) return open(null);
    if (this.recordsKnownClients) return open(this.limit.knownRecord(userId, this.bucket, now));
    const opened = await open(null);
    await this.limit.remember(userId, this.bucket);
    return opened;
  }

  /**
   * `opening` for a user the store is making with its session (a sign-up's): the record it writes
   * names the new user's id by its prefix.
   */
  async openingNew<T extends { id: string }>(
    now: Date,
    create: (known: { prefix: string; until: Date } | null) => Promise<T>,
  ): Promise<T> {
    if (this.bucket === null) return create(null);
    if (this.recordsKnownClients) return create(this.limit.knownPrefixRecord(this.bucket, now));
    const created = await create(null);
    await this.limit.remember(created.id, this.bucket);
    return created;
  }
}

/** Whose wrong passwords are counted: a user's id, or a login no account has (unknownAccount). */
export type GuessAccount = string | { readonly unknownLogin: string };

/**
 * What a login no account has is counted as: its check (a dummy hash) runs and is counted as an
 * account's would be, so neither its answers nor their timing tell that no account has it.
 */
export function unknownAccount(login: string): GuessAccount {
  return { unknownLogin: login };
}

/**
 * Apart from the per-client families' keys (`signIn:<address>` ...), and an unknown login's
 * (`passwordGuesses:login:<login>`) apart from every account's: a file-store id is any username, and
 * the id `login:x` is written `=login:x` (so `=x` as `==x`). The file store's counter evicts
 * neither. PostgreSQL's ids (uuid, serial) are written as they are, as its sign-in lookup reads
 * them (`failuresPrefix || id`).
 */
function failuresKey(account: GuessAccount): string {
  if (typeof account !== 'string') return `passwordGuesses:login:${account.unknownLogin}`;
  return `passwordGuesses:${/^(login:|=)/.test(account) ? `=${account}` : account}`;
}

function knownKey(clientBucket: string, userId: string): string {
  return `passwordKnown:${clientBucket}:${userId}`;
}
