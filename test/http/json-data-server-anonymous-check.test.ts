import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAnonymousDataApp } from '../support/anonymous-data-app.js';
import type { TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * json-data-server's `POST /auth/check` is how its clients gate members: `{"valid": true}` meant a
 * registered user signed in (the old server had no other kind). With anonymous sign-ins on, one
 * `POST /auth/v1/signup {}` gave a token it called valid, so an app admitting on that answer admitted
 * anyone. An anonymous user's token now answers `{"valid": false, "reason": "anonymous user"}`, as
 * the data API already treats it as no member; the store decides, so this dialect's own refresh of
 * the session (whose token lacks is_anonymous) answers the same, and a user made permanent is valid
 * at once. Over HTTP on a real app on files.
 */
describe("json-data-server's /auth/check: an anonymous sign-in is no registered user", () => {
  let t: TestApp;

  before(async () => {
    t = await createAnonymousDataApp({}, { users: [] }, { jsonDataServer: {} });
  });
  after(() => t.close());

  const check = async (token: string) => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/check', payload: { access_token: token } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ valid: boolean; reason?: string }>();
  };

  const signInAnonymously = async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ access_token: string; refresh_token: string }>();
  };

  it("answers valid for a registered user's token", async () => {
    assert.deepEqual(await check(await registeredToken(t, 'member', 'member passphrase 1')), { valid: true });
  });

  it("answers not valid for an anonymous user's token, and for this dialect's refresh of it", async () => {
    const anonymous = await signInAnonymously();
    assert.deepEqual(await check(anonymous.access_token), { valid: false, reason: 'anonymous user' });
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: anonymous.refresh_token },
    });
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    const token = refreshed.json<{ access_token: string }>().access_token;
    assert.deepEqual(await check(token), { valid: false, reason: 'anonymous user' });
  });

  it('answers valid once the anonymous user is made permanent', async () => {
    const { access_token: token } = await signInAnonymously();
    const upgraded = await t.app.inject({
      method: 'PUT',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${token}` },
      payload: { email: 'joined@example.com' },
    });
    assert.equal(upgraded.statusCode, 200, upgraded.body);
    assert.deepEqual(await check(token), { valid: true });
  });
});
