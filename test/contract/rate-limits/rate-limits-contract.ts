/**
 * The behaviour every backend's rate-limit counter must have
 * (src/core/ports/rate-limits.ts): fixed windows per key, counted from the
 * first hit. Each backend's test file runs it: `runRateLimitContract('file', subject)`.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Backend } from '../../../src/stores/index.js';

export interface RateLimitSubject {
  backend: Backend;
  /** Closes the backend and removes its storage. */
  cleanup(): Promise<void>;
}

const WINDOW = 60_000;
const start = new Date('2030-01-01T00:00:00Z');
const at = (ms: number) => new Date(start.getTime() + ms);

export function runRateLimitContract(name: string, makeSubject: () => Promise<RateLimitSubject>): void {
  describe(`rate-limit counter contract: ${name}`, () => {
    let subject: RateLimitSubject;
    beforeEach(async () => {
      subject = await makeSubject();
    });
    afterEach(() => subject.cleanup());

    it('counts the hits of a key in its window, which ends a window after the first hit', async () => {
      const counter = subject.backend.rateLimits;
      for (let i = 1; i <= 3; i++) {
        const hit = await counter.hit('signIn:10.0.0.1', WINDOW, at(i * 1000));
        assert.equal(hit.count, i);
        assert.equal(hit.resetAt.getTime(), at(1000 + WINDOW).getTime());
      }
    });

    it('renews a window to a given end, whatever the one it had (a record of the latest event)', async () => {
      const counter = subject.backend.rateLimits;
      await counter.hit('passwordKnown:10.0.0.9:u', WINDOW, at(0));
      await counter.hit('passwordKnown:10.0.0.9:u', WINDOW, at(1000));
      await counter.renew('passwordKnown:10.0.0.9:u', at(WINDOW + 30_000));
      assert.deepEqual(await counter.peek('passwordKnown:10.0.0.9:u', WINDOW, at(WINDOW + 10_000)), {
        count: 1,
        resetAt: at(WINDOW + 30_000),
      });
      await counter.renew('passwordKnown:10.0.0.10:u', at(WINDOW));
      assert.equal((await counter.peek('passwordKnown:10.0.0.10:u', WINDOW, at(0)))?.count, 1, 'a new key');
    });

    it('starts a new window once the last one ended', async () => {
      const counter = subject.backend.rateLimits;
      await counter.hit('signUp:10.0.0.2', WINDOW, at(0));
      await counter.hit('signUp:10.0.0.2', WINDOW, at(1000));
      const next = await counter.hit('signUp:10.0.0.2', WINDOW, at(WINDOW));
      assert.equal(next.count, 1);
      assert.equal(next.resetAt.getTime(), at(2 * WINDOW).getTime());
    });

    it('starts a new window when the last one ends more than two windows ahead (the clock went back)', async () => {
      const counter = subject.backend.rateLimits;
      const day = 24 * 3600 * 1000;
      for (let i = 0; i < 3; i++) await counter.hit('signIn:10.0.0.6', WINDOW, at(day));
      const after = await counter.hit('signIn:10.0.0.6', WINDOW, at(0));
      assert.equal(after.count, 1);
      assert.equal(after.resetAt.getTime(), at(WINDOW).getTime());
    });

    it('shares a window opened by a clock up to a window ahead (another instance)', async () => {
      const counter = subject.backend.rateLimits;
      await counter.hit('signIn:10.0.0.7', WINDOW, at(WINDOW - 1000));
      const behind = await counter.hit('signIn:10.0.0.7', WINDOW, at(0));
      assert.equal(behind.count, 2);
      assert.equal(behind.resetAt.getTime(), at(2 * WINDOW - 1000).getTime());
    });

    it('counts each key apart', async () => {
      const counter = subject.backend.rateLimits;
      await counter.hit('recovery:10.0.0.3', WINDOW, at(0));
      await counter.hit('recovery:10.0.0.3', WINDOW, at(0));
      assert.equal((await counter.hit('recovery:10.0.0.4', WINDOW, at(0))).count, 1);
      assert.equal((await counter.hit('verify:10.0.0.3', WINDOW, at(0))).count, 1);
      assert.equal((await counter.hit('recovery:10.0.0.3', WINDOW, at(0))).count, 3);
    });

    it('counts racing hits of one key once each', async () => {
      const counter = subject.backend.rateLimits;
      const hits = await Promise.all(
        Array.from({ length: 20 }, () => counter.hit('refresh:10.0.0.5', WINDOW, at(0))),
      );
      assert.deepEqual(
        hits.map((hit) => hit.count).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    });

    it("peeks at a key's open window without counting a hit, and at none once it ended", async () => {
      const counter = subject.backend.rateLimits;
      assert.equal(await counter.peek('passwordGuesses:user-1', WINDOW, at(0)), null);
      await counter.hit('passwordGuesses:user-1', WINDOW, at(0));
      await counter.hit('passwordGuesses:user-1', WINDOW, at(1000));
      for (let i = 0; i < 2; i++) {
        const seen = await counter.peek('passwordGuesses:user-1', WINDOW, at(2000));
        assert.equal(seen?.count, 2);
        assert.equal(seen.resetAt.getTime(), at(WINDOW).getTime());
      }
      assert.equal(await counter.peek('passwordGuesses:user-1', WINDOW, at(WINDOW)), null);
      const day = 24 * 3600 * 1000;
      await counter.hit('passwordGuesses:user-2', WINDOW, at(day));
      assert.equal(await counter.peek('passwordGuesses:user-2', WINDOW, at(0)), null, 'the clock went back');
    });
  });
}
