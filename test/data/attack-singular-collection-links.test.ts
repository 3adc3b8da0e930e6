import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * A foreign key into a collection whose name is its own singular (`feedback`, `todo`, `inventory`,
 * `task`, ...) or an irregular plural (`person` beside `people`) was never checked. `_embed`,
 * `_dependent` and nested routes find a parent's children by `pluralize.singular(parent) + "Id"`
 * (`feedbackId`), but the link check mapped the key back with `pluralize("feedback")`, "feedbacks",
 * a collection that did not exist, and let any value through. Under owner-only feedback, bob hung a
 * reply under alice's feedback 1 (or the one she would make next): under a replies rule of 640 it
 * showed in her `GET /feedback/1?_embed=replies`, and her `DELETE /feedback/1?_dependent=replies`
 * was 403 for good, what attack-foreign-links.test.ts fixed for posts and comments. Now a key links
 * into every collection whose foreign key it is, and `_expand` reads it into the same collection.
 * Over HTTP on a real app on files.
 */
describe('a foreign key into a singular-named collection names only a parent its writer may read', () => {
  let t: TestApp;
  let alice = '';
  let bob = '';

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: {
        auth: { passwordSalt: 4 },
        rules: { feedback: 600, replies: 640, person: 600, people: 644, notes: 600 },
      },
      files: {
        'db.json': JSON.stringify({
          users: [],
          feedback: [],
          replies: [],
          person: [],
          people: [],
          notes: [],
        }),
      },
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

  it("refuses a reply under another user's feedback, or under feedback not made yet", async () => {
    assert.equal((await send('POST', '/feedback', alice, { text: 'private' })).statusCode, 201);
    for (const body of [
      { feedbackId: 1, text: 'planted' },
      { feedbackId: '1', text: 'planted' },
      { feedbackId: 2, text: 'waiting for her next feedback' },
    ]) {
      const res = await send('POST', '/replies', bob, body);
      assert.equal(res.statusCode, 403, `${JSON.stringify(body)}: ${res.body}`);
      assert.match(res.json<{ message: string }>().message, /feedbackId must name one of your own feedback/);
    }
    const nested = await send('POST', '/feedback/1/replies', bob, { text: 'planted' });
    assert.equal(nested.statusCode, 403, nested.body);

    const own = await send('POST', '/replies', bob, { text: 'loose' });
    const { id } = own.json<{ id: number }>();
    for (const method of ['PATCH', 'PUT'] as const) {
      const moved = await send(method, `/replies/${id}`, bob, { feedbackId: 1, text: 'moved' });
      assert.equal(moved.statusCode, 403, moved.body);
    }
    const replies = t.services.documents!.data['replies'] as Array<Record<string, unknown>>;
    assert.ok(
      replies.every((reply) => reply['feedbackId'] === undefined),
      JSON.stringify(replies),
    );
  });

  it('lets the owner link, embed, expand and cascade: no one else is under her feedback', async () => {
    assert.equal((await send('POST', '/feedback/1/replies', alice, { text: 'hers' })).statusCode, 201);
    const direct = await send('POST', '/replies', alice, { feedbackId: 1, text: 'hers too' });
    assert.equal(direct.statusCode, 201, direct.body);

    const embedded = await send('GET', '/feedback/1?_embed=replies', alice);
    const texts = embedded.json<{ replies: Array<{ text: string }> }>().replies.map((reply) => reply.text);
    assert.deepEqual(texts, ['hers', 'hers too']);

    // `_expand=feedback` reads feedbackId into `feedback` as `_embed` does (json-server looked for
    // "feedbacks" and expanded nothing), under the feedback rule: bob reads her reply, not her feedback.
    const { id } = direct.json<{ id: number }>();
    const expanded = await send('GET', `/replies/${id}?_expand=feedback`, alice);
    assert.equal(expanded.json<{ feedback?: { text: string } }>().feedback?.text, 'private');
    const seenByBob = await send('GET', `/replies/${id}?_expand=feedback`, bob);
    assert.equal(seenByBob.statusCode, 200, seenByBob.body);
    assert.equal(seenByBob.json<{ feedback?: unknown }>().feedback, undefined);

    const deleted = await send('DELETE', '/feedback/1?_dependent=replies', alice);
    assert.equal(deleted.statusCode, 200, deleted.body);
    const replies = t.services.documents!.data['replies'] as Array<Record<string, unknown>>;
    assert.ok(
      replies.every((reply) => reply['feedbackId'] === undefined),
      JSON.stringify(replies),
    );
  });

  it('checks a key against every collection whose foreign key it is (person and people)', async () => {
    // Both `person` and `people` have the foreign key personId; the owner-only one decides.
    assert.equal((await send('POST', '/person', alice, { name: 'alice' })).statusCode, 201);
    assert.equal((await send('POST', '/people', alice, { name: 'alice' })).statusCode, 201);
    const planted = await send('POST', '/notes', bob, { personId: 1 });
    assert.equal(planted.statusCode, 403, planted.body);
    assert.match(planted.json<{ message: string }>().message, /personId must name one of your own person/);

    const bobs = await send('POST', '/person', bob, { name: 'bob' });
    const mine = await send('POST', '/notes', bob, { personId: bobs.json<{ id: number }>().id });
    assert.equal(mine.statusCode, 201, mine.body);
  });
});
