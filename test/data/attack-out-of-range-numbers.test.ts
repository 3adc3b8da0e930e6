import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * JSON.parse reads a number literal beyond a double's range (`1e400`, `-1e999`) as ±Infinity, which
 * JSON cannot write: JSON.stringify makes it null. A record POSTed with `"id": 1e400` was answered
 * `201 {"id": null}` with `Location: /notes/Infinity`, was found there until a restart, and after it
 * had the id null, which no route reaches: a record nobody could read, change or delete through the
 * API. User metadata held Infinity in memory and null on disk. Such a number is a 400 now, in a
 * data API body and in any user data (GoTrue's `data`), before anything is stored. Over HTTP on a
 * real app on files; the bodies are sent as text, as a client sends them.
 */
describe('numbers out of range in a body', () => {
  let t: TestApp;
  let token = '';

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: FAST_HASHING, signup: { confirmEmail: false }, data: { rules: { notes: 666 } } },
      files: { 'db.json': JSON.stringify({ users: [], notes: [{ id: 1, text: 'kept' }] }) },
    });
    const signedUp = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'numbers@example.com', password: 'numbers passphrase 1', data: { n: 1 } },
    });
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    token = signedUp.json<{ access_token: string }>().access_token;
  });
  after(() => t.close());

  const send = (method: 'POST' | 'PATCH' | 'PUT', url: string, body: string, auth = false) =>
    t.app.inject({
      method,
      url,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) },
      payload: body,
    });

  it('a data API write holding one is refused, and nothing is stored', async () => {
    for (const [method, url, body] of [
      ['POST', '/notes', '{"id": 1e400, "text": "stuck"}'],
      ['POST', '/notes', '{"text": "stuck", "price": -1e999}'],
      ['POST', '/notes', '{"text": "stuck", "sizes": [1, {"max": 1e309}]}'],
      ['PATCH', '/notes/1', '{"text": "changed", "price": 1e400}'],
      ['PUT', '/notes/1', '{"text": "changed", "price": 1e400}'],
    ] as const) {
      const res = await send(method, url, body);
      assert.equal(res.statusCode, 400, `${method} ${url} ${body}: ${res.body}`);
      assert.equal(res.json<{ error: string }>().error, 'validation_failed');
    }
    const listed = await t.app.inject({ method: 'GET', url: '/notes' });
    assert.deepEqual(listed.json(), [{ id: 1, text: 'kept' }]);
    // A number in range, however large, is stored as it was sent.
    const large = await send('POST', '/notes', '{"text": "large", "price": 1e308}');
    assert.equal(large.statusCode, 201, large.body);
    assert.equal(large.json<{ price: number }>().price, 1e308);
  });

  it("user data holding one is refused, and the user's data is unchanged", async () => {
    const res = await send('PUT', '/auth/v1/user', '{"data": {"n": 1e400}}', true);
    assert.equal(res.statusCode, 400, res.body);
    const signUp = await send(
      'POST',
      '/auth/v1/signup',
      '{"email": "other@example.com", "password": "other passphrase 1", "data": {"n": [-1e999]}}',
    );
    assert.equal(signUp.statusCode, 400, signUp.body);
    const user = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.deepEqual(user.json<{ user_metadata: unknown }>().user_metadata, { n: 1 });
  });
});
