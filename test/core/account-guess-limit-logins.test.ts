import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AccountGuessLimit, type GuessSubject } from '../../src/core/account-guess-limit.js';
import type { GuessStanding } from '../../src/core/ports/rate-limits.js';
import { MemoryRateLimitCounter } from '../../src/stores/file/rate-limits.js';

const GUESSES = { max: 2, window: 900 };
const NOW = new Date('2026-01-01T00:00:00Z');

/**
 * A check of one login must not wait on the checks of another login of its account: a burst at the
 * user name would slow a check of the address, and its time would tell the two are one account's,
 * as an unknown login (no account to wait on) is never slowed.
 */
describe("the guess limit: a login's checks wait on that login only", () => {
  it("a check of an account's other login starts while a burst at its user name runs", async () => {
    const limit = new AccountGuessLimit(new MemoryRateLimitCounter(), GUESSES, () => NOW);
    const byName: GuessSubject = { login: 'bob', userId: 'user-1' };
    const byAddress: GuessSubject = { login: 'bob@acme.test', userId: 'user-1' };
    const unknown: GuessSubject = { login: 'eve@acme.test', userId: null };
    let release!: () => void;
    const hashing = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    /** Nothing counted yet, as the first checks of the burst read it. */
    const fresh = (subject: GuessSubject): GuessStanding => ({
      failures: 0,
      resetAt: null,
      account: subject.userId ? { failures: 0, resetAt: null } : null,
      knownClient: false,
    });
    /** A wrong password whose hash ends once the burst is released. */
    const guess = (subject: GuessSubject, standing = fresh(subject)) =>
      limit.run(
        subject,
        standing,
        async () => {
          started.push(subject.login);
          await hashing;
          return false;
        },
        async () => {
          started.push(`${subject.login} (dummy)`);
          await hashing;
        },
      );
    // As many guesses at the user name as the account has left: every one of them running.
    const burst = Array.from({ length: GUESSES.max }, () => guess(byName));
    const other = guess(byAddress);
    const stranger = guess(unknown);
    for (let turn = 0; turn < 3; turn++) await nextTurn();
    assert.deepEqual(started, ['bob', 'bob', 'bob@acme.test', 'eve@acme.test'], 'started before any ended');
    release();
    assert.deepEqual(await Promise.all([...burst, other, stranger]), [false, false, false, false]);
    // The account is spent now: its next check, by either login, is a dummy, as no answer says.
    started.length = 0;
    assert.equal(await guess(byAddress, await limit.standing(byAddress, null)), false);
    assert.deepEqual(started, ['bob@acme.test (dummy)']);
  });
});
