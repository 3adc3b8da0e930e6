import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';

const limits = (extra: Record<string, unknown> = {}) => ({
  rateLimits: {
    signIn: { max: 3, window: 60 },
    signUp: { max: 2, window: 60 },
    recovery: { max: 1, window: 3600 },
    ...extra,
  },
  passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
});

const login = (t: TestApp, headers: Record<string, string> = {}) =>
  t.app.inject({
    method: 'POST',
    url: '/auth/login',
    headers,
    payload: { username: 'nobody', password: 'wrong password' },
  });

describe('rate limits', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('trip after the allowance with 429, Retry-After and the registry code, then reset with the window', async () => {
    t = await createTestApp({ format: 'restauth', config: limits(), env: { RESTAUTH_RATE_LIMITS: '' } });
    for (let i = 0; i < 3; i++) assert.equal((await login(t)).statusCode, 400);
    const refused = await login(t);
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.body, 'Too many requests, retry later');
    assert.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 60);
    // Families are separate: sign-up still has its own allowance.
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'fresh', password: 'a passphrase' },
    });
    assert.equal(signUp.statusCode, 200, signUp.body);
    t.advance(61_000);
    assert.equal((await login(t)).statusCode, 400, 'a new window starts after the old one ends');
  });

  it('answers postgrest-auth clients with its JSON error shape and 429', async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { ...limits(), dialects: { postgrestAuth: {} } },
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
    const forgot = () =>
      t!.app.inject({ method: 'POST', url: '/auth/forgot_password', payload: { username: 'someone' } });
    assert.equal((await forgot()).statusCode, 200);
    const refused = await forgot();
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error, 'over_request_rate_limit');
    assert.ok(refused.headers['retry-after']);
  });

  it('ignores a forwarded-for header unless a trusted proxy header is configured', async () => {
    t = await createTestApp({ format: 'restauth', config: limits(), env: { RESTAUTH_RATE_LIMITS: '' } });
    for (let i = 0; i < 3; i++) await login(t, { 'x-forwarded-for': `10.0.0.${i}` });
    assert.equal(
      (await login(t, { 'x-forwarded-for': '10.0.0.99' })).statusCode,
      429,
      'a spoofed header opens no new bucket',
    );
    await t.close();
    t = await createTestApp({
      format: 'restauth',
      config: limits({ trustedProxyHeader: 'X-Forwarded-For' }),
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
    for (let i = 0; i < 3; i++) await login(t, { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' });
    assert.equal((await login(t, { 'x-forwarded-for': '203.0.113.7' })).statusCode, 429);
    assert.equal(
      (await login(t, { 'x-forwarded-for': '198.51.100.1' })).statusCode,
      400,
      'another client, behind the proxy',
    );
  });

  it('are shared by every instance on one PostgreSQL database', async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    const config = { ...limits(), store: testStoreConfig(url) };
    const first = await createTestApp({ format: 'restauth', config, env: { RESTAUTH_RATE_LIMITS: '' } });
    const second = await createTestApp({ format: 'restauth', config, env: { RESTAUTH_RATE_LIMITS: '' } });
    try {
      assert.equal((await login(first)).statusCode, 400);
      assert.equal((await login(second)).statusCode, 400);
      assert.equal((await login(first)).statusCode, 400);
      assert.equal((await login(second)).statusCode, 429, 'the fourth attempt, on the other instance');
    } finally {
      await first.close();
      await second.close();
      await dropDatabase(server.url, url);
    }
  });
});
