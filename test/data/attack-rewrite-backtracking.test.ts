import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A routes.json rule with several wildcards or parameters (`/api/x/*` thrice, `/:a-:b`) compiles to a
 * pattern whose groups can split a URL many ways. On a backtracking engine a URL that almost matches
 * is tried every way before it fails: a 4 KB one took 16.5 s on three wildcards, and the one below
 * (four, 6 KB) would take days, every request waiting meanwhile. Over HTTP on a real app on files;
 * the URL is one any client can send. With the rules matched in linear time it is a 404 at once;
 * before, this file never finished (the match holds the event loop, so no test timeout can end it).
 */
const routes = {
  '/api/*/*/*/*/x': '/posts/$1',
  '/pair/:a-:b': '/posts/:b',
  '/one/*': '/$1',
};

describe('rewrite rules with several groups, against URLs that almost match', () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, routes, rules: { posts: 444 } },
      files: {
        'db.json': JSON.stringify({
          users: [],
          posts: [
            { id: 1, title: 'first' },
            { id: 'b-c', title: 'dash' },
          ],
        }),
      },
    });
  });
  after(() => t.close());

  it('a URL that makes the rule backtrack is answered (404), never a hang', async () => {
    for (const url of [`/api/${'/'.repeat(6_000)}y`, `/pair/${'-'.repeat(6_000)}/`]) {
      const res = await t.app.inject({ url });
      assert.equal(res.statusCode, 404, `${url.slice(0, 20)}…: ${res.body.slice(0, 200)}`);
    }
  });

  it('the same rules still rewrite with the groups a backtracking engine gives', async () => {
    const title = async (url: string) => {
      const res = await t.app.inject({ url });
      assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
      return (res.json() as { title: string }).title;
    };
    // Leftmost-first, as JavaScript's engine: the first star takes as much as it can.
    assert.equal(await title('/api/1/a/b/c/x'), 'first');
    assert.equal(await title('/pair/a-1'), 'first');
    // ":a" takes up to the last "-" it can leave ":b" one character or more after.
    assert.equal((await t.app.inject({ url: '/pair/a-b-c' })).statusCode, 404);
    assert.equal(await title('/one/posts/b-c'), 'dash');
  });
});
