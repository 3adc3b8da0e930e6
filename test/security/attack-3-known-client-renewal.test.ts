import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';

/**
 * The per-account guess limit lets the owner's usual client sign in during an attack: a client that
 * signed the account in within the last 30 days. The file store remembered such a client for 30 days
 * from its FIRST sign-in only (the memory counter keeps a window's end when it is hit again): an owner
 * who signed in daily from home was a stranger on day 31, and locked out by anyone spending the
 * account's budget from other addresses. Every sign-in renews the 30 days, on both stores.
 */

const PASSWORD = 'a long passphrase';
const GUESSES = 3;
const DAY_MS = 86_400_000;

async function startApp(store?: object): Promise<TestApp> {
  return createTestApp({
    format: 'restauth',
    clockStoppedAt: Date.now(),
    config: {
      ...(store ? { store } : {}),
      passwords: FAST_HASHING,
      rateLimits: { signIn: { max: 2, window: 60 }, passwordGuesses: { max: GUESSES, window: 900 } },
    },
    env: { RESTAUTH_RATE_LIMITS: '' },
  });
}

let clients = 0;
/** A client of its own: a /64 of one /48 (the per-client sign-in limit never trips). */
const stranger = () => `2001:db8:9:${(++clients).toString(16)}::1`;
const home = '198.51.100.7';

async function signIn(t: TestApp, password: string, from: string): Promise<number> {
  const answer = await t.app.inject({
    method: 'POST',
    url: '/auth/v1/token?grant_type=password',
    remoteAddress: from,
    payload: { email: 'daily@acme.test', password },
  });
  return answer.statusCode;
}

/** The owner signs in from home on day 0 and day 29; the attack starts on day 31. */
async function ownerDuringAttack(t: TestApp): Promise<number> {
  const signUp = await t.app.inject({
    method: 'POST',
    url: '/auth/v1/signup',
    remoteAddress: stranger(),
    payload: { email: 'daily@acme.test', password: PASSWORD },
  });
  assert.equal(signUp.statusCode, 200, signUp.body);
  assert.equal(await signIn(t, PASSWORD, home), 200, 'day 0');
  t.advance(29 * DAY_MS);
  assert.equal(await signIn(t, PASSWORD, home), 200, 'day 29');
  t.advance(2 * DAY_MS);
  for (let i = 0; i < GUESSES; i++) assert.equal(await signIn(t, `guess ${i}`, stranger()), 400);
  assert.equal(await signIn(t, PASSWORD, stranger()), 429, 'the budget is spent');
  return signIn(t, PASSWORD, home);
}

describe('a known client is remembered 30 days from its LAST sign-in', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('file store: the owner who signed in two days ago signs in during the attack', async () => {
    t = await startApp();
    assert.equal(await ownerDuringAttack(t), 200);
  });

  it('PostgreSQL: the same', async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    try {
      t = await startApp(testStoreConfig(url));
      assert.equal(await ownerDuringAttack(t), 200);
    } finally {
      await t?.close();
      t = undefined;
      await dropDatabase(server.url, url);
    }
  });
});
