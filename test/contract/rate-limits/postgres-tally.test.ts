/**
 * Client rate limits on PostgreSQL are counted in each instance's memory and written to the shared
 * table once per tick for every key (src/core/rate-limit-tally.ts): exact within one instance, and
 * across instances over by at most the hits each admits in one tick.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { AuthError } from '../../../src/core/errors.js';
import { RateLimiter, type RateLimitFamily, type RateLimitRule } from '../../../src/core/rate-limit.js';
import type { Backend } from '../../../src/stores/index.js';
import { openPostgresBackend } from '../../../src/stores/postgres/backend.js';
import { PostgresRateLimitCounter } from '../../../src/stores/postgres/rate-limits.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../../support/postgres.js';

const quiet = { info: () => {}, warn: () => {} };
const MAX = 3;
const rule: RateLimitRule = { max: MAX, window: 60 };
const rules = Object.fromEntries(
  (['signIn', 'signUp', 'recovery', 'refresh', 'verify', 'anonymous'] as const).map((f) => [f, rule]),
) as Record<RateLimitFamily, RateLimitRule>;
const start = new Date('2030-01-01T00:00:00Z');
let now = start;

async function refused(
  limiter: RateLimiter,
  client: string,
  family: RateLimitFamily = 'refresh',
): Promise<boolean> {
  try {
    await limiter.check(family, client);
    return false;
  } catch (error) {
    if (error instanceof AuthError && error.code === 'over_request_rate_limit') return true;
    throw error;
  }
}

describe('rate limits on PostgreSQL: counted per instance, written once per tick', () => {
  let serverUrl: string;
  let url: string;
  let backends: Backend[];
  let first: RateLimiter;
  let second: RateLimiter;
  let client: pg.Client;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    // Two instances: two backends, each with its own pool, on one database.
    backends = [];
    for (let i = 0; i < 2; i++) {
      backends.push(await openPostgresBackend({ roles: testRoles, store: testStoreConfig(url) }, quiet));
    }
    first = new RateLimiter(backends[0]!.rateLimits, rules, () => now);
    second = new RateLimiter(backends[1]!.rateLimits, rules, () => now);
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  after(async () => {
    await client.end();
    for (const backend of backends) await backend.close();
    await dropDatabase(serverUrl, url);
  });

  const sharedCount = async (key: string): Promise<number | null> => {
    const { rows } = await client.query<{ count: number }>(
      `SELECT count FROM restauth.rate_limits WHERE key = $1`,
      [key],
    );
    return rows[0]?.count ?? null;
  };

  it('refuses exactly past the allowance in one instance, writing its first hit only, not each', async () => {
    for (let i = 0; i < MAX; i++) assert.equal(await refused(first, '10.1.0.1'), false, `hit ${i + 1}`);
    assert.equal(await refused(first, '10.1.0.1'), true);
    assert.equal(await refused(first, '10.1.0.1'), true);
    assert.equal(await sharedCount('refresh:10.1.0.1'), 1, 'the first hit written with its read, no other');
    await first.flush();
    assert.equal(await sharedCount('refresh:10.1.0.1'), MAX + 2, 'all hits in one write, refusals too');
    assert.equal(await refused(first, '10.1.0.1'), true, 'still refused after the write');
  });

  it("learns the other instance's hits at its next write: over by at most one tick's hits", async () => {
    // The second instance counts the client first: its first hit is in the table at once.
    assert.equal(await refused(second, '10.1.0.2'), false);
    // The first opens its window from the table, the second's hit in it.
    for (let i = 0; i < MAX - 1; i++) assert.equal(await refused(first, '10.1.0.2'), false);
    assert.equal(await refused(first, '10.1.0.2'), true, "the second's first hit counted");
    await first.flush();
    // The second instance has not written since: its tick's hits pass (the bound on the overdraw).
    assert.equal(await refused(second, '10.1.0.2'), false);
    await second.flush();
    assert.equal(await sharedCount('refresh:10.1.0.2'), MAX + 2);
    assert.equal(await refused(second, '10.1.0.2'), true, 'refused once it wrote and read the shared count');
    await first.flush(); // nothing pending: no write, the first instance's count stands
    assert.equal(await refused(first, '10.1.0.2'), true);
  });

  it('starts a client from its open window in the table: a restart gives it no fresh allowance', async () => {
    for (let i = 0; i < MAX; i++) assert.equal(await refused(first, '10.1.0.5'), false);
    await first.flush();
    // A new instance (a restart, or one more behind the balancer) on the same table.
    const restarted = new RateLimiter(backends[1]!.rateLimits, rules, () => now);
    try {
      assert.equal(await refused(restarted, '10.1.0.5'), true, 'refused at its first hit');
      // One hit left in the table's window, several first hits at once: exactly one is let in.
      for (let i = 0; i < MAX - 1; i++) await refused(first, '10.1.0.7');
      await first.flush();
      const burst = await Promise.all(Array.from({ length: MAX }, () => refused(restarted, '10.1.0.7')));
      assert.deepEqual(burst, [false, ...Array.from({ length: MAX - 1 }, () => true)]);
      assert.equal(await refused(restarted, '10.1.0.6'), false, 'a client with no window is let in');
      await restarted.flush();
      assert.equal(await sharedCount('refresh:10.1.0.5'), MAX + 1);
    } finally {
      await restarted.close();
    }
  });

  it('counts the other families per request: exact across instances', async () => {
    for (let i = 0; i < MAX; i++) assert.equal(await refused(first, '10.1.0.3', 'signIn'), false);
    assert.equal(await refused(second, '10.1.0.3', 'signIn'), true, 'no write awaited');
    assert.equal(await sharedCount('signIn:10.1.0.3'), MAX + 1);
  });

  it('starts a new window in memory when the clock went back past two windows', async () => {
    now = new Date(start.getTime() + 24 * 3600_000);
    try {
      for (let i = 0; i <= MAX; i++) await refused(first, '10.1.0.4');
      await first.flush();
      assert.equal(await refused(first, '10.1.0.4'), true);
    } finally {
      now = start;
    }
    assert.equal(await refused(first, '10.1.0.4'), false, 'a day-old window holds no client back');
    await first.flush();
    assert.equal(await sharedCount('refresh:10.1.0.4'), 1, 'nor in the shared table');
  });

  it('counts clients past the tally cap per request, exactly, until room is made', async () => {
    // A cap of 2 clients in memory: a third (a botnet's next address) costs a write, not an entry.
    const capped = new RateLimiter(backends[0]!.rateLimits, rules, () => now, undefined, 2);
    try {
      assert.equal(await refused(capped, '10.4.0.1'), false);
      assert.equal(await refused(capped, '10.4.0.2'), false);
      assert.equal(await sharedCount('refresh:10.4.0.1'), 1, 'tallied: its first hit written with its read');
      now = new Date(start.getTime() + 30_000);
      for (let i = 0; i < MAX; i++) assert.equal(await refused(capped, '10.4.0.3'), false);
      assert.equal(await sharedCount('refresh:10.4.0.3'), MAX, 'past the cap: written per request');
      assert.equal(await refused(capped, '10.4.0.3'), true);
      assert.equal(await refused(capped, '10.4.0.2'), false, 'a tallied client still counts in memory');
      // The first two windows end; one tick writes their hits, the next drops them: room again.
      // 10.4.0.3, tallied now, starts from its open window in the table, not from 0.
      now = new Date(start.getTime() + 61_000);
      await capped.flush();
      await capped.flush();
      assert.equal(await refused(capped, '10.4.0.3'), true, 'its shared count still holds it back');
      assert.equal(await refused(capped, '10.4.0.4'), false);
      assert.equal(await refused(capped, '10.4.0.4'), false);
      assert.equal(
        await sharedCount('refresh:10.4.0.4'),
        1,
        'tallied again: the second hit written at the tick',
      );
      await capped.flush();
      assert.equal(await sharedCount('refresh:10.4.0.4'), 2);
      assert.equal(await sharedCount('refresh:10.4.0.3'), MAX + 2);
    } finally {
      now = start;
      await capped.close();
    }
  });

  it('keeps the hits of a failed write for the next one', async () => {
    // The table is missing at the first write (a real failed statement), there at the second.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const counter = new PostgresRateLimitCounter(pool, 'public.tally_later');
      const limiter = new RateLimiter(counter, rules, () => now);
      for (let i = 0; i < 2; i++) await limiter.check('refresh', '10.3.0.1');
      await limiter.flush();
      await client.query('CREATE TABLE public.tally_later (LIKE restauth.rate_limits INCLUDING ALL)');
      await limiter.check('refresh', '10.3.0.1');
      await limiter.flush();
      const { rows } = await client.query<{ count: number }>('SELECT count FROM public.tally_later');
      assert.deepEqual(rows, [{ count: 3 }]);
      assert.equal(await refused(limiter, '10.3.0.1'), true, 'the fourth, past the allowance of 3');
    } finally {
      await pool.end();
    }
  });

  /** A limiter on a pool of its own whose statements are counted (`statements()`). */
  function countedLimiter(): { limiter: RateLimiter; statements: () => number; end: () => Promise<void> } {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    let statements = 0;
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as { query: unknown }).query = (...args: unknown[]) => {
      statements++;
      return query(...args);
    };
    const counter = new PostgresRateLimitCounter(pool, 'restauth.rate_limits');
    const limiter = new RateLimiter(counter, rules, () => now);
    return { limiter, statements: () => statements, end: () => pool.end() };
  }

  it("writes every key's hits in one statement", async () => {
    const { limiter, statements, end } = countedLimiter();
    try {
      // Twenty clients first seen at once: their first hits written, their windows read, in one statement.
      await Promise.all(Array.from({ length: 20 }, (_, i) => limiter.check('refresh', `10.2.0.${i}`)));
      assert.equal(statements(), 1);
      for (let i = 0; i < 20; i++) assert.equal(await sharedCount(`refresh:10.2.0.${i}`), 1);
      for (let i = 0; i < 20; i++) await limiter.check('refresh', `10.2.0.${i}`);
      assert.equal(statements(), 1, 'seen before: nothing read again');
      await limiter.flush();
      assert.equal(statements(), 2);
      for (let i = 0; i < 20; i++) assert.equal(await sharedCount(`refresh:10.2.0.${i}`), 2);
    } finally {
      await end();
    }
  });

  it('costs a client that comes back once a window one statement a visit, not a read and a write', async () => {
    const { limiter, statements, end } = countedLimiter();
    try {
      for (let visit = 0; visit < 3; visit++) {
        now = new Date(start.getTime() + visit * 61_000); // each visit in a window of its own
        const before = statements();
        assert.equal(await refused(limiter, '10.5.0.1'), false);
        await limiter.flush(); // the tick after the visit
        assert.equal(statements() - before, 1, `visit ${visit}`);
        assert.equal(await sharedCount('refresh:10.5.0.1'), 1, `visit ${visit} counted in the table`);
      }
    } finally {
      now = start;
      await end();
    }
  });
});
