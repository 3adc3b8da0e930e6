import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PasswordHasher, type PasswordAlgorithm } from '../../src/core/passwords.js';
import { testPasswordPolicy } from '../support/password-policy.js';

/**
 * Hashing never blocks the event loop (DESIGN, Principles), checked as a
 * property rather than a timing: a timer scheduled right after a hash starts
 * fires before the hash completes. Were the hash computed on the loop, it
 * would be finished before the timer could even be scheduled, and its
 * continuation (a microtask) would run first. Off the loop, its completion
 * is delivered in a later poll phase, and a timer that is due by then (1 ms;
 * a hash takes far longer) runs in the timers phase before it, however busy
 * the machine. How much lag 50 concurrent logins cause is measured by
 * `npm run bench -- event-loop`.
 */
function hasher(algorithm: PasswordAlgorithm): PasswordHasher {
  return new PasswordHasher(testPasswordPolicy({ algorithm, maxLength: 1024 }));
}

async function order(start: () => Promise<unknown>): Promise<string[]> {
  const events: string[] = [];
  const done = start().then(() => events.push('hash'));
  // The next turn of the event loop, not a wait: it comes first unless the hash blocks the loop.
  const turn = new Promise<void>((resolve) =>
    setImmediate(() => {
      events.push('timer');
      resolve();
    }),
  );
  await Promise.all([done, turn]);
  return events;
}

describe('password hashing runs off the event loop', () => {
  for (const algorithm of ['argon2id', 'bcrypt'] as const) {
    it(`${algorithm}: hash and verify let a timer fire before they complete`, async () => {
      const passwords = hasher(algorithm);
      const hash = await passwords.hash('correct horse battery staple');
      assert.deepEqual(await order(() => passwords.hash('another passphrase')), ['timer', 'hash']);
      assert.deepEqual(await order(() => passwords.verify('correct horse battery staple', hash)), [
        'timer',
        'hash',
      ]);
    });
  }
});
