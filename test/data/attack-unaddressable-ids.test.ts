import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A record is reached at `/posts/:id`, so an id no URL can name makes a record nobody can read, change
 * or delete again. `..` and `.` were taken (201): every client's URL parser drops them as path
 * segments, encoded or not, so the Location answered, `/posts/..`, led fetch to the home page and a
 * DELETE of it to a 404. An id holding an unpaired surrogate (`"\ud800x"`) was stored, then its
 * Location could not be encoded: 500 after the commit, 409 to the retry, and no path can carry it.
 * Each is a 400 now and nothing is stored. Over real HTTP with fetch, a real client's URL handling.
 */
const UNADDRESSABLE = ['..', '.', '\ud800x', 'a\udfff'];

describe('a new record id that no URL can name', () => {
  let t: TestApp;
  let base = '';
  const post = (body: string) =>
    fetch(`${base}/posts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { data: { enabled: true, rules: { posts: 666 } } },
      files: { 'db.json': JSON.stringify({ posts: [] }) },
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => t.close());

  it('is refused (400), and nothing is stored', async () => {
    for (const id of UNADDRESSABLE) {
      // JSON.stringify writes an unpaired surrogate as its escape: the body is the JSON a client sends.
      const res = await post(JSON.stringify({ id, title: 'lost' }));
      const text = await res.text();
      assert.equal(res.status, 400, `${JSON.stringify(id)}: ${res.status} ${text}`);
      assert.match(text, /A record id may not/u);
    }
    assert.deepEqual(await (await fetch(`${base}/posts`)).json(), []);
  });

  it('any other id leads back to its record through the Location a client follows', async () => {
    for (const id of ['...', '.x', '%2e%2e', 'a\ud83d\ude00']) {
      const res = await post(JSON.stringify({ id, title: 'kept' }));
      assert.equal(res.status, 201, `${JSON.stringify(id)}: ${await res.text()}`);
      const path = new URL(res.headers.get('location')!).pathname;
      const found = await fetch(base + path);
      assert.equal(found.status, 200, JSON.stringify(id));
      assert.equal(((await found.json()) as { id: string }).id, id);
      const deleted = await fetch(base + path, { method: 'DELETE' });
      assert.equal(deleted.status, 200, JSON.stringify(id));
    }
  });
});
