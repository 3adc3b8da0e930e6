import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import { serviceTokenOf } from '../support/service-token.js';
import { countRoundTrips } from '../support/round-trips.js';

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
    t = await createTestApp({
      format: 'restauth',
      // The windows end only when the test advances the clock, however slow its steps.
      clockStoppedAt: Date.now(),
      config: limits(),
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
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
      // The windows end only when the test advances the clock, however slow its steps.
      clockStoppedAt: Date.now(),
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

  it('ignores X-Forwarded-For unless a trusted proxy is configured', async () => {
    t = await createTestApp({
      format: 'restauth',
      // The windows end only when the test advances the clock, however slow its steps.
      clockStoppedAt: Date.now(),
      config: limits(),
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
    for (let i = 0; i < 3; i++) await login(t, { 'x-forwarded-for': `10.0.0.${i}` });
    assert.equal(
      (await login(t, { 'x-forwarded-for': '10.0.0.99' })).statusCode,
      429,
      'a spoofed header opens no new bucket',
    );
  });

  // Behind nginx (proxy_add_x_forwarded_for) or Caddy, the proxy appends the address it saw: the client
  // is the rightmost entry, and everything left of it is whatever the client chose to send.
  for (const [name, proxy] of [
    ['trustProxy: 1', { trustProxy: 1 }],
    ['trustProxy: the proxy address', { trustProxy: ['127.0.0.1'] }],
    [
      'the deprecated trustedProxyHeader',
      { rateLimits: { ...limits().rateLimits, trustedProxyHeader: 'X-Forwarded-For' } },
    ],
  ] as const) {
    it(`behind one proxy (${name}), entries the client writes open no new bucket`, async () => {
      t = await createTestApp({
        format: 'restauth',
        clockStoppedAt: Date.now(),
        config: { ...limits(), ...proxy },
        env: { RESTAUTH_RATE_LIMITS: '' },
      });
      for (let i = 0; i < 3; i++) {
        const res = await login(t, { 'x-forwarded-for': `10.0.0.${i}, 203.0.113.7` });
        assert.equal(res.statusCode, 400, res.body);
      }
      const spoofed = await login(t, { 'x-forwarded-for': '10.0.0.99, 203.0.113.7' });
      assert.equal(spoofed.statusCode, 429, 'the same client, whatever it prefixes');
      assert.equal(
        (await login(t, { 'x-forwarded-for': '198.51.100.1' })).statusCode,
        400,
        'another client, behind the proxy',
      );
    });
  }

  it('trusts X-Forwarded-For only from the listed proxies', async () => {
    t = await createTestApp({
      format: 'restauth',
      // The windows end only when the test advances the clock, however slow its steps.
      clockStoppedAt: Date.now(),
      config: { ...limits(), trustProxy: ['10.1.0.0/16'] },
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
    // A client reaching restauth directly, not through the proxy, writes what it likes: ignored.
    const direct = (entry: string) =>
      t!.app.inject({
        method: 'POST',
        url: '/auth/login',
        remoteAddress: '192.0.2.50',
        headers: { 'x-forwarded-for': entry },
        payload: { username: 'nobody', password: 'wrong password' },
      });
    for (let i = 0; i < 3; i++) assert.equal((await direct(`10.0.0.${i}`)).statusCode, 400);
    assert.equal((await direct('10.0.0.99')).statusCode, 429);
  });

  it('the audit log records the client behind the proxy, not an address the client wrote', async () => {
    t = await createTestApp({ format: 'restauth', config: { ...limits(), trustProxy: 1 } });
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7' },
      payload: { email: 'nobody@example.test', password: 'wrong password' },
    });
    assert.equal(signIn.statusCode, 400, signIn.body);
    const service = await serviceTokenOf(t);
    const audit = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/admin/audit',
      headers: { authorization: `Bearer ${service}` },
    });
    assert.equal(audit.statusCode, 200, audit.body);
    const entries = audit.json<Array<{ ip_address: string; payload: { action: string } }>>();
    const failed = entries.find((entry) => entry.payload.action === 'sign_in_failed');
    assert.equal(failed?.ip_address, '203.0.113.7');
  });

  // Two instances on PGlite share its one session, so one instance's unnamed statement can replace the
  // other's between Parse and Bind ("unnamed prepared statement does not exist"): a real server only.
  it(
    'are shared by every instance on one PostgreSQL database',
    { skip: realServerOnly() ?? false },
    async () => {
      const server = await testPostgres();
      const url = await server.createDatabase();
      const config = { ...limits(), store: testStoreConfig(url) };
      // One stopped clock for both: they share the windows.
      const clockStoppedAt = Date.now();
      const first = await createTestApp({
        format: 'restauth',
        clockStoppedAt,
        config,
        env: { RESTAUTH_RATE_LIMITS: '' },
      });
      const second = await createTestApp({
        format: 'restauth',
        clockStoppedAt,
        config,
        env: { RESTAUTH_RATE_LIMITS: '' },
      });
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
    },
  );
  // Issue 17: the per-client sign-in hit of a password grant is counted in the sign-in's lookup, so
  // the grant costs a round trip less; paths that never reach the lookup count it on their own.
  it('count a password sign-in on PostgreSQL with its lookup (every dialect), and refuse past it alike', async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    t = await createTestApp({
      format: 'restauth',
      // The windows end only when the test advances the clock, however slow its steps.
      clockStoppedAt: Date.now(),
      config: {
        ...limits(),
        store: testStoreConfig(url),
        dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
      },
      env: { RESTAUTH_RATE_LIMITS: '' },
    });
    try {
      const app = t;
      const grant = (from: string, payload: object) =>
        app.app.inject({
          method: 'POST',
          url: '/auth/v1/token?grant_type=password',
          remoteAddress: from,
          payload,
        });
      const right = { email: 'grant@acme.test', password: 'a long passphrase' };
      const signedUp = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: right });
      assert.equal(signedUp.statusCode, 200, signedUp.body);
      assert.equal((await grant('192.0.2.60', right)).statusCode, 200); // every statement prepared once
      await t.services.idle();
      const signIn = await countRoundTrips(url, () => grant('192.0.2.61', right));
      assert.equal(signIn.answer.statusCode, 200, signIn.answer.body);
      // The lookup (with the hit), open_sign_in, the answer's identities: 4 with the hit on its own.
      assert.equal(signIn.count, 3, signIn.statements.join(' | '));
      const wrong = { ...right, password: 'a wrong guess' };
      const refused = await countRoundTrips(url, () => grant('192.0.2.62', wrong));
      assert.equal(refused.answer.statusCode, 400, refused.answer.body);
      // The lookup (with the hit), the wrong password counted, the audit event.
      assert.equal(refused.count, 3, refused.statements.join(' | '));

      // One client's allowance (3), spent by every kind of grant alike: a grant missing its password
      // (counted by the route), a login too long for any account (counted before its dummy hash), a
      // wrong password (counted with the lookup); the next grant is refused, the right password too.
      const from = '192.0.2.63';
      assert.equal((await grant(from, { email: right.email })).statusCode, 400);
      assert.equal((await grant(from, { ...wrong, email: `${'x'.repeat(300)}@acme.test` })).statusCode, 400);
      assert.equal((await grant(from, wrong)).statusCode, 400);
      const spent = await countRoundTrips(url, () => grant(from, right));
      assert.equal(spent.answer.statusCode, 429, spent.answer.body);
      assert.ok(Number(spent.answer.headers['retry-after']) > 1, 'the window of the first grant');
      assert.equal(spent.count, 1, `refused by the lookup, nothing written: ${spent.statements.join(' | ')}`);
      assert.equal((await grant(from, { email: right.email })).statusCode, 429, 'the route counts on');
      t.advance(61_000);
      assert.equal((await grant(from, right)).statusCode, 200, 'a new window');

      // postgrest-auth's sign-in (/refresh_token with a user name and a password), folded alike.
      const legacy = (at: string, password: string) =>
        app.app.inject({
          method: 'POST',
          url: '/pg/refresh_token',
          remoteAddress: at,
          payload: { username: right.email, password },
        });
      assert.equal((await legacy('192.0.2.64', right.password)).statusCode, 200); // prepared once
      await t.services.idle();
      const legacySignIn = await countRoundTrips(url, () => legacy('192.0.2.65', right.password));
      assert.equal(legacySignIn.answer.statusCode, 200, legacySignIn.answer.body);
      // The lookup (with the hit) and open_sign_in: 3 with the hit on its own.
      assert.equal(legacySignIn.count, 2, legacySignIn.statements.join(' | '));
      for (let i = 0; i < 3; i++) assert.equal((await legacy('192.0.2.66', wrong.password)).statusCode, 400);
      assert.equal((await legacy('192.0.2.66', right.password)).statusCode, 429, 'past the allowance');

      // json-data-server's /auth/login: folded alike; a body it refuses is counted as well.
      const jds = (at: string, payload: object) =>
        app.app.inject({ method: 'POST', url: '/auth/login', remoteAddress: at, payload });
      const named = { username: right.email, password: right.password };
      assert.equal((await jds('192.0.2.67', named)).statusCode, 200); // prepared once
      await t.services.idle();
      const jdsSignIn = await countRoundTrips(url, () => jds('192.0.2.68', named));
      assert.equal(jdsSignIn.answer.statusCode, 200, jdsSignIn.answer.body);
      assert.equal(jdsSignIn.count, 2, jdsSignIn.statements.join(' | '));
      assert.equal((await jds('192.0.2.69', { username: right.email })).statusCode, 400, 'no password');
      for (let i = 0; i < 2; i++)
        assert.equal((await jds('192.0.2.69', { ...named, password: wrong.password })).statusCode, 400);
      assert.equal((await jds('192.0.2.69', named)).statusCode, 429, 'past the allowance');
      assert.equal(
        (await jds('192.0.2.69', { username: right.email })).statusCode,
        429,
        'a refused body too',
      );
    } finally {
      await t.close();
      t = undefined;
      await dropDatabase(server.url, url);
    }
  });
});
