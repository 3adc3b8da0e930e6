import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ForeignKeyIndexes } from '../../src/data/foreign-key-index.js';
import { MAX_RELATIONS } from '../../src/data/plural.js';
import type { Row } from '../../src/data/query.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * `_embed` and `_expand` with issue 10's scenario: 1,000 posts, 1,000
 * comments, `_embed=comments` repeated 400 times (17 s and a stalled server
 * before). The work is bounded structurally, so the tests assert the
 * structure (one index build, a cap on distinct relations, right answers);
 * the timing is in bench/data/embed.ts.
 */
const POSTS = 1_000;

describe('_embed and _expand at scale', () => {
  let t: TestApp;
  const get = (url: string) => t.app.inject({ url });

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 444, comments: 444, tags: 444 } },
      files: {
        'db.json': JSON.stringify({
          users: [],
          posts: Array.from({ length: POSTS }, (_, i) => ({ id: i + 1, title: `post ${i + 1}` })),
          // Posts 1-334 have two or three comments each, the others none; "1" (a string) is not a
          // child of id 1, as in json-server.
          comments: [
            ...Array.from({ length: POSTS }, (_, i) => ({ id: i + 1, postId: (i % 334) + 1 })),
            { id: 'string-fk', postId: '1' },
          ],
          tags: [{ id: 1 }],
        }),
      },
    });
  });
  after(() => t.close());

  it('_embed repeated 400 times answers once per post, with exactly its children', async () => {
    const repeated = Array.from({ length: 400 }, () => '_embed=comments').join('&');
    const res = await get(`/posts?${repeated}`);
    assert.equal(res.statusCode, 200);
    const posts = res.json() as Array<{ id: number; comments: Array<{ id: number; postId: unknown }> }>;
    assert.equal(posts.length, POSTS);
    let embedded = 0;
    for (const post of posts) {
      for (const comment of post.comments) assert.equal(comment.postId, post.id);
      embedded += post.comments.length;
    }
    assert.equal(embedded, POSTS, 'every numeric-key comment once, the string key nowhere');
    assert.deepEqual(
      posts[0]!.comments.map((c) => c.id),
      [1, 335, 669],
    );
    assert.deepEqual(Object.keys(posts[0]!).sort(), ['comments', 'id', 'title']);
  });

  it(`more than ${MAX_RELATIONS} distinct collections to embed or expand is a 400`, async () => {
    const names = Array.from({ length: MAX_RELATIONS + 1 }, (_, i) => `_embed=c${i}`).join('&');
    const res = await get(`/posts?${names}`);
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /At most 8 distinct collections/);
    const mixed = `${Array.from({ length: MAX_RELATIONS }, (_, i) => `_embed=c${i}`).join('&')}&_expand=post`;
    assert.equal((await get(`/comments?${mixed}`)).statusCode, 400);
    // Eight, repeated, is fine.
    const allowed = Array.from({ length: 200 }, (_, i) => `_embed=c${i % MAX_RELATIONS}`).join('&');
    assert.equal((await get(`/posts?${allowed}&_limit=1`)).statusCode, 200);
  });

  it('_expand repeated answers the parent once per record', async () => {
    const res = await get(
      `/comments?${Array.from({ length: 400 }, () => '_expand=post').join('&')}&_limit=3`,
    );
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      (res.json() as Array<{ post: { id: number } }>).map((c) => c.post.id),
      [1, 2, 3],
    );
  });

  it('a write is seen by the next embed (the index is rebuilt after a commit)', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/comments',
      payload: { id: 'new', postId: 2 },
    });
    // The comments rule 444 lets nobody write: the write goes through the store instead.
    assert.equal(created.statusCode, 401);
    await t.services.documents!.transactRecords((data, changes) => {
      const record = { id: 'new', postId: 2 };
      (data.comments as Row[]).push(record);
      changes.put('comments', 'id', record);
    });
    const post = (await get('/posts/2?_embed=comments')).json() as { comments: Array<{ id: unknown }> };
    assert.ok(post.comments.some((c) => c.id === 'new'));
  });
});

describe('ForeignKeyIndexes', () => {
  const rows: Row[] = [{ id: 1, postId: 1 }, { id: 2, postId: '1' }, { id: 3, postId: 1 }, { id: 4 }];

  it('builds one index per collection, key and generation, however often it is asked', () => {
    let generation = 0;
    let builds = 0;
    const indexes = new ForeignKeyIndexes(
      () => generation,
      () => builds++,
    );
    for (let i = 0; i < 400; i++) {
      assert.deepEqual(
        indexes.children('comments', rows, 'postId', 1).map((row) => row.id),
        [1, 3],
      );
    }
    assert.equal(builds, 1);
    assert.deepEqual(
      indexes.children('comments', rows, 'postId', '1').map((row) => row.id),
      [2],
    );
    assert.deepEqual(indexes.children('comments', rows, 'postId', undefined), []);
    assert.equal(builds, 1);
    generation++;
    indexes.children('comments', rows, 'postId', 1);
    assert.equal(builds, 2, 'a commit or reload makes it stale');
    rows.push({ id: 5, postId: 1 });
    assert.deepEqual(
      indexes.children('comments', rows, 'postId', 1).map((row) => row.id),
      [1, 3, 5],
    );
    assert.equal(builds, 3, 'so does a longer array');
  });
});
