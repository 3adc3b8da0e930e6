import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AccountGuessLimit,
  passwordSetRecord,
  type GuessSubject,
} from '../../src/core/account-guess-limit.js';
import { MemoryRateLimitCounter } from '../../src/stores/file/rate-limits.js';

// A small cap, so churning past it takes a few thousand keys; the clock is fixed (no window ends).
const CAP = 100;
const CHURN = 5_000;
const WINDOW = 300_000;
const GUESSES = { max: 3, window: 900 };
const NOW = new Date('2026-01-01T00:00:00Z');
const clock = () => NOW;

/** An account's login (its id typed as its user name), and a login no account has. */
const account = (id: string): GuessSubject => ({ login: id, userId: id });
const unknownAccount = (login: string): GuessSubject => ({ login, userId: null });

/** A wrong password for `subject`: counted, or refused (429) past the allowance. */
async function wrongPassword(
  limit: AccountGuessLimit,
  subject: GuessSubject,
): Promise<'counted' | 'refused'> {
  try {
    const standing = await limit.standing(subject, null);
    await limit.run(
      subject,
      standing,
      async () => false,
      async () => {},
    );
    return 'counted';
  } catch (error) {
    if ((error as { code?: string }).code !== 'over_request_rate_limit') throw error;
    return 'refused';
  }
}

/** Up to the allowance, then refused: the account's count is spent. */
async function spend(limit: AccountGuessLimit, subject: GuessSubject): Promise<void> {
  for (let i = 0; i < GUESSES.max; i++) assert.equal(await wrongPassword(limit, subject), 'counted');
  assert.equal(await wrongPassword(limit, subject), 'refused');
}

/** Every window the counter holds, of any kind. */
const held = (counter: MemoryRateLimitCounter) => counter.sizes.reduce((sum, size) => sum + size, 0);

describe('file store rate-limit counters: bounded memory', () => {
  it('keeps at most its cap of per-client windows however many clients churn', async () => {
    const counter = new MemoryRateLimitCounter(CAP);
    const limit = new AccountGuessLimit(counter, GUESSES, clock);
    let most = 0;
    for (let i = 0; i < CHURN; i++) {
      await counter.hit(`signIn:2001:db8:${i.toString(16)}::/64`, WINDOW, NOW);
      await wrongPassword(limit, unknownAccount(`nobody-${i}`));
      most = Math.max(most, counter.sizes[0]);
    }
    assert.ok(most <= CAP, `held ${most} windows, past the cap of ${CAP}`);
  });

  it("never lets churn reset an account's wrong passwords (a username login:x's too)", async () => {
    const counter = new MemoryRateLimitCounter(CAP);
    const limit = new AccountGuessLimit(counter, GUESSES, clock);
    // A file-store id is its username: `login:alice` must not read as the unknown login `alice`.
    for (const id of ['user-1', 'login:alice', '=x']) await spend(limit, account(id));
    // An unknown login's spent count lasts as an account's: one churn resets and not the other would
    // tell which logins have no account.
    await spend(limit, unknownAccount('nobody@example.com'));
    for (let i = 0; i < CHURN; i++) {
      // Clients counted past the spent counts: were those evictable, these would outlive them.
      for (let hit = 0; hit <= GUESSES.max; hit++)
        await counter.hit(`signIn:198.51.${i >> 8}.${i & 255}`, WINDOW, NOW);
      await wrongPassword(limit, unknownAccount(i % 2 ? 'alice' : `nobody-${i}`));
      await counter.renew(`passwordKnown:198.51.0.${i & 255}:user-${i}`, new Date(NOW.getTime() + WINDOW));
    }
    for (const id of ['user-1', 'login:alice', '=x']) {
      assert.equal(await wrongPassword(limit, account(id)), 'refused', `${id}'s count was reset`);
      assert.equal((await limit.standing(account(id), null)).account?.failures, GUESSES.max);
    }
    const unknown = unknownAccount('nobody@example.com');
    assert.equal(await wrongPassword(limit, unknown), 'refused', "the unknown login's count was reset");
  });

  it('evicts the lowest counts first: a client at its limit outlives the churn of new ones', async () => {
    const counter = new MemoryRateLimitCounter(CAP);
    for (let i = 0; i < 30; i++) await counter.hit('signIn:203.0.113.7', WINDOW, NOW);
    for (let i = 0; i < CHURN; i++) await counter.hit(`signIn:198.51.${i >> 8}.${i & 255}`, WINDOW, NOW);
    assert.equal((await counter.peek('signIn:203.0.113.7', WINDOW, NOW))?.count, 30);
  });

  it('evicts the lowest counts, and among equal ones the soonest ending: the newest are kept', async () => {
    const counter = new MemoryRateLimitCounter(CAP);
    const at = (i: number) => new Date(NOW.getTime() + i * 1000);
    // Opened one a second: key i's window ends i seconds after key 0's.
    for (let i = 0; i < CAP; i++) await counter.hit(`signIn:10.0.0.${i}`, WINDOW, at(i));
    for (let i = 0; i < CAP; i += 2) await counter.hit(`signIn:10.0.0.${i}`, WINDOW, at(CAP)); // even ones at 2
    await counter.hit('signIn:10.0.1.0', WINDOW, at(CAP)); // one past the cap: a tenth go
    const left = async (i: number) => (await counter.peek(`signIn:10.0.0.${i}`, WINDOW, at(CAP))) !== null;
    for (let i = 0; i < CAP; i++) {
      // The odd ones (count 1) go, the oldest first: 1, 3, ... 19; every even one (count 2) stays.
      const evicted = i % 2 === 1 && i < 2 * (CAP / 10);
      assert.equal(await left(i), !evicted, `signIn:10.0.0.${i}`);
    }
    assert.equal((await counter.peek('signIn:10.0.1.0', WINDOW, at(CAP)))?.count, 1, 'the newest kept');
    assert.equal(counter.sizes[0], CAP - CAP / 10 + 1);
  });

  it("keeps an account's password change through churn: a client known before it stays a stranger", async () => {
    const counter = new MemoryRateLimitCounter(CAP);
    const limit = new AccountGuessLimit(counter, GUESSES, clock);
    const home = '203.0.113.9';
    const before = limit.knownRecord('user-1', home, new Date(NOW.getTime() - 60_000));
    await counter.renew(before.key, before.until);
    const set = passwordSetRecord(NOW);
    const setKey = `${set.prefix}user-1`;
    await counter.renew(setKey, set.until);
    await spend(limit, account('user-1'));
    assert.equal((await limit.standing(account('user-1'), home)).knownClient, false, 'signed in before');
    for (let i = 0; i < CHURN; i++)
      await counter.renew(`passwordKnown:198.51.${i >> 8}.${i & 255}:user-${i}`, set.until);
    assert.notEqual(await counter.peek(setKey, 30 * 86_400_000, NOW), null, 'the change was evicted');
    // A sign-in since the change (at its very time too) makes the client known again.
    await limit.remember('user-1', home);
    assert.equal((await limit.standing(account('user-1'), home)).knownClient, true, 'signed in since');
  });

  it("keeps at most its cap of logins' wrong passwords however many unknown logins are tried", async () => {
    const counter = new MemoryRateLimitCounter(CAP, CAP);
    const limit = new AccountGuessLimit(counter, GUESSES, clock);
    let most = 0;
    for (let i = 0; i < CHURN; i++) {
      await wrongPassword(limit, unknownAccount(`nobody-${i}`));
      most = Math.max(most, held(counter));
    }
    assert.ok(most <= 2 * CAP, `held ${most} logins' windows for a cap of ${CAP} (and ${CAP} evictable)`);
  });

  it("past the logins' cap: kept counts stay, a new login is still counted, an account's allowance holds", async () => {
    const counter = new MemoryRateLimitCounter(CAP, CAP);
    const limit = new AccountGuessLimit(counter, GUESSES, clock);
    await spend(limit, unknownAccount('nobody@example.com'));
    await spend(limit, account('user-1'));
    for (let i = 0; i < CHURN; i++) await wrongPassword(limit, unknownAccount(`nobody-${i}`));
    assert.ok(held(counter) <= 2 * CAP + 1, `held ${held(counter)} windows`);
    // Counted before the cap filled: kept whole.
    assert.equal(await wrongPassword(limit, unknownAccount('nobody@example.com')), 'refused');
    assert.equal(await wrongPassword(limit, account('user-1')), 'refused');
    // A login first seen past the cap is counted as before, in the place of a lower count.
    await spend(limit, unknownAccount('late@example.com'));
    // An account reached by a login past the cap: its own count is kept whole, whatever the login's.
    const late = { login: 'late-alias-of-user-2', userId: 'user-2' };
    for (let i = 0; i < GUESSES.max; i++) await wrongPassword(limit, late);
    assert.equal((await limit.standing(account('user-2'), null)).account?.failures, GUESSES.max);
  });

  it("past the logins' cap a new login's count outlives churning clients and lower logins", async () => {
    const counter = new MemoryRateLimitCounter(CAP, CAP);
    const limit = new AccountGuessLimit(counter, GUESSES, clock);
    for (let i = 0; i < CAP; i++) await wrongPassword(limit, unknownAccount(`filler-${i}`));
    // Counted once the logins' cap is full: one below its limit, and one spent.
    const target = unknownAccount('target@example.com');
    for (let i = 1; i < GUESSES.max; i++) assert.equal(await wrongPassword(limit, target), 'counted');
    await spend(limit, unknownAccount('spent@example.com'));
    for (let i = 0; i < CHURN; i++) {
      // Clients counted past every login's count: cheap to make, each a request.
      for (let hit = 0; hit <= GUESSES.max; hit++)
        await counter.hit(`signIn:2001:db8:${i.toString(16)}::/64`, WINDOW, NOW);
      // Logins guessed once each: a hash each, counted lower than the target.
      await wrongPassword(limit, unknownAccount(`churn-${i}`));
    }
    assert.ok(held(counter) <= 2 * CAP, `held ${held(counter)} windows`);
    const count = async (login: string) => (await limit.standing(unknownAccount(login), null)).failures;
    assert.equal(await count('target@example.com'), GUESSES.max - 1, "the target's count was evicted");
    assert.equal(await wrongPassword(limit, target), 'counted', 'its last guess');
    assert.equal(await wrongPassword(limit, target), 'refused');
    assert.equal(await wrongPassword(limit, unknownAccount('spent@example.com')), 'refused');
  });
});
