import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * A record links to another by foreign key (`postId`), and nothing checked whom the other record
 * belonged to. Under owner-only posts (600), bob could not read alice's post 1, yet `POST /comments
 * {"postId": 1}` (or `POST /posts/1/comments`) hung his comment under it, and a comment naming post
 * 2 waited for the post alice would make next (ids count up). Either way alice's
 * `DELETE /posts/1?_dependent=comments` was then 403 ("belongs to another user"): any user could
 * block the cascade delete of anyone's records. Now a write that sets a foreign key into a
 * collection the writer reads only their own records of must name one of them (403 otherwise, the
 * same for another's record and a missing one); into a collection the writer may read whole it is
 * free, as in json-server. Over HTTP on a real app on files.
 */
describe('a foreign key names only a parent its writer may read', () => {
  let t: TestApp;
  let alice = '';
  let bob = '';

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 600, comments: 600, tags: 640 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [], comments: [], tags: [{ id: 1 }] }) },
    });
    alice = await registeredToken(t, 'alice', 'alice-password');
    bob = await registeredToken(t, 'bob', 'bob-password');
  });
  after(() => t.close());

  const send = (
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    url: string,
    token: string,
    body?: object,
  ) =>
    t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body ? { payload: body } : {}),
    });

  it("refuses a child under another user's record, or under one not made yet", async () => {
    assert.equal((await send('POST', '/posts', alice, { title: 'private' })).statusCode, 201);
    for (const [url, body] of [
      ['/comments', { postId: 1, text: 'planted' }],
      ['/comments', { postId: '1', text: 'planted' }],
      ['/comments', { postId: 2, text: 'waiting for her next post' }],
    ] as const) {
      const res = await send('POST', url, bob, body);
      assert.equal(res.statusCode, 403, `${url} ${JSON.stringify(body)}: ${res.body}`);
      assert.match(res.json<{ message: string }>().message, /postId must name one of your own posts/);
    }
    // The nested route answers as GET /posts/1 does first (nested.ts).
    const nested = await send('POST', '/posts/1/comments', bob, { text: 'planted' });
    assert.equal(nested.statusCode, 403, nested.body);
    assert.match(nested.json<{ message: string }>().message, /belongs to another user/);
    assert.deepEqual(t.services.documents!.data['comments'], []);
  });

  it('refuses a change of a foreign key to such a record, and keeps one sent back unchanged', async () => {
    const own = await send('POST', '/posts', bob, { title: "bob's" });
    const bobsPost = own.json<{ id: number }>().id;
    const comment = await send('POST', `/posts/${bobsPost}/comments`, bob, { text: 'mine' });
    assert.equal(comment.statusCode, 201, comment.body);
    const { id } = comment.json<{ id: number }>();
    for (const method of ['PATCH', 'PUT'] as const) {
      const moved = await send(method, `/comments/${id}`, bob, { postId: 1, text: 'moved' });
      assert.equal(moved.statusCode, 403, moved.body);
    }
    const same = await send('PUT', `/comments/${id}`, bob, { postId: bobsPost, text: 'edited' });
    assert.equal(same.statusCode, 200, same.body);
    assert.equal((await send('PATCH', `/comments/${id}`, bob, { postId: null })).statusCode, 200);
  });

  it('lets its owner link and cascade, and anyone link to what anyone may read', async () => {
    assert.equal((await send('POST', '/posts/1/comments', alice, { text: 'hers' })).statusCode, 201);
    for (const postId of [1, 99]) {
      // 99: no such tag; json-server takes a link to a record not made yet.
      const tagged = await send('POST', '/comments', bob, { tagId: postId, text: 'tagged' });
      assert.equal(tagged.statusCode, 201, tagged.body);
    }
    const deleted = await send('DELETE', '/posts/1?_dependent=comments', alice);
    assert.equal(deleted.statusCode, 200, deleted.body);
    assert.deepEqual((await send('GET', '/comments?postId=1', alice)).json(), []);
  });
});
