import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * json-data-server's POST /auth/logout takes the access token, the refresh token, or both. With both
 * it looked at the access token alone: one expired an hour ago (a tab left open; the client logs out
 * with what it holds) refused the logout, and the refresh token beside it, the long-lived way back
 * in, went on working. Each token sent now ends its session, and the logout stands if one did.
 */
describe('json-data-server logout with both tokens', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING },
      clockStoppedAt: Date.parse('2030-01-01T00:00:00Z'),
    });
  });
  after(() => t.close());

  let users = 0;
  async function register(): Promise<{ access_token: string; refresh_token: string }> {
    const answer = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: `walter${++users}`, password: 'walter long passphrase' },
    });
    assert.equal(answer.statusCode, 200, answer.body);
    return answer.json();
  }
  const logout = (payload: Record<string, string>) =>
    t.app.inject({ method: 'POST', url: '/auth/logout', payload });
  const refresh = (refreshToken: string) =>
    t.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } });

  it('an expired access token beside a live refresh token: the refresh token is dead', async () => {
    const { access_token, refresh_token } = await register();
    t.advance(2 * 3600 * 1000); // past the access token's hour, within the session's life
    const out = await logout({ access_token, refresh_token });
    assert.equal(out.statusCode, 204, out.body);
    assert.notEqual((await refresh(refresh_token)).statusCode, 200, 'the refresh token still renews');
  });

  it('a live access token beside a refresh token that names nothing: its session ends', async () => {
    const { access_token, refresh_token } = await register();
    const out = await logout({ access_token, refresh_token: 'not-a-refresh-token' });
    assert.equal(out.statusCode, 204, out.body);
    assert.notEqual((await refresh(refresh_token)).statusCode, 200, 'the session still renews');
  });

  it('neither token ends a session: the access token says why', async () => {
    const { access_token } = await register();
    t.advance(2 * 3600 * 1000);
    const out = await logout({ access_token, refresh_token: 'not-a-refresh-token' });
    // json-data-server's answer to an expired token, as before.
    assert.equal(out.statusCode, 400, out.body);
    assert.match(out.body, /expired/u);
  });
});
