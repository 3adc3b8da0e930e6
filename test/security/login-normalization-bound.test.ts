import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredSession } from '../support/json-data-server.js';
import { MAX_LOGIN_LENGTH } from '../../src/core/identity.js';

/**
 * Unicode normalization (NFKC) puts a run of combining marks into canonical order with an insertion
 * sort: quadratic in the run. `"a"` followed by 24,000 U+0301 (class 230) then 24,000 U+0316 (class
 * 220) is 96 KB of UTF-8, under bodyLimit, and one `normalize('NFKC')` of it takes ~1 s (loginKey
 * normalizes twice per round). Some routes normalize a client's login before any length check:
 *
 * - json-data-server `POST /auth/check` `{"username": <that>}` with any valid access token (no rate
 *   limit on the route; any self-registered user has a token): 4.0-5.6 s of event loop per request;
 * - `POST /auth/refresh` with the same username and the caller's refresh token: 3.6 s;
 * - `POST /auth/register` with it as the username (checkUsername normalizes, then checks the length)
 *   or as `email` beside an address login: 3.1-3.2 s, unauthenticated (signUp rate limit: 30 per 5 min).
 *
 * The sign-in path held (storedLoginKey refuses a login over MAX_LOGIN_LENGTH first: 40 ms). Now
 * loginKey and checkUsername normalise nothing longer than four logins (identity.ts).
 * Counted here without a clock: the length of the longest string normalized while a request is served.
 */
const BOUND = 4 * MAX_LOGIN_LENGTH;
const HOSTILE = 'a' + '\u0301'.repeat(1500) + '\u0316'.repeat(1500);

async function longestNormalized(send: () => Promise<unknown>): Promise<number> {
  const original = String.prototype.normalize;
  let longest = 0;

  String.prototype.normalize = function (this: string, form?: string) {
    longest = Math.max(longest, this.length);
    return original.call(this, form);
  };
  try {
    await send();
  } finally {
    String.prototype.normalize = original;
  }
  return longest;
}

describe('a login is not normalized before its length is checked (json-data-server)', () => {
  let t: TestApp;
  let session = { access_token: '', refresh_token: '' };

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
    });
    session = await registeredSession(t, 'alice', 'alice-password');
  });
  after(() => t.close());

  const post = (url: string, payload: Record<string, unknown>, token?: string) => async () => {
    const res = await t.app.inject({
      method: 'POST',
      url,
      payload,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    assert.ok(res.statusCode < 500, res.body);
  };

  it('sign-in: the login is refused by length first', async () => {
    const longest = await longestNormalized(post('/auth/login', { username: HOSTILE, password: 'x' }));
    assert.ok(longest <= BOUND, `normalized ${longest} code units`);
  });

  it('/auth/check with a hostile username and a valid token', async () => {
    const longest = await longestNormalized(post('/auth/check', { username: HOSTILE }, session.access_token));
    assert.ok(longest <= BOUND, `normalized ${longest} code units`);
  });

  it('/auth/refresh with a hostile username', async () => {
    const longest = await longestNormalized(
      post('/auth/refresh', { username: HOSTILE, refresh_token: session.refresh_token }),
    );
    assert.ok(longest <= BOUND, `normalized ${longest} code units`);
  });

  it('/auth/register with a hostile username (unauthenticated)', async () => {
    const longest = await longestNormalized(
      post('/auth/register', { username: HOSTILE, password: 'pw-12345678' }),
    );
    assert.ok(longest <= BOUND, `normalized ${longest} code units`);
  });

  it('/auth/register with an address login and a hostile email (unauthenticated)', async () => {
    const longest = await longestNormalized(
      post('/auth/register', {
        username: 'bob@example.com',
        email: `${HOSTILE}@example.com`,
        password: 'pw-12345678',
      }),
    );
    assert.ok(longest <= BOUND, `normalized ${longest} code units`);
  });
});
