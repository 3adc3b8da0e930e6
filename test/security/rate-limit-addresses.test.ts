import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * Rate limits against a client that varies how it looks: an IPv6 host cycles through the addresses
 * of its own /64 (every host is given one: each request a fresh address), an IPv4 client connects
 * once as itself and once as its IPv4-mapped IPv6 form, a client behind the trusted proxy does the
 * same, and guesses at one address's code come with that address retyped (case, width, spaces).
 * Each must stay one client: the sign-in allowance (3 here) trips on the 4th attempt.
 */

const MAX = 3;

async function startApp(config: Record<string, unknown> = {}): Promise<TestApp> {
  return createTestApp({
    format: 'restauth',
    // The window ends only if a test advances the clock, however slow the steps.
    clockStoppedAt: Date.now(),
    config: {
      passwords: FAST_HASHING,
      rateLimits: { signIn: { max: MAX, window: 60 }, verify: { max: MAX, window: 60 } },
      ...config,
    },
    env: { RESTAUTH_RATE_LIMITS: '' },
  });
}

const signIn = (t: TestApp, remoteAddress: string, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/auth/v1/token?grant_type=password',
    remoteAddress,
    headers,
    payload: { email: 'nobody@acme.test', password: 'wrong password' },
  });

describe('rate limits against a client varying its address', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('counts an IPv6 client by its /64: a fresh address per attempt is the same client', async () => {
    t = await startApp();
    const addresses = ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:DB8:1:2:0:0:0:3'];
    for (const address of addresses) assert.equal((await signIn(t, address)).statusCode, 400, address);
    const limited = await signIn(t, '2001:db8:1:2:ffff:ffff:ffff:ffff');
    assert.equal(limited.statusCode, 429, limited.body);
    assert.equal(limited.json<{ error_code: string }>().error_code, 'over_request_rate_limit');
    assert.equal((await signIn(t, '2001:db8:1:3::1')).statusCode, 400, 'the next /64 is another client');
  });

  it('counts an IPv4 client written as IPv6 (::ffff:a.b.c.d) as itself', async () => {
    t = await startApp();
    for (const address of ['192.0.2.7', '::ffff:192.0.2.7', '::ffff:c000:207']) {
      assert.equal((await signIn(t, address)).statusCode, 400, address);
    }
    assert.equal((await signIn(t, '192.0.2.7')).statusCode, 429);
    assert.equal((await signIn(t, '192.0.2.8')).statusCode, 400, 'its neighbour is another client');
  });

  it('counts a client behind the trusted proxy by its /64 too', async () => {
    t = await startApp({ trustProxy: 1 });
    for (let i = 1; i <= MAX; i++) {
      const res = await signIn(t, '10.0.0.1', { 'x-forwarded-for': `2001:db8:9:9::${i}` });
      assert.equal(res.statusCode, 400, res.body);
    }
    const limited = await signIn(t, '10.0.0.1', { 'x-forwarded-for': '2001:db8:9:9::abcd' });
    assert.equal(limited.statusCode, 429, limited.body);
  });

  it("limits guesses at one address's code whatever way the address is retyped", async () => {
    t = await startApp();
    const guess = (email: string, client: string) =>
      t!.app.inject({
        method: 'POST',
        url: '/auth/v1/verify',
        payload: { type: 'recovery', email, token: '000000' },
        remoteAddress: client,
      });
    // Each from another client: only the per-address limit can trip.
    const spellings = ['target@acme.test', 'TARGET@ACME.TEST', ' Target@Acme.Test '];
    for (const [i, email] of spellings.entries()) {
      const res = await guess(email, `198.51.100.${i}`);
      assert.equal(res.statusCode, 403, `${JSON.stringify(email)}: ${res.body}`);
    }
    // The fullwidth spelling NFKC folds to the same address.
    const limited = await guess('ｔａｒｇｅｔ@acme.test', '198.51.100.99');
    assert.equal(limited.statusCode, 429, limited.body);
  });
});
