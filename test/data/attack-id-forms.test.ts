import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { UserRecords } from '../../src/http/dialects/json-server-auth-users.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * Ids and foreign keys are compared as strings (json-server's toString), and
 * JavaScript cannot make a string of `{"toString": 1}`: String() throws. Such
 * a value in a body, or stored by one writer as a comment's `postId`, used
 * to answer 500 to every later `_expand=post` list and every
 * `DELETE /posts/1?_dependent=comments`, for everyone; one hand-edited into
 * db.json as an id made every single-record request on its collection 500.
 * Over HTTP on a real app on files. Written as text: an object literal's
 * `toString` key would be a method here, not data.
 */
const NO_STRING = '{"toString": 1}';
const dbJson = `{
  "users": [],
  "posts": [{"id": 1, "title": "first"}, {"id": ${NO_STRING}, "title": "hand-edited"}],
  "comments": [{"id": 1, "postId": 1}],
  "notes": []
}`;

describe('ids and foreign keys of every form', () => {
  let t: TestApp;
  let token = '';
  const send = (method: string, url: string, body?: string): Promise<LightMyRequestResponse> =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: body }),
    });

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 666, comments: 666, notes: 600 } },
      files: { 'db.json': dbJson },
    });
    token = await registeredToken(t, 'mallory', 'mallory-password');
  });
  after(() => t.close());

  it('a hand-edited id without a string form is found by nothing, and every other record still is', async () => {
    const first = await send('GET', '/posts/1');
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.json().title, 'first');
    assert.equal((await send('PATCH', '/posts/1', '{"title": "edited"}')).statusCode, 200);
    // A new record still gets json-server's max + 1 (the max skips what is no number).
    const created = await send('POST', '/posts', '{"title": "new"}');
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().id, 2);
  });

  it('a new id without a string form of its own is refused (400), not a 500', async () => {
    for (const id of [NO_STRING, '{"toString": 1, "valueOf": 1}']) {
      const res = await send('POST', '/posts', `{"id": ${id}, "title": "x"}`);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error, 'validation_failed');
    }
    // An object, an array or true has a string form, but not its own: {"a":1} and {"b":2} would
    // both be stored as "[object Object]", and [] as "", which no URL names.
    for (const id of ['{"a": 1}', '{"b": 2}', '[]', '["x"]', 'true']) {
      const res = await send('POST', '/posts', `{"id": ${id}, "title": "x"}`);
      assert.equal(res.statusCode, 400, `${id}: ${res.body}`);
    }
    // A falsy id still gets a new one, as json-server's insert does.
    for (const id of ['false', 'null', '0']) {
      const res = await send('POST', '/posts', `{"id": ${id}, "title": "falsy"}`);
      assert.equal(res.statusCode, 201, `${id}: ${res.body}`);
      assert.equal(typeof res.json().id, 'number');
    }
    // Under an owner rule, such an owner is not the caller's id: 403, as any other's.
    const owned = await send('POST', '/notes', `{"userId": ${NO_STRING}}`);
    assert.equal(owned.statusCode, 403, owned.body);
  });

  it('a foreign key without a string form, stored by one writer, breaks no one else’s reads or deletes', async () => {
    const planted = await send('POST', '/comments', `{"id": "poison", "postId": ${NO_STRING}}`);
    assert.equal(planted.statusCode, 201, planted.body);
    const expanded = await send('GET', '/comments?_expand=post');
    assert.equal(expanded.statusCode, 200, expanded.body);
    assert.deepEqual(
      (expanded.json() as Array<{ id: unknown; post?: { id: unknown } }>).map((c) => [c.id, c.post?.id]),
      [
        [1, 1],
        ['poison', undefined],
      ],
    );
    const deleted = await send('DELETE', '/posts/1?_dependent=comments');
    assert.equal(deleted.statusCode, 200, deleted.body);
    assert.deepEqual(
      (await send('GET', '/comments')).json().map((c: { id: unknown }) => c.id),
      ['poison'],
    );
  });

  it('a new string id of any characters is answered 201 with a Location that leads back to it', async () => {
    for (const id of ['日本', 'a\r\nX-Injected: 1', 'a/../b?c#d', '50%', 'é']) {
      const res = await send('POST', '/posts', JSON.stringify({ id, title: 'any id' }));
      // Before: the record was stored, then Node refused the header: 500, and a retry 409.
      assert.equal(res.statusCode, 201, `${JSON.stringify(id)}: ${res.body}`);
      assert.equal(res.headers['x-injected'], undefined);
      const location = new URL(String(res.headers.location));
      assert.equal(location.pathname, `/posts/${encodeURIComponent(id)}`);
      const found = await send('GET', location.pathname);
      assert.equal(found.statusCode, 200, `${JSON.stringify(id)}: ${found.body}`);
      assert.equal(found.json().id, id);
    }
  });

  it('json-server-auth’s user lookup skips a user record whose id has no string form', () => {
    const data = JSON.parse(`{"users": [{"id": ${NO_STRING}}, {"id": 2, "name": "bob"}]}`) as Record<
      string,
      unknown
    >;
    const records = new UserRecords(() => data, 'users', 'id');
    assert.deepEqual(records.find('2'), { id: 2, name: 'bob' });
    assert.equal(records.find('[object Object]'), null);
  });
});
