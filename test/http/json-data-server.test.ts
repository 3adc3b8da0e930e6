import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createTestApp, type TestApp } from '../support/app.js';
import { durableCredentials, durableData } from '../support/durable.js';

type Json = Record<string, unknown>;

async function post(app: FastifyInstance, url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = response.body;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, text, json: json as Json, headers: response.headers };
}

describe('json-data-server dialect, as its document describes', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ format: 'json-data-server', config: { auth: { passwordSalt: 4 } } });
  });
  after(() => t.close());

  it('registers a user with its extra fields in db.json and its bcrypt hash in credentials.json', async () => {
    const res = await post(t.app, '/auth/register', {
      username: 'alice',
      password: 'clear-pwd',
      any: 'other data',
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(typeof res.json.access_token, 'string');
    assert.equal(typeof res.json.refresh_token, 'string');
    // As a restart reads them: each file with its journal's acknowledged writes.
    const db = await durableData(join(t.dir, 'db.json'));
    assert.deepEqual(db.users, [{ id: 'alice', any: 'other data' }]);
    const credentials = (await durableCredentials(join(t.dir, 'credentials.json'))) as { passwords: Json[] };
    const entry = credentials.passwords.find((p: Json) => p.sub === 'alice')!;
    assert.match(String(entry.password), /^\$2b\$04\$/);
    assert.equal(JSON.stringify(db).includes('clear-pwd'), false);
  });

  it('accepts the user as "id", as the document examples send it', async () => {
    const res = await post(t.app, '/auth/login', { id: 'alice', password: 'clear-pwd' });
    assert.equal(res.status, 200, res.text);
  });

  it('refuses a second registration of the same user with a 400 and a plain-text reason', async () => {
    const res = await post(t.app, '/auth/register', { username: 'alice', password: 'other-pwd' });
    assert.equal(res.status, 400);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    assert.equal(res.text, 'User already registered');
  });

  it('answers a wrong password and an unknown user identically, after the same hashing work', async () => {
    let verifies = 0;
    const original = t.services.hasher.verify.bind(t.services.hasher);
    t.services.hasher.verify = (password, hash) => {
      verifies++;
      return original(password, hash);
    };
    try {
      const wrong = await post(t.app, '/auth/login', { username: 'alice', password: 'not-it' });
      const wrongWork = verifies;
      const unknown = await post(t.app, '/auth/login', { username: 'nobody', password: 'not-it' });
      assert.equal(wrong.status, 400);
      assert.deepEqual([unknown.status, unknown.text], [wrong.status, wrong.text]);
      assert.equal(wrongWork, 1);
      assert.equal(verifies - wrongWork, 1);
    } finally {
      t.services.hasher.verify = original;
    }
  });

  it('checks a token: valid, and not valid for another user', async () => {
    const login = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    const check = await post(t.app, '/auth/check', { id: 'alice', access_token: login.json.access_token });
    assert.deepEqual(check.json, { valid: true });
    const other = await post(t.app, '/auth/check', { id: 'bob', access_token: login.json.access_token });
    assert.equal(other.json.valid, false);
    const garbage = await post(t.app, '/auth/check', { access_token: 'not.a.token' });
    assert.deepEqual(garbage.json, { valid: false, reason: 'jwt malformed' });
  });

  it('refreshes, and a rotated refresh token replayed after the grace period revokes the whole session', async () => {
    const login = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    const first = login.json.refresh_token as string;
    const refreshed = await post(t.app, '/auth/refresh', { id: 'alice', refresh_token: first });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.notEqual(refreshed.json.refresh_token, first);
    t.advance(11_000); // past the 10 s grace period
    const replay = await post(t.app, '/auth/refresh', { id: 'alice', refresh_token: first });
    assert.equal(replay.status, 400);
    assert.match(replay.text, /already used/);
    // The legitimate holder's newer token died with the session, and so did its access token.
    const successor = await post(t.app, '/auth/refresh', {
      id: 'alice',
      refresh_token: refreshed.json.refresh_token,
    });
    assert.equal(successor.status, 400);
    const check = await post(t.app, '/auth/check', { access_token: refreshed.json.access_token });
    assert.equal(check.json.valid, false);
  });

  it('gives two tabs refreshing the same token at once the same successor (grace period)', async () => {
    const login = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    const token = login.json.refresh_token;
    const results = await Promise.all(
      Array.from({ length: 5 }, () => post(t.app, '/auth/refresh', { refresh_token: token })),
    );
    for (const r of results) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(results.map((r) => r.json.refresh_token)).size, 1);
    const next = await post(t.app, '/auth/refresh', { refresh_token: results[0]!.json.refresh_token });
    assert.equal(next.status, 200, next.text);
  });

  it('does not accept a refresh token for another user, and ends that session', async () => {
    await post(t.app, '/auth/register', { username: 'bob', password: 'bob-password' });
    const bob = await post(t.app, '/auth/login', { username: 'bob', password: 'bob-password' });
    const stolen = await post(t.app, '/auth/refresh', { id: 'alice', refresh_token: bob.json.refresh_token });
    assert.equal(stolen.status, 400);
    const again = await post(t.app, '/auth/refresh', { id: 'bob', refresh_token: bob.json.refresh_token });
    assert.equal(again.status, 400);
  });

  it('changes the password: a new session, and every older token fails check and refresh', async () => {
    await post(t.app, '/auth/register', { username: 'carol', password: 'old-password' });
    const before = await post(t.app, '/auth/login', { username: 'carol', password: 'old-password' });
    const changed = await post(t.app, '/auth/password', {
      username: 'carol',
      password: 'old-password',
      newpassword: 'new-password',
    });
    assert.equal(changed.status, 200, changed.text);
    const oldCheck = await post(t.app, '/auth/check', { access_token: before.json.access_token });
    assert.equal(oldCheck.json.valid, false);
    const oldRefresh = await post(t.app, '/auth/refresh', { refresh_token: before.json.refresh_token });
    assert.equal(oldRefresh.status, 400);
    const newCheck = await post(t.app, '/auth/check', { access_token: changed.json.access_token });
    assert.deepEqual(newCheck.json, { valid: true });
    assert.equal(
      (await post(t.app, '/auth/login', { username: 'carol', password: 'old-password' })).status,
      400,
    );
    assert.equal(
      (await post(t.app, '/auth/login', { username: 'carol', password: 'new-password' })).status,
      200,
    );
    const wrongCurrent = await post(t.app, '/auth/password', {
      username: 'carol',
      password: 'nope',
      newpassword: 'x2',
    });
    assert.equal(wrongCurrent.status, 400);
  });

  it('checks and logs out by a Bearer header alone, with no body (as fetch sends it)', async () => {
    const login = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    const bare = (url: string) =>
      t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${login.json.access_token}` } });
    const check = await bare('/auth/check');
    assert.equal(check.statusCode, 200, check.body);
    assert.deepEqual(check.json(), { valid: true });
    const out = await bare('/auth/logout');
    assert.equal(out.statusCode, 204, out.body);
    assert.deepEqual((await bare('/auth/check')).json(), {
      valid: false,
      reason: 'Session not found or signed out',
    });
    // Without the header either, it is still refused naming what is missing.
    const none = await t.app.inject({ method: 'POST', url: '/auth/logout' });
    assert.equal(none.statusCode, 400);
    assert.match(none.body, /Missing access_token or refresh_token/u);
  });

  it('logs out server-side: the refresh token stops working and check reports the access token invalid', async () => {
    const login = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    const out = await post(t.app, '/auth/logout', {}, { authorization: `Bearer ${login.json.access_token}` });
    assert.equal(out.status, 204, out.text);
    const check = await post(t.app, '/auth/check', { access_token: login.json.access_token });
    assert.equal(check.json.valid, false);
    const refresh = await post(t.app, '/auth/refresh', { refresh_token: login.json.refresh_token });
    assert.equal(refresh.status, 400);

    const other = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    const byRefresh = await post(t.app, '/auth/logout', { refresh_token: other.json.refresh_token });
    assert.equal(byRefresh.status, 204);
    assert.equal(
      (await post(t.app, '/auth/check', { access_token: other.json.access_token })).json.valid,
      false,
    );
  });

  it('reports an expired access token with its reason', async () => {
    const login = await post(t.app, '/auth/login', { username: 'alice', password: 'clear-pwd' });
    t.advance(60_000 + 3_000); // jwtExpiresIn 1m plus jwtClockTolerance 2 s
    const check = await post(t.app, '/auth/check', { access_token: login.json.access_token });
    assert.deepEqual(check.json, { valid: false, reason: 'jwt expired' });
  });

  it('registers and logs in unicode user names', async () => {
    const reg = await post(t.app, '/auth/register', { username: 'Zoë-東京', password: 'pässwörd' });
    assert.equal(reg.status, 200, reg.text);
    assert.equal(
      (await post(t.app, '/auth/login', { username: 'Zoë-東京', password: 'pässwörd' })).status,
      200,
    );
  });
});

describe('json-data-server dialect: bad input gets a clear 4xx, never a 500', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ format: 'json-data-server', config: { auth: { passwordSalt: 4 } } });
    await post(t.app, '/auth/register', { username: 'dave', password: 'dave-password' });
  });
  after(() => t.close());

  const cases: Array<[string, string, unknown, number, RegExp]> = [
    ['malformed JSON', '/auth/login', '{"username": "dave",', 400, /JSON/],
    ['a JSON null body', '/auth/login', 'null', 400, /body/],
    ['an array body', '/auth/register', '[1,2]', 400, /body/],
    [
      'a number as password',
      '/auth/login',
      { username: 'dave', password: 12345 },
      400,
      /password must be a string/,
    ],
    [
      'an object as user',
      '/auth/register',
      { username: { $ne: 1 }, password: 'x' },
      400,
      /username must be a string/,
    ],
    ['an empty user name', '/auth/register', { username: '', password: 'something' }, 400, /empty/],
    ['an empty password', '/auth/register', { username: 'erin', password: '' }, 400, /Missing password/],
    ['no password', '/auth/login', { username: 'dave' }, 400, /Missing password/],
    ['no user', '/auth/login', { password: 'x' }, 400, /Missing username/],
    [
      'a 10 kB password at bcrypt',
      '/auth/register',
      { username: 'frank', password: 'p'.repeat(10_000) },
      400,
      /at most/,
    ],
    [
      'a 10 kB password at login',
      '/auth/login',
      { username: 'dave', password: 'p'.repeat(10_000) },
      400,
      /Invalid login/,
    ],
    ['a refresh without token', '/auth/refresh', { id: 'dave' }, 400, /Missing refresh_token/],
    ['a check without token', '/auth/check', {}, 400, /Missing access_token/],
    ['a logout without token', '/auth/logout', {}, 400, /Missing/],
  ];
  for (const [name, url, body, status, message] of cases) {
    it(`${name} → ${status}`, async () => {
      const res = await post(t.app, url, body);
      assert.equal(res.status, status, res.text);
      assert.match(res.text, message);
      assert.doesNotMatch(res.text, /at .*\.(ts|js):\d+/); // no stack trace
    });
  }

  it('a huge body → 413', async () => {
    const res = await post(t.app, '/auth/register', { username: 'huge', password: 'x'.repeat(2_000_000) });
    assert.equal(res.status, 413);
  });

  it('an unsupported content type → 415', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    });
    assert.equal(res.statusCode, 415);
  });
});

describe('json-data-server dialect: configured routes and field names', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: {
        auth: {
          passwordSalt: 4,
          registerRoute: '/signup',
          logoutRoute: '',
          reqUserId: 'email',
          reqUserPassword: 'pwd',
          jwtAccessToken: 'token',
          jwtRefreshToken: 'renew',
          userIdRE: '^[^@]+@[^@]+$',
          userPwdRE: '^.{6,}$',
        },
      },
    });
  });
  after(() => t.close());

  it('serves renamed routes and fields, validates with userIdRE/userPwdRE', async () => {
    const bad = await post(t.app, '/signup', { email: 'not-an-email', pwd: 'longenough' });
    assert.equal(bad.status, 400);
    const short = await post(t.app, '/signup', { email: 'a@b.c', pwd: 'short' });
    assert.equal(short.status, 400);
    const ok = await post(t.app, '/signup', { email: 'a@b.c', pwd: 'longenough' });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(Object.keys(ok.json).sort(), ['renew', 'token']);
    const login = await post(t.app, '/auth/login', { email: 'a@b.c', pwd: 'longenough' });
    assert.equal(login.status, 200, login.text);
    const refresh = await post(t.app, '/auth/refresh', { renew: login.json.renew });
    assert.equal(refresh.status, 200, refresh.text);
  });

  it('disables a route whose path is empty, and the default path is not served', async () => {
    assert.equal((await post(t.app, '/auth/register', { email: 'b@b.c', pwd: 'longenough' })).status, 404);
    assert.equal((await post(t.app, '/auth/logout', {})).status, 404);
  });
});

describe('userIdRE / userPwdRE run on RE2', () => {
  let t: TestApp;
  // Catastrophic on a backtracking engine: forty `a` and a `!` is 2^40 ways to fail before answering.
  const nested = '^(a+)+$';
  const failing = `${'a'.repeat(40)}!`;
  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4, userIdRE: nested, userPwdRE: nested } },
    });
  });
  after(() => t.close());

  it('a sign-up whose name or password the pattern refuses is answered 400, not a held event loop', async () => {
    // Before RE2, each of these requests held the event loop for good (the test never finished).
    const name = await post(t.app, '/auth/register', { username: failing, password: 'aaaa' });
    assert.equal(name.status, 400, name.text);
    const password = await post(t.app, '/auth/register', { username: 'aaaa', password: failing });
    assert.equal(password.status, 400, password.text);
    const ok = await post(t.app, '/auth/register', { username: 'aaaa', password: 'aaaaaa' });
    assert.equal(ok.status, 200, ok.text);
  });
});

describe('userPwdRE with a look-ahead, as json-data-server configs write password rules', () => {
  let t: TestApp;
  before(async () => {
    // RE2 has no look-around: the rule runs on the native engine, having no repeated repetition.
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4, userPwdRE: '^(?=.*\\d)(?=.*[a-z]).{8,}$' } },
    });
  });
  after(() => t.close());

  it('starts, refuses a password the rule refuses and registers one it takes', async () => {
    const noDigit = await post(t.app, '/auth/register', { username: 'lena', password: 'abcdefghij' });
    assert.equal(noDigit.status, 400, noDigit.text);
    const ok = await post(t.app, '/auth/register', { username: 'lena', password: 'abcdefgh1' });
    assert.equal(ok.status, 200, ok.text);
  });
});
