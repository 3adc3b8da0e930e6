import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { call, startJsonServer, type RunningJsonServer } from '../support/json-server.js';

/**
 * routes.json side by side with json-server 0.17.4: rewrites on the path and
 * on the query string, and GET /__rules.
 */
const db = {
  posts: [
    { id: 1, title: 'one', category: 'news' },
    { id: 2, title: 'two', category: 'tips' },
  ],
  comments: [{ id: 1, body: 'hi', postId: 1 }],
  users: [],
};

const routes = {
  '/api/*': '/$1',
  '/articles\\?_id=:id': '/posts/:id',
  '/search\\?category=:category': '/posts?category=:category',
  '/blog/:resource/:id/show': '/:resource/:id',
};

describe('routes.json rewrites and /__rules, side by side with json-server 0.17.4', () => {
  let dir: string;
  let theirs: RunningJsonServer;
  let t: TestApp;
  let ours: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-rewrites-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(db));
    theirs = await startJsonServer(join(dir, 'db.json'), { routes });
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, routes, rules: { posts: 777, comments: 777 } },
      files: { 'db.json': JSON.stringify(db) },
    });
    ours = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await theirs.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const paths = [
    '/__rules',
    '/api/posts',
    '/api/posts/2',
    '/api/posts?category=tips',
    '/articles?_id=2',
    '/articles?_id=9',
    '/search?category=news',
    '/blog/posts/1/show',
    '/blog/comments/1/show',
    // `/`: json-server's router has no home page (its page is a static file, served before the rewrite).
    '/api/',
  ];
  for (const path of paths) {
    it(`GET ${path}`, async () => {
      const answer = await call(ours, 'GET', path);
      const expected = await call(theirs.base, 'GET', path);
      // restauth sends nosniff on every data answer; json-server only on those of res.jsonp (not /__rules).
      if (path === '/__rules') expected.headers['x-content-type-options'] = 'nosniff';
      assert.deepEqual(answer, expected);
      assert.notEqual(answer.status, 500);
    });
  }

  it('the rules read back as written, and /__rules is not rewritten by a catch-all rule', async () => {
    assert.deepEqual((await call(ours, 'GET', '/__rules')).body, routes);
    const app = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, routes: { '/*': '/posts' }, rules: { posts: 777 } },
      files: { 'db.json': JSON.stringify(db) },
    });
    try {
      assert.deepEqual((await app.app.inject({ url: '/__rules' })).json(), { '/*': '/posts' });
      assert.equal((await app.app.inject({ url: '/anything' })).json().length, 2);
    } finally {
      await app.close();
    }
  });

  it('a rewritten URL reaches no static file nor the home page: json-server served them before its rewriter', async () => {
    // What a proxy in front lets by (`/api/`) must not lead to the pages it keeps from the internet.
    const app = await createTestApp({
      format: 'restauth',
      config: {
        dialects: { jsonServerAuth: { enabled: true } },
        data: { enabled: true, static: '.', routes: { '/api/*': '/$1' }, rules: { posts: 644 } },
      },
      files: {
        'db.json': JSON.stringify(db),
        'index.html': '<p>the project</p>',
        'app.js': 'console.log(1)',
      },
    });
    try {
      const get = (url: string, method: 'GET' | 'HEAD' = 'GET') => app.app.inject({ method, url });
      assert.equal((await get('/')).body, '<p>the project</p>');
      assert.equal((await get('/app.js')).body, 'console.log(1)');
      // A routes.json rule, json-server-auth's guard, and both.
      for (const url of [
        '/api/',
        '/api/index.html',
        '/api/app.js',
        '/664/app.js',
        '/664/',
        '/api/664/app.js',
      ]) {
        for (const method of ['GET', 'HEAD'] as const) {
          const answer = await get(url, method);
          assert.equal(answer.statusCode, 404, `${method} ${url}: ${answer.body}`);
        }
        assert.deepEqual((await get(url)).json(), {});
      }
      assert.equal((await get('/api/posts')).json<unknown[]>().length, 2);
    } finally {
      await app.close();
    }
  });

  it('without rules, /__rules is a 404 {} as in json-server', async () => {
    const app = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify(db) },
    });
    try {
      const answer = await app.app.inject({ url: '/__rules' });
      assert.equal(answer.statusCode, 404);
      assert.deepEqual(answer.json(), {});
    } finally {
      await app.close();
    }
  });
});
