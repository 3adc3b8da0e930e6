import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { call } from '../support/json-server.js';
import { startJsonServer1 } from '../support/json-server-1.js';

/**
 * `data.jsonServer: "1"`: the same requests to json-server 1.x (1.0.0-beta.15)
 * and to restauth, each on its own copy of one db.json (string ids, as 1.x
 * writes them). Status and bodies must match; the deliberate differences are
 * asserted one by one.
 */
const fixture = {
  posts: [
    { id: '1', title: 'json-server', views: 100, author: { name: 'typicode' }, published: true },
    { id: '2', title: 'restauth', views: 250, author: { name: 'team' }, published: false },
    { id: '3', title: 'JSON Web Tokens', views: 5, author: { name: 'typicode' }, published: true },
    { id: '4', title: 'Fastify', views: 99, author: { name: 'team' }, published: true },
    { id: '5', title: 'PostgREST', views: 100, author: { name: 'begriffs' } },
  ],
  comments: [
    { id: '1', text: 'first', postId: '1' },
    { id: '2', text: 'second', postId: '1' },
    { id: '3', text: 'third', postId: '3' },
  ],
  profile: { name: 'typicode' },
  users: [],
};

describe('data.jsonServer "1": compatibility with json-server 1.x', () => {
  let theirs: { base: string; close(): Promise<void> };
  let t: TestApp;
  let ours: string;

  before(async () => {
    theirs = await startJsonServer1(fixture);
    t = await createTestApp({
      format: 'restauth',
      config: { data: { jsonServer: '1', rules: { posts: 666, comments: 666, profile: 666 } } },
      files: { 'db.json': JSON.stringify(fixture) },
    });
    ours = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await theirs.close();
    await t.close();
  });

  const both = async (method: string, path: string, body?: unknown) => {
    const init = body === undefined ? {} : { body };
    return {
      mine: await call(ours, method, path, init),
      expected: await call(theirs.base, method, path, init),
    };
  };

  const same = async (method: string, path: string, body?: unknown) => {
    const { mine, expected } = await both(method, path, body);
    assert.equal(mine.status, expected.status, `${method} ${path}`);
    assert.deepEqual(mine.body, expected.body, `${method} ${path}`);
    return mine;
  };

  const reads = [
    '/posts',
    '/posts/1',
    '/posts/999',
    '/nothing',
    '/posts?views:gt=99',
    '/posts?views:gte=100&views:lt=250',
    '/posts?views=100',
    '/posts?views_gt=99',
    '/posts?title:eq=restauth',
    '/posts?title:ne=restauth',
    '/posts?title:contains=JSON',
    '/posts?title:startsWith=json',
    '/posts?title:endsWith=TOKENS',
    '/posts?id:in=1,3,9',
    '/posts?views:in=5,99',
    '/posts?published=true',
    '/posts?published=false',
    '/posts?author.name=typicode',
    '/posts?author.name:eq=team&views:gt=100',
    '/posts?missing=1',
    '/posts?views:unknown=1',
    '/posts?_sort=views',
    '/posts?_sort=-views',
    '/posts?_sort=author.name,-views',
    '/posts?_sort=-published',
    '/posts?_sort=title',
    '/posts?_page=1',
    '/posts?_page=1&_per_page=2',
    '/posts?_page=2&_per_page=2',
    '/posts?_page=3&_per_page=2',
    '/posts?_page=9&_per_page=2',
    '/posts?_page=0&_per_page=-1',
    '/posts?_page=x&_per_page=2',
    '/posts?_per_page=2',
    '/posts?_sort=-views&_page=1&_per_page=3&views:gt=10',
    '/posts?_embed=comments',
    '/posts/1?_embed=comments',
    '/comments?_embed=post',
    '/comments/3?_embed=post',
    `/posts?_where=${encodeURIComponent('{"or":[{"views":{"gt":200}},{"author":{"name":{"eq":"begriffs"}}}]}')}`,
    `/posts?_where=${encodeURIComponent('{not json')}&views:lt=10`,
    '/profile',
    // 0.17's slicing parameters are plain conditions in 1.x (dropped in its #1696), and paging values at the edges.
    '/posts?_start=0&_end=10',
    '/posts?_start=1&_limit=2',
    '/posts?_limit=2',
    '/posts?_page=2&_limit=2',
    '/posts?_page=1&_per_page=0',
    '/posts?_page=1.9&_per_page=2.5',
    '/posts?_page=2&_page=1&_per_page=2',
    '/posts?_page=1&_per_page=2&_per_page=3',
    '/posts?_page=99999999999999999999999&_per_page=2',
    '/posts?_page=-1&_per_page=2',
    '/posts?_page=1&_per_page=1e3',
    '/posts?_page=%202&_per_page=2',
    '/posts?_page=2abc&_per_page=2',
    '/posts?_page=&_per_page=2',
    '/posts?_page=1&_per_page=99999999999999999999999',
    '/posts?_sort=views&_sort=-title',
    '/posts?_embed=comments&_embed=comments',
    '/posts?views=100&views=5',
    '/posts?_start:eq=1',
  ];
  for (const path of reads) {
    it(`GET ${path}`, async () => {
      await same('GET', path);
    });
  }

  it('writes: PUT, PATCH, singular PUT/PATCH, DELETE answering the deleted record, 404s', async () => {
    await same('PUT', '/posts/2', { title: 'replaced' });
    await same('PATCH', '/posts/4', { views: 101 });
    await same('PATCH', '/posts/999', { views: 1 });
    await same('PUT', '/posts/999', { views: 1 });
    await same('PATCH', '/profile', { theme: 'light' });
    await same('PUT', '/profile', { name: 'replaced' });
    await same('DELETE', '/comments/2');
    await same('DELETE', '/comments/999');
    await same('GET', '/comments');
  });

  it('POST: 201 with a random string id', async () => {
    const { mine, expected } = await both('POST', '/posts', { title: 'new', views: 1 });
    for (const answer of [mine, expected]) {
      assert.equal(answer.status, 201);
      const { id, ...rest } = answer.body as { id: unknown };
      assert.match(String(id), /^[\w-]{11}$/u);
      assert.deepEqual(rest, { title: 'new', views: 1 });
    }
  });

  describe('the deliberate differences', () => {
    it('a delete nullifies no foreign key in other collections (1.x wrote null into every child)', async () => {
      await both('DELETE', '/posts/3');
      const theirComments = (await call(theirs.base, 'GET', '/comments')).body as Array<{ id: string }>;
      const myComments = (await call(ours, 'GET', '/comments')).body as Array<{ id: string }>;
      assert.deepEqual(
        theirComments.find((c) => c.id === '3'),
        { id: '3', text: 'third', postId: null },
      );
      assert.deepEqual(
        myComments.find((c) => c.id === '3'),
        { id: '3', text: 'third', postId: '3' },
      );
    });

    it('bounded work: 17 conditions, 5 sort fields or a prototype path are 400 (1.x ran them)', async () => {
      const many = Array.from({ length: 17 }, (_, i) => `f${i}=1`).join('&');
      for (const path of [
        `/posts?${many}`,
        '/posts?_sort=a,b,c,d,e',
        '/posts?__proto__.polluted:eq=1',
        `/posts?_where=${encodeURIComponent('{"constructor":{"eq":1}}')}`,
        `/posts?_where=${encodeURIComponent('['.repeat(20) + ']'.repeat(20))}`,
      ]) {
        const answer = await call(ours, 'GET', path);
        assert.equal(answer.status, 400, path);
        assert.equal((answer.body as { error: string }).error, 'validation_failed');
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('numeric ids stay reachable: /posts/1 finds id 1 as 0.17 did (1.x compares strings)', async () => {
      const app = await createTestApp({
        format: 'restauth',
        config: { data: { jsonServer: '1', rules: { posts: 666 } } },
        files: { 'db.json': JSON.stringify({ posts: [{ id: 1, title: 'numeric' }], users: [] }) },
      });
      try {
        assert.equal((await app.app.inject({ url: '/posts/1' })).json().title, 'numeric');
        const missing = await app.app.inject({ url: '/posts/2' });
        assert.equal(missing.statusCode, 404);
        assert.deepEqual(missing.json(), { error: 'Not Found' });
      } finally {
        await app.close();
      }
    });
  });
});
