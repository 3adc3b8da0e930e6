import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { linesLogger } from '../support/log-lines.js';

/** The json-server options its users know, set in a json-data-server config.json. */
describe('data API options', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  const open = async (config: Record<string, unknown>, db: unknown) => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, ...config },
      files: { 'db.json': JSON.stringify(db) },
    });
    return t;
  };

  it('rules naming no collection (a typo) are warned of at the start, naming the collection left at the default', async () => {
    const lines: string[] = [];
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { Messages: 600, posts: 644, users: 640, drafts: 600 } },
      files: { 'db.json': JSON.stringify({ users: [], messages: [], posts: [] }) },
      log: linesLogger('warn', lines),
    });
    const warnings = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
    assert.deepEqual(
      warnings.map(({ msg }) => msg),
      [
        'data.rules names "Messages", which the data file has no collection of: its rule applies to nothing ("messages" has the default rule)',
        'data.rules names "drafts", which the data file has no collection of: its rule applies to nothing',
      ],
    );
    // A warning (pino's level 40), not a refusal: the server started, and no rule is guessed for a typo.
    assert.equal(warnings[0]!.level, 40);
  });

  it('readOnly: reads work, every write is 403', async () => {
    const app = (await open({ readOnly: true, rules: { posts: 777 } }, { users: [], posts: [{ id: 1 }] }))
      .app;
    assert.equal((await app.inject({ url: '/posts' })).statusCode, 200);
    const write = await app.inject({ method: 'POST', url: '/posts', payload: { title: 'x' } });
    assert.equal(write.statusCode, 403);
    assert.equal((await app.inject({ method: 'DELETE', url: '/posts/1' })).statusCode, 403);
  });

  it('id and foreignKeySuffix: _id keys, post_id foreign keys', async () => {
    const app = (
      await open(
        { id: '_id', foreignKeySuffix: '_id', rules: { posts: 777, comments: 777 } },
        { users: [], posts: [{ _id: 7, title: 'seven' }], comments: [{ _id: 1, post_id: 7 }] },
      )
    ).app;
    assert.equal((await app.inject({ url: '/posts/7' })).json().title, 'seven');
    assert.deepEqual((await app.inject({ url: '/posts/7/comments' })).json(), [{ _id: 1, post_id: 7 }]);
    const created = await app.inject({ method: 'POST', url: '/posts', payload: { title: 'eight' } });
    assert.equal(created.json()._id, 8);
  });

  it("delay and _delay: the setting, plus a request's own _delay capped at 10 s", async () => {
    const asked: number[] = [];
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, delay: 150, rules: { posts: 777, profile: 777 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [{ id: 1 }], profile: {} }) },
      sleep: async (ms) => {
        asked.push(ms);
      },
    });
    for (const url of ['/posts', '/posts/1?_delay=20', '/profile?_delay=abc', '/posts?_delay=-5'])
      assert.equal((await t.app.inject({ url })).statusCode, 200, url);
    // A hostile _delay would hold the socket for 31 years: it waits 10 s at most.
    const hostile = await t.app.inject({ url: '/posts?_delay=1e12' });
    assert.equal(hostile.statusCode, 200);
    assert.deepEqual(hostile.json(), [{ id: 1 }]);
    assert.deepEqual(asked, [150, 170, 150, 150, 10_150]);
  });

  it('_delay: closing the server ends the wait, so a delayed request never holds the shutdown', async () => {
    let waiting!: (signal: AbortSignal) => void;
    const entered = new Promise<AbortSignal>((resolve) => (waiting = resolve));
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 777 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
      // Waits until the signal aborts, as the timer does; never on its own.
      sleep: (_ms, signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => resolve(), { once: true });
          waiting(signal);
        }),
    });
    const answer = t.app.inject({ url: '/posts?_delay=10000' });
    const signal = await entered;
    assert.equal(signal.aborted, false);
    const closed = t.close();
    t = undefined;
    assert.equal((await answer).statusCode, 200);
    await closed;
    assert.equal(signal.aborted, true);
  });

  it('routes: routes.json rewrites, in a file or inline', async () => {
    const app = (
      await open(
        { routes: { '/api/*': '/$1', '/blog/:id/show': '/posts/:id' }, rules: { posts: 777 } },
        { users: [], posts: [{ id: 1, title: 'one' }] },
      )
    ).app;
    assert.equal((await app.inject({ url: '/api/posts/1' })).json().title, 'one');
    assert.equal((await app.inject({ url: '/blog/1/show' })).json().title, 'one');
    assert.equal((await app.inject({ url: '/api/posts?title=one' })).json().length, 1);
  });

  it('static files from ./public, without escaping the folder', async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 777 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [] }) },
      prepare: async (folder) => {
        await mkdir(join(folder, 'public'));
        await writeFile(join(folder, 'public', 'index.html'), '<h1>hello</h1>');
        await writeFile(join(folder, 'public', 'app.js'), 'console.log(1)');
      },
    });
    const home = await t.app.inject({ url: '/' });
    assert.equal(home.statusCode, 200);
    assert.match(home.body, /hello/);
    assert.match(home.headers['content-type'] as string, /text\/html/);
    assert.equal((await t.app.inject({ url: '/app.js' })).statusCode, 200);
    assert.equal((await t.app.inject({ url: '/posts' })).statusCode, 200);
    assert.equal((await t.app.inject({ url: '/../db.json' })).statusCode, 404);
    assert.equal((await t.app.inject({ url: '/%2e%2e/db.json' })).statusCode, 404);
    assert.equal((await t.app.inject({ url: '/missing.css' })).statusCode, 404);
  });
});
