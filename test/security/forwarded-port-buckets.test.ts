import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rateLimitBucket } from '../../src/core/client-bucket.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Behind a proxy that writes the client's address with its source port in
 * X-Forwarded-For (Azure Application Gateway appends `203.0.113.5:51234`; IIS ARR and some load
 * balancers do likewise), `request.ip` is that text, not an IP. rateLimitBucket() keeps any text it
 * cannot parse as an address verbatim, so every new source port (every new connection) is a fresh
 * rate-limit bucket: one client at one address is never limited. The IPv6 form
 * `[2001:db8::1]:51234` likewise escapes the /64 grouping.
 *
 * The port is not part of the client: the bucket is the address (client-bucket.ts). Before, every
 * attempt was answered 400 (a wrong password), none 429.
 */
describe('a forwarded address with a port is one client', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      clockStoppedAt: Date.now(),
      config: {
        trustProxy: 1,
        rateLimits: { signIn: { max: 3, window: 60 } },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      },
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
  });
  after(() => t.close());

  const login = (forwarded: string, username: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/login',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': forwarded },
      payload: { username, password: 'wrong password' },
    });

  it('IPv4 address:port, a new port per attempt', async () => {
    const statuses: number[] = [];
    for (let port = 40001; port <= 40006; port++)
      statuses.push((await login(`203.0.113.5:${port}`, `nobody-${port}`)).statusCode);
    assert.ok(
      statuses.includes(429),
      `one client at 203.0.113.5 made 6 attempts over a limit of 3: ${statuses.join(' ')}`,
    );
  });

  it('[IPv6]:port, a new port per attempt', async () => {
    const statuses: number[] = [];
    for (let port = 40001; port <= 40006; port++)
      statuses.push((await login(`[2001:db8:1:1::${port - 40000}]:${port}`, `someone-${port}`)).statusCode);
    assert.ok(
      statuses.includes(429),
      `one client in 2001:db8:1:1::/64 made 6 attempts over a limit of 3: ${statuses.join(' ')}`,
    );
  });

  it('control: the same client without a port is limited after 3', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) statuses.push((await login('203.0.113.9', `control-${i}`)).statusCode);
    assert.deepEqual(statuses.slice(0, 3), [400, 400, 400]);
    assert.ok(statuses.includes(429), statuses.join(' '));
  });

  it('rateLimitBucket: an address with a port is the address; other text stays itself', () => {
    assert.equal(rateLimitBucket('203.0.113.5:51234'), '203.0.113.5');
    assert.equal(rateLimitBucket('[2001:db8:1:1::7]:443'), '2001:db8:1:1::/64');
    assert.equal(rateLimitBucket('[2001:db8:1:1::7]'), '2001:db8:1:1::/64');
    assert.equal(rateLimitBucket('[::ffff:192.0.2.1]:80'), '192.0.2.1');
    assert.equal(rateLimitBucket('unknown'), 'unknown');
    assert.equal(rateLimitBucket('[not-an-address]:80'), '[not-an-address]:80');
  });
});
