import type { Client } from './audit.js';
import { clientBucket } from './client-bucket.js';
import { AuthError } from './errors.js';
import { unobserved, type AuthEvents } from './ports/events.js';
import type {
  GuessCount,
  GuessProbe,
  GuessStanding,
  KnownClientRecord,
  RateLimitCounter,
} from './ports/rate-limits.js';
import { isShared, type RateLimitRule } from './rate-limit.js';

/** How long a client that signed an account in is remembered as that account's known client. */
export const KNOWN_CLIENT_MS = 30 * 86_400_000;

/**
 * Where a password change is recorded in the counters (PASSWORD_SET_PREFIX and the user's id), until
 * KNOWN_CLIENT_MS after it: a known client counts only if it signed the account in since.
 */
export const PASSWORD_SET_PREFIX = 'passwordSet:';

/** Checks of one account that may wait in one process for their turn; past it: 503 over_capacity. */
const MAX_WAITING = 256;

/** One login's or account's checks in this process: how many of the login's run, who waits, its failures as last counted here. */
interface AccountChecks {
  running: number;
  waiting: Array<() => void>;
  /** Checks admitted or waiting: the entry is dropped when none is left. */
  users: number;
  failures: number;
  resetAt: number;
}

/**
 * Wrong passwords allowed per login and per account, whatever client sends them: the per-client
 * limits count a client by its address, so guesses from many addresses (a botnet, the /64s of an
 * IPv6 /48) at one account were unbounded, and every dialect's login route had its own allowance.
 *
 * Only FAILURES are counted, after the hash said no: a right password never spends anything, so a
 * burst of right-password sign-ins of one account (a shared service account) all succeed. A burst
 * of guesses is bounded instead by admitting no more of a login's checks at once (in this process)
 * than it has wrong passwords left: the others wait, they are not refused. Checks wait on their
 * login only, never on another login of the account: how long a check waits must not depend on the
 * traffic at the account's other logins, or a burst at one and the time of the other tells that
 * both are one account's. So the account's budget is exact for checks one after another; a burst
 * spread over its logins at once may have each login's allowance checked before the account's
 * count is seen spent (each login up to its own allowance, in one process).
 *
 * Two budgets, so that no answer tells whether a login has an account, nor whose:
 * - the login's, as typed (its normalized key), known or not: past it the login's checks are
 *   refused (429) before any hashing, the right password too;
 * - the account's, by all its logins (its user name and its address): past it a check of its
 *   password is not made, a dummy hash runs instead and the answer is a wrong password's. A 429
 *   there would tell that this login and the spent one are one account's.
 * Either way a client that signed this account in within KNOWN_CLIENT_MS is exempt (NIST 800-63B
 * 5.2.2): the owner's usual device or network goes on signing in during an attack.
 *
 * Only a sign-in made since the password was last set counts (passwordSetRecord): a password
 * replaced (a change, a reset, an administrator's, a takeover retiring it) ends every exemption
 * earned before, or an attacker who signed in with a stolen password, or a squatter before the
 * owner took the address over, would go on guessing the new password past the account's budget for
 * 30 days. Each change writes one record per account (`passwordSet:<id>`, ending KNOWN_CLIENT_MS
 * after it, when every record it outdates has ended too) rather than deleting the account's known
 * clients: their keys start with the client, so finding an account's would scan every key; the
 * record is read only where the exemption is asked for (a budget spent and the client known).
 */
export class AccountGuessLimit {
  private readonly checks = new Map<string, AccountChecks>();

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
      failuresPrefix: accountKey(''),
      loginKey: loginKey(login),
      knownPrefix: clientBucket === null ? null : knownKey(clientBucket, ''),
      passwordSetPrefix: PASSWORD_SET_PREFIX,
      windowMs: this.windowMs,
      max: this.rule.max,
      now: this.clock(),
    };
  }

  /** The standing read from the counters, for a store that does not fold it into its lookup. */
  async standing(subject: GuessSubject, clientBucket: string | null): Promise<GuessStanding> {
    const now = this.clock();
    const count = async (key: string): Promise<GuessCount> => {
      const window = await this.counter.peek(key, this.windowMs, now);
      return { failures: window?.count ?? 0, resetAt: window?.resetAt ?? null };
    };
    const login = await count(loginKey(subject.login));
    const account = subject.userId === null ? null : await count(accountKey(subject.userId));
    const spent = Math.max(login.failures, account?.failures ?? 0) >= this.rule.max;
    const { userId } = subject;
    const known =
      spent && clientBucket !== null && userId !== null
        ? await this.counter.peek(knownKey(clientBucket, userId), KNOWN_CLIENT_MS, now)
        : null;
    // Both end KNOWN_CLIENT_MS after they were written: the sign-in counts if not older than the change.
    const set =
      known && userId !== null ? await this.counter.peek(passwordSetKey(userId), KNOWN_CLIENT_MS, now) : null;
    const knownClient = known !== null && (!set || known.resetAt.getTime() >= set.resetAt.getTime());
    return { ...login, account, knownClient };
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
   * Runs `check` (the hash compared) of `subject`, once it may: refused (429) past the login's
   * allowance unless the client is known; past the account's, `dummy` runs instead and the answer
   * is a wrong password's; queued while as many of the login's checks run as it has wrong
   * passwords left. `check` answers whether the password was right; a wrong one is
   * counted against the login and the account.
   */
  async run(
    subject: GuessSubject,
    standing: GuessStanding,
    check: () => Promise<boolean>,
    dummy: () => Promise<unknown>,
  ): Promise<boolean> {
    const held: Array<{ key: string; entry: AccountChecks }> = [];
    const hold = (key: string) => {
      const entry = this.entry(key);
      entry.users++;
      held.push({ key, entry });
      return { key, entry };
    };
    let admitted: AccountChecks | null = null;
    try {
      const login = hold(loginKey(subject.login));
      if (!(await this.admit(login.entry, standing, standing.knownClient)))
        this.refuse(login.entry, standing);
      admitted = login.entry;
      /** What a wrong password is counted against: the login, and the account when checked. */
      const counted = [login];
      let real = true;
      if (subject.userId !== null) {
        // Decided now, never waited for: a wait on the account's checks would tell, by its time, which
        // logins (a user name and an address) are one account's.
        const account = hold(accountKey(subject.userId));
        const failures = this.failures(account.entry, standing.account, this.clock().getTime());
        real = standing.knownClient || failures < this.rule.max;
        if (real) counted.push(account);
      }
      // A check that fails to run (an overloaded hasher) guessed nothing: not counted.
      const right = real ? await check() : (await dummy(), false);
      // A wrong password is counted before the waiters look again (finally), so they see it.
      if (!right) await this.counted(counted);
      return right;
    } finally {
      if (admitted) this.leave(admitted);
      for (const { key, entry } of held) if (--entry.users === 0) this.checks.delete(key);
    }
  }

  private get windowMs(): number {
    return this.rule.window * 1000;
  }

  private entry(key: string): AccountChecks {
    let entry = this.checks.get(key);
    if (!entry) {
      entry = { running: 0, waiting: [], users: 0, failures: 0, resetAt: 0 };
      this.checks.set(key, entry);
    }
    return entry;
  }

  /** The failures of `entry` as read (`read`) or as counted here since, whichever is more. */
  private failures(entry: AccountChecks, read: GuessCount | null, now: number): number {
    const seen = read?.resetAt && read.resetAt.getTime() > now ? read.failures : 0;
    return Math.max(seen, entry.resetAt > now ? entry.failures : 0);
  }

  /** Admits a check of `entry` when it may run (true), or answers that its allowance is spent (false). */
  private async admit(entry: AccountChecks, read: GuessCount | null, knownClient: boolean): Promise<boolean> {
    for (;;) {
      const failures = this.failures(entry, read, this.clock().getTime());
      if (failures >= this.rule.max && !knownClient) return false;
      // As many at once as wrong passwords are left (one past them, for a known client).
      if (entry.running < Math.max(1, this.rule.max - failures)) {
        entry.running++;
        return true;
      }
      if (entry.waiting.length >= MAX_WAITING)
        throw new AuthError('over_capacity', undefined, { retryAfter: 1 });
      await new Promise<void>((resolve) => entry.waiting.push(resolve));
    }
  }

  /**
   * Counts a wrong password against each of `counted`, in the shared counter (one statement for
   * both where it takes many) and in this process's view of each.
   */
  private async counted(counted: ReadonlyArray<{ key: string; entry: AccountChecks }>): Promise<void> {
    const keys = counted.map(({ key }) => key);
    const after = await countHits(this.counter, keys, this.windowMs, this.clock());
    for (const { key, entry } of counted) {
      const window = after.get(key);
      if (!window) continue;
      entry.failures = window.count;
      entry.resetAt = window.resetAt.getTime();
    }
  }

  /** Ends a check: every waiter looks again (the allowance may have shrunk, or the account be spent). */
  private leave(entry: AccountChecks): void {
    entry.running--;
    for (const wake of entry.waiting.splice(0)) wake();
  }

  private refuse(entry: AccountChecks, read: GuessCount): never {
    this.events.rateLimited('passwordGuesses');
    const now = this.clock().getTime();
    const resetAt = Math.max(read.resetAt?.getTime() ?? 0, entry.resetAt);
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
   * Runs a password `check` of `subject` under the guess limit (AccountGuessLimit.run), with the
   * standing the store read along with the user, or else read from the counters.
   */
  async run(
    subject: GuessSubject,
    standing: GuessStanding | undefined,
    check: () => Promise<boolean>,
    dummy: () => Promise<unknown>,
  ): Promise<boolean> {
    if (!this.limit.enabled) return check();
    const read = standing ?? (await this.limit.standing(subject, this.bucket));
    return this.limit.run(subject, read, check, dummy);
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

/** Whose password is checked: the login as typed (its key), and the account that has it, if any. */
export interface GuessSubject {
  readonly login: string;
  readonly userId: string | null;
}

/**
 * One hit on each of `keys`: in one statement where the counter takes many (PostgreSQL), so a
 * known login (its count and its account's) costs the round trips an unknown one (its own) does.
 */
async function countHits(
  counter: RateLimitCounter,
  keys: string[],
  windowMs: number,
  now: Date,
): Promise<Map<string, { count: number; resetAt: Date }>> {
  if (isShared(counter)) {
    const resetAt = new Date(now.getTime() + windowMs);
    return counter.addHits(
      keys.map((key) => ({ key, windowMs, resetAt, hits: 1 })),
      now,
    );
  }
  const after = new Map<string, { count: number; resetAt: Date }>();
  for (const key of keys) after.set(key, await counter.hit(key, windowMs, now));
  return after;
}

/**
 * Apart from the per-client families' keys (`signIn:<address>` ...), and a login's
 * (`passwordGuesses:login:<login>`) apart from every account's: a file-store id is any username, and
 * the id `login:x` is written `=login:x` (so `=x` as `==x`). The file store's counter evicts
 * neither. PostgreSQL's ids (uuid, serial) are written as they are, as its sign-in lookup reads
 * them (`failuresPrefix || id`).
 */
function accountKey(userId: string): string {
  return `passwordGuesses:${/^(login:|=)/.test(userId) ? `=${userId}` : userId}`;
}

function loginKey(login: string): string {
  return `passwordGuesses:login:${login}`;
}

/**
 * What a store writes in its counters with a change of an account's password at `now` (renewed, as
 * a known client is), its key `prefix` followed by the account's id: every known client of the
 * account written before it stops counting (AccountGuessLimit). Written whether the limit is on or
 * not: it costs a row, and a limit turned back on must not find exemptions the change ended.
 */
export function passwordSetRecord(now: Date): { prefix: string; until: Date } {
  return { prefix: PASSWORD_SET_PREFIX, until: new Date(now.getTime() + KNOWN_CLIENT_MS) };
}

/** Apart from every other family: the rest of the key is the id, whatever it holds. */
function passwordSetKey(userId: string): string {
  return `${PASSWORD_SET_PREFIX}${userId}`;
}

function knownKey(clientBucket: string, userId: string): string {
  return `passwordKnown:${clientBucket}:${userId}`;
}
