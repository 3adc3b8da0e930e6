import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAnonymousDataApp } from '../support/anonymous-data-app.js';
import type { TestApp } from '../support/app.js';

/**
 * postgrest-auth never had anonymous users: a schema of its era grants every token of role
 * `authenticated` (or the user's own role) as a member's, with no policy reading is_anonymous.
 * Its bearer re-issue (`POST /pg/refresh_token` with only `Authorization`) gave an anonymous GoTrue
 * sign-in's token a fresh postgrest-auth token all the same. It is now refused (400, as that dialect
 * answers every failure) until the user is made permanent; a member's token is re-issued as before.
 * Its other routes need a user name, a password or an address, which an anonymous user has none of.
 * Over HTTP on a real app on files.
 */
describe("postgrest-auth's bearer re-issue: an anonymous sign-in is no postgrest-auth user", () => {
  let t: TestApp;

  before(async () => {
    t = await createAnonymousDataApp({}, {}, { postgrestAuth: { enabled: true, prefix: '/pg' } });
  });
  after(() => t.close());

  const reissue = (token: string) =>
    t.app.inject({ method: 'POST', url: '/pg/refresh_token', headers: { authorization: `Bearer ${token}` } });

  const signInAnonymously = async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/v1/signup', payload: {} });
    assert.equal(res.statusCode, 200, res.body);
    return res.json<{ access_token: string }>().access_token;
  };

  it("re-issues a registered user's token", async () => {
    const signedUp = await t.app.inject({
      method: 'POST',
      url: '/pg/users',
      payload: { username: 'member1', password: 'member passphrase 1' },
    });
    assert.equal(signedUp.statusCode, 201, signedUp.body);
    const res = await reissue(signedUp.json<{ access_token: string }>().access_token);
    assert.equal(res.statusCode, 200, res.body);
  });

  it("refuses an anonymous user's token: 400, no token", async () => {
    const res = await reissue(await signInAnonymously());
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json<Record<string, unknown>>();
    assert.equal(body.access_token, undefined);
    assert.equal(body.error, 'forbidden');
  });

  it('re-issues it once the anonymous user is made permanent', async () => {
    const token = await signInAnonymously();
    const upgraded = await t.app.inject({
      method: 'PUT',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${token}` },
      payload: { email: 'joined@example.com' },
    });
    assert.equal(upgraded.statusCode, 200, upgraded.body);
    const res = await reissue(token);
    assert.equal(res.statusCode, 200, res.body);
  });
});
