import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/lib/json-depth.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredSession } from '../support/json-data-server.js';

/**
 * JSON bodies, for every dialect: an empty one with a JSON content type is
 * `{}` (what postgrest-auth and json-data-server clients send), and deep or
 * poisoned JSON is refused with a 4xx before any route sees it.
 */

const JSON_TYPE = { 'content-type': 'application/json' };
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('JSON request bodies', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        dialects: { gotrue: {}, jsonDataServer: {}, postgrestAuth: {} },
        signup: { confirmEmail: false },
        data: { rules: { posts: 777 } },
      },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
    });
  });
  after(() => t.close());

  const register = (username: string) => registeredSession(t, username, 'a passphrase');

  it("an empty body is {}: postgrest-auth's bearer refresh answers a new token", async () => {
    const { access_token: token } = await register('bearer');
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh_token',
      headers: { ...JSON_TYPE, authorization: `Bearer ${token}` },
      payload: '',
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(typeof res.json<{ access_token: string }>().access_token, 'string');
  });

  it("an empty body is {}: json-data-server's logout with the access token ends the session", async () => {
    const { access_token: token, refresh_token: refreshToken } = await register('leaver');
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { ...JSON_TYPE, authorization: `Bearer ${token}` },
      payload: '',
    });
    assert.equal(res.statusCode, 204, res.body);
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: refreshToken },
    });
    assert.ok(refresh.statusCode >= 400 && refresh.statusCode < 500, `the session ended: ${refresh.body}`);
  });

  it(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is a 400 on every dialect and the data API`, async () => {
    const deep = nested(10_000);
    const routes = [
      ['/auth/register', `{"username": "deep", "password": "a passphrase", "extra": ${deep}}`],
      ['/auth/users', `{"username": "deep", "password": "a passphrase", "email": ${deep}}`],
      ['/auth/v1/signup', `{"email": "deep@example.test", "password": "a passphrase", "data": ${deep}}`],
      ['/posts', `{"title": ${deep}}`],
    ] as const;
    for (const [url, payload] of routes) {
      const res = await t.app.inject({ method: 'POST', url, headers: JSON_TYPE, payload });
      assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    }
    const health = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { username: 'x' } });
    assert.ok(health.statusCode < 500, 'still serving');
  });

  it(`one limit for every route: user data ${MAX_JSON_DEPTH + 1} levels deep is a 400, so no profile stores deeper than the data API serves`, async () => {
    // The profile lands in the user's db.json record, which the data API serves and holds to the same limit.
    const body = (username: string, depth: number) =>
      `{"email": "${username}@example.test", "password": "a passphrase", "data": {"deep": ${nested(depth - 2)}}}`;
    const deep = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      headers: JSON_TYPE,
      payload: body('deeper', MAX_JSON_DEPTH + 1),
    });
    assert.equal(deep.statusCode, 400, deep.body);
    const register = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: JSON_TYPE,
      payload: `{"username": "deeper", "password": "a passphrase", "extra": ${nested(MAX_JSON_DEPTH)}}`,
    });
    assert.equal(register.statusCode, 400, register.body);
    const deepest = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      headers: JSON_TYPE,
      payload: body('deepest', MAX_JSON_DEPTH),
    });
    assert.equal(deepest.statusCode, 200, deepest.body);
  });

  it('a __proto__ or constructor.prototype key is refused (prototype poisoning), not merged', async () => {
    for (const payload of [
      '{"username": "poison", "password": "a passphrase", "__proto__": {"role": "service_role"}}',
      '{"username": "poison", "password": "a passphrase", "constructor": {"prototype": {"role": "x"}}}',
    ]) {
      for (const url of ['/auth/register', '/auth/users']) {
        const res = await t.app.inject({ method: 'POST', url, headers: JSON_TYPE, payload });
        assert.equal(res.statusCode, 400, `${url} ${payload}: ${res.body}`);
      }
    }
    assert.equal(({} as Record<string, unknown>)['role'], undefined);
  });

  it('a body over bodyLimit is a 413', async () => {
    const payload = JSON.stringify({ username: 'big', password: 'x'.repeat(t.config.bodyLimit) });
    for (const url of ['/auth/register', '/auth/users', '/auth/v1/signup']) {
      const res = await t.app.inject({ method: 'POST', url, headers: JSON_TYPE, payload });
      assert.equal(res.statusCode, 413, `${url}: ${res.body}`);
    }
  });
});

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    assert.equal(nestsDeeperThan(nested(3), 3), false);
    assert.equal(nestsDeeperThan(nested(4), 3), true);
    assert.equal(nestsDeeperThan('{"a": {"b": [1, {"c": 2}]}}', 4), false);
    assert.equal(nestsDeeperThan('{"a": {"b": [1, {"c": 2}]}}', 3), true);
    assert.equal(nestsDeeperThan(`{"s": "${'['.repeat(100)}"}`, 1), false);
    assert.equal(nestsDeeperThan(`{"s": "\\"${'{'.repeat(100)}"}`, 1), false);
    assert.equal(nestsDeeperThan(`{"s": "\\\\", "t": [[1]]}`, 2), true);
  });
});
