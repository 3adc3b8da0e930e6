import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * json-server 1.x grammar (`data.jsonServer: "1"`): a request was held to 16 conditions as query
 * parameters (`field:op=value`), but `_where` only to 4 KB and 8 levels: 4 KB holds about 200
 * `{"views": {"eq": i}}` alternatives, and each alternative of an `or` is tested on every record (no
 * index narrows an `or`). Over 10,000 records of ~1 KB, 209 `eq` alternatives held the event loop for
 * 1.06 s and 151 `contains` alternatives (each lower-casing the whole field again) 1.6 s.
 *
 * A `_where` now counts its conditions (each operator one, and each value standing where a condition
 * could) against the same bound as the query string, 400 beyond, whichever spelling is chosen.
 */
describe('_where is held to the same number of conditions as the query string', () => {
  let t: TestApp;
  const posts = Array.from({ length: 50 }, (_, i) => ({ id: i + 1, title: `Post ${i}`, views: i }));

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { data: { jsonServer: '1', rules: { posts: 666 } } },
      files: { 'db.json': JSON.stringify({ posts }) },
    });
  });
  after(() => t.close());

  const get = (where: unknown) =>
    t.app.inject({ url: `/posts?_where=${encodeURIComponent(JSON.stringify(where))}` });
  const ids = async (where: unknown) => {
    const res = await get(where);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as Array<{ id: number }>).map((post) => post.id);
  };
  const assertRefused = async (where: unknown) => {
    assert.ok(JSON.stringify(where).length <= 4096, 'within the _where length bound');
    const res = await get(where);
    assert.equal(res.statusCode, 400, `answered ${res.statusCode}: every record tested by each condition`);
    assert.equal(res.json().error, 'validation_failed');
    assert.match(res.json().message, /more than 16 conditions/u);
  };

  it('17 conditions as query parameters are refused (the bound already there)', async () => {
    const query = Array.from({ length: 17 }, (_, i) => `views:ne=${i + 100}`).join('&');
    const res = await t.app.inject({ url: `/posts?${query}` });
    assert.equal(res.statusCode, 400, res.body);
  });

  it('a _where of 16 conditions still runs, with 1.x’s answers', async () => {
    assert.deepEqual(
      await ids({ or: Array.from({ length: 16 }, (_, i) => ({ views: { eq: i } })) }),
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
    // Two operators on one field are two conditions; several text operators on one field, three.
    assert.deepEqual(await ids({ views: { gte: 10, lt: 13 } }), [11, 12, 13]);
    assert.deepEqual(
      await ids({
        or: [
          { title: { contains: 'POST 4' } },
          { title: { startsWith: 'post 3' } },
          { title: { endsWith: '2' } },
        ],
      }),
      [3, 4, 5, 13, 23, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50],
    );
  });

  it('a _where of 150 alternatives within 4 KB is refused (400), not run against every record', async () => {
    await assertRefused({ or: Array.from({ length: 150 }, (_, i) => ({ views: { eq: i } })) });
  });

  it('nesting does not hide the count: 150 conditions in nested ors are refused too', async () => {
    const chunk = (from: number) => ({
      or: Array.from({ length: 30 }, (_, i) => ({ views: { eq: from + i } })),
    });
    await assertRefused({ or: [0, 30, 60, 90, 120].map(chunk) });
  });

  it('operators on one field, nested paths and empty alternatives count too', async () => {
    await assertRefused({
      views: Object.fromEntries(['lt', 'lte', 'gt', 'gte', 'ne'].map((op) => [op, 1])),
      or: Array.from({ length: 12 }, () => ({ id: { eq: 1 } })),
    });
    await assertRefused({
      or: Array.from({ length: 17 }, (_, i) => ({ author: { name: { eq: `a${i}` } } })),
    });
    await assertRefused({ or: Array.from({ length: 200 }, () => ({ views: {} })) });
    await assertRefused({ or: Array.from({ length: 200 }, () => ({ or: [] })) });
  });

  it('an in list inside _where is held to the query string’s 100 values', async () => {
    const res = await get({ views: { in: Array.from({ length: 101 }, (_, i) => i) } });
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual(await ids({ views: { in: Array.from({ length: 100 }, (_, i) => i + 48) } }), [49, 50]);
  });
});
