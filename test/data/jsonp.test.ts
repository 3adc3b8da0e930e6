import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { call, startJsonServer, type RunningJsonServer } from '../support/json-server.js';

/** JSONP (`?callback=`): json-server's answers side by side, and only public data ever becomes a script. */
const db = {
  posts: [
    { id: 1, title: 'one \u2028 line', views: 10 },
    { id: 2, title: 'two', views: 20 },
  ],
  secrets: [{ id: 1, userId: 'someone', note: 'private' }],
  profile: { name: 'typicode' },
  users: [],
};

/** The callback a JSONP script calls and the value it passes; throws when the text is not one. */
function unwrap(text: unknown): { callback: string; value: unknown } {
  const match = /^\/\*\*\/ typeof ([\w$.]+) === 'function' && \1\(([\s\S]*)\);$/u.exec(String(text));
  assert.ok(match, `not a JSONP script: ${String(text).slice(0, 200)}`);
  return { callback: match[1]!, value: JSON.parse(match[2]!) };
}

describe('JSONP, side by side with json-server 0.17.4', () => {
  let dir: string;
  let theirs: RunningJsonServer;
  let t: TestApp;
  let ours: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-jsonp-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(db));
    theirs = await startJsonServer(join(dir, 'db.json'));
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 644, profile: 644, secrets: 600 } },
      files: { 'db.json': JSON.stringify(db) },
    });
    ours = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await theirs.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const path of [
    '/posts?callback=cb',
    '/posts/1?callback=cb',
    '/posts/999?callback=cb',
    '/posts?title=two&callback=app.receive_$1',
    '/posts?_page=1&_limit=1&callback=cb',
    '/profile?callback=cb',
  ]) {
    it(`GET ${path}`, async () => {
      const mine = await call(ours, 'GET', path);
      const expected = await call(theirs.base, 'GET', path);
      assert.equal(mine.status, expected.status);
      assert.equal(mine.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.deepEqual(mine.headers, expected.headers);
      assert.deepEqual(unwrap(mine.body), unwrap(expected.body));
    });
  }

  it('U+2028 inside a string is escaped, so the script parses in every engine', async () => {
    const text = String((await call(ours, 'GET', '/posts/1?callback=cb')).body);
    assert.ok(!text.includes('\u2028'));
    assert.ok(text.includes('\\u2028'));
  });

  it('a callback that is not a JavaScript name is 400 (Express stripped it to whatever was left)', async () => {
    for (const callback of ['alert(document.cookie)', 'a;b', 'x'.repeat(129), '1abc', 'a..b']) {
      const answer = await call(ours, 'GET', `/posts?callback=${encodeURIComponent(callback)}`);
      assert.equal(answer.status, 400, callback);
      assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal((answer.body as { error: string }).error, 'validation_failed');
    }
  });

  it('a read with a token never becomes a script: 400, and private data stays out of any JSONP answer', async () => {
    const registered = await call(ours, 'POST', '/auth/register', {
      body: { username: 'jsonp-user', password: 'jsonp-user-pw' },
    });
    const token = (registered.body as { access_token: string }).access_token;
    const withToken = await call(ours, 'GET', '/secrets?callback=steal', {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(withToken.status, 400);
    assert.match((withToken.body as { message: string }).message, /without a token/);
    assert.doesNotMatch(JSON.stringify(withToken.body), /private/);
    // Without a token, an owner-only collection is refused, as the JSON read is.
    const anonymous = await call(ours, 'GET', '/secrets?callback=steal');
    assert.equal(anonymous.status, 401);
    assert.deepEqual(unwrap(anonymous.body).value, 'No authorization');
  });
});

describe('JSONP off', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  for (const [why, config] of [
    ['data.jsonp false', { data: { jsonp: false, rules: { posts: 644 } } }],
    [
      'cors limited to some origins (a script tag would read what CORS keeps from other origins)',
      { cors: ['https://app.example.test'], data: { rules: { posts: 644 } } },
    ],
  ] as const) {
    it(`${why}: ?callback= is an ordinary JSON read`, async () => {
      t = await createTestApp({
        format: 'restauth',
        config,
        files: { 'db.json': JSON.stringify({ posts: [{ id: 1 }], users: [] }) },
      });
      const answer = await t.app.inject({ url: '/posts?callback=cb' });
      assert.equal(answer.statusCode, 200);
      assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
      assert.deepEqual(answer.json(), [{ id: 1 }]);
    });
  }
});
