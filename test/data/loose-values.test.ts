import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A stored value JavaScript cannot turn into a string or number (an object
 * whose own toString is not a function: `{"toString": 1}`, in db.json or
 * sent in a body) answered 500 for every filter, range, pattern and sort on
 * its field, in both grammars, as json-server crashed on it. It now has no
 * string form: it equals nothing, matches no pattern, lies in no range.
 */
const POSTS: unknown[] = [
  { id: 1, title: { toString: 1 }, views: { valueOf: 1, toString: 1 }, tags: [{ toString: 1 }] },
  { id: 2, title: 'plain', views: 5, tags: ['a'] },
  { id: 3, title: { toString: 1 }, views: { toString: 1 }, tags: [] },
];

for (const grammar of ['0.17', '1'] as const) {
  describe(`values without a string form (json-server ${grammar} grammar)`, () => {
    let t: TestApp;
    before(async () => {
      t = await createTestApp({
        format: 'restauth',
        config: { data: { rules: { posts: 666 }, ...(grammar === '1' ? { jsonServer: '1' } : {}) } },
        files: { 'db.json': JSON.stringify({ users: [], posts: POSTS }) },
      });
    });
    after(() => t.close());

    const ids = async (query: string) => {
      const res = await t.app.inject({ url: `/posts?${query}` });
      assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
      return (res.json() as Array<{ id: number }>).map((post) => post.id);
    };

    const queries =
      grammar === '1'
        ? {
            'title=plain': [2],
            'title:ne=plain': [1, 3],
            'views:gt=1': [2],
            'views:lte=9': [2],
            'title:contains=la': [2],
            'title:startsWith=%5Bobject': [],
            [`_where=${encodeURIComponent('{"title":{"contains":{"toString":1}}}')}`]: [],
          }
        : {
            'title=plain': [2],
            'title=%5Bobject%20Object%5D': [],
            'tags=a': [2],
            'title_ne=plain': [1, 3],
            'views_gte=1': [2],
            'views_lte=9': [2],
            'title_like=la': [2],
            'title_like=object': [],
            'q=plain': [2],
          };
    for (const [query, expected] of Object.entries(queries)) {
      it(`${decodeURIComponent(query)} answers ${JSON.stringify(expected)}`, async () => {
        assert.deepEqual(await ids(query), expected);
      });
    }

    // Such values have no order among the others: the sort answers every record, in some order.
    for (const query of grammar === '1'
      ? ['_sort=views', '_sort=-title']
      : ['_sort=views', '_sort=title&_order=desc']) {
      it(`${query} answers every record`, async () => {
        assert.deepEqual((await ids(query)).sort(), [1, 2, 3]);
      });
    }

    it('a body holding such a value is stored and filtered around', async () => {
      const created = await t.app.inject({
        method: 'POST',
        url: '/posts',
        payload: { id: 4, title: { toString: 1 } },
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.deepEqual(await ids('title=plain'), [2]);
    });
  });
}
