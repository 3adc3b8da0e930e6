import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { durableData } from '../support/durable.js';

/**
 * The same requests, in the same order, to json-server 0.17.4 itself and to
 * restauth's data API, each on its own copy of one db.json. Status, the
 * headers that matter and bodies must match; the documented fixes are
 * asserted one by one as differences.
 */
const require = createRequire(import.meta.url);
const jsonServer = require('json-server') as {
  create(): { use(...args: unknown[]): void; listen(port: number, host: string, cb: () => void): Server };
  router(file: string): unknown;
  defaults(options: object): unknown;
  bodyParser: unknown;
};

const fixture = {
  posts: [
    { id: 1, title: 'json-server', views: 10, author: { name: 'typicode' }, tags: ['rest', 'json'] },
    { id: 2, title: 'restauth', views: 250, author: { name: 'team' }, tags: ['auth'] },
    { id: 3, title: 'JSON Web Tokens', views: 5, author: { name: 'typicode' }, draft: true },
    { id: 4, title: 'Fastify', views: 99, author: { name: 'team' } },
    { id: 5, title: 'PostgREST', views: 10, author: { name: 'begriffs' } },
  ],
  comments: [
    { id: 1, body: 'first', postId: 1 },
    { id: 2, body: 'second', postId: 1 },
    { id: 3, body: 'third', postId: 3 },
  ],
  tags: [
    { id: 'abc', label: 'alpha' },
    { id: 'xyz', label: 'omega' },
  ],
  // Ids compare as strings: /mixed/1 finds "1", /mixed/2 finds 2.
  mixed: [
    { id: '1', kind: 'string id' },
    { id: 2, kind: 'number id' },
  ],
  profile: { name: 'typicode', theme: 'dark' },
  users: [],
};

const PUBLIC_URL = 'https://data.example.test';

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? '' : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  // json-server builds Location and Link from the request's Host; restauth from its configured
  // public URL (never the Host header): both stand for the server's origin.
  const header = (name: string) =>
    response.headers.get(name)?.replaceAll(base, 'ORIGIN').replaceAll(PUBLIC_URL, 'ORIGIN') ?? null;
  return {
    status: response.status,
    headers: {
      'x-total-count': header('x-total-count'),
      link: header('link'),
      location: header('location'),
      'content-type': header('content-type'),
      // json-server's "no cache for IE" headers, on every answer of the router.
      'cache-control': header('cache-control'),
      pragma: header('pragma'),
      expires: header('expires'),
    },
    body: parsed,
  };
}

describe('data API compatibility with json-server 0.17.4', () => {
  let dir: string;
  let jsonServerBase: string;
  let server: Server;
  let t: TestApp;
  let restauthBase: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-compat-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(fixture, null, 2));
    const app = jsonServer.create();
    app.use(jsonServer.defaults({ logger: false }));
    app.use(jsonServer.bodyParser);
    app.use(jsonServer.router(join(dir, 'db.json')));
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    jsonServerBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const everyone = { posts: 777, comments: 777, tags: 777, mixed: 777, profile: 777, users: 777 };
    t = await createTestApp({
      format: 'json-data-server',
      config: { rules: everyone, auth: { passwordSalt: 4 } },
      overrides: { publicUrl: PUBLIC_URL },
      files: { 'db.json': JSON.stringify(fixture, null, 2) },
    });
    restauthBase = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const both = async (method: string, path: string, body?: unknown) => ({
    theirs: await call(jsonServerBase, method, path, body),
    ours: await call(restauthBase, method, path, body),
  });

  const same = async (method: string, path: string, body?: unknown) => {
    const { theirs, ours } = await both(method, path, body);
    assert.deepEqual(ours, theirs, `${method} ${path}`);
    return ours;
  };

  const reads = [
    '/posts',
    '/posts/1',
    '/posts/999',
    '/tags/abc',
    '/posts?title=restauth',
    '/posts?id=1&id=2',
    '/posts?author.name=typicode',
    '/posts?views_gte=10',
    '/posts?views_lte=10',
    '/posts?views_ne=10',
    '/posts?title_like=^json',
    '/posts?title_like=server&title_like=fast',
    '/posts?title_like=j.*n',
    '/posts?title_like=^(json|rest)',
    '/posts?title_like=t%5Cw%2Bs%24',
    '/posts?views_gte=10&views_lte=99',
    '/posts?views_ne=10&views_ne=99',
    '/mixed/1',
    '/mixed/2',
    '/mixed?id=1',
    '/posts?q=TYPICODE',
    '/posts?q=auth',
    '/posts?nosuchfield=1',
    '/posts?_sort=views',
    '/posts?_sort=views&_order=desc',
    '/posts?_sort=author.name,views&_order=asc,desc',
    '/posts?_page=1&_limit=2',
    '/posts?_page=2&_limit=2',
    '/posts?_page=3&_limit=2',
    '/posts?_page=1',
    '/posts?_page=2',
    '/posts?_page=50&_limit=2',
    '/posts?_start=1&_end=3',
    '/posts?_start=1&_limit=2',
    '/posts?_limit=2',
    // Slicing and paging values at the edges: negative, zero, fractional, reversed, blank, repeated.
    '/posts?_start=-1',
    '/posts?_end=-1',
    '/posts?_start=3&_end=1',
    '/posts?_start=1.5&_end=3.5',
    '/posts?_start=x&_end=2',
    '/posts?_start=&_end=2',
    '/posts?_limit=0',
    '/posts?_limit=-1',
    '/posts?_limit=1.5',
    '/posts?_limit=x',
    '/posts?_limit=1&_limit=3',
    '/posts?_start=1&_start=2&_end=4',
    '/posts?_page=0&_limit=2',
    '/posts?_page=-1&_limit=2',
    '/posts?_page=1.5&_limit=2',
    '/posts?_page=x&_limit=2',
    '/posts?_page=2&_page=1&_limit=2',
    '/posts?_page=2&_limit=2&_start=1&_end=2',
    '/posts?_page=99999999999999999999&_limit=2',
    '/posts?_start=99999999999999999999',
    '/posts?_embed=comments',
    '/posts/1?_embed=comments',
    '/comments?_expand=post',
    '/comments/3?_expand=post',
    '/posts/1/comments',
    '/posts/1/comments?_sort=id&_order=desc',
    '/profile',
    '/db',
    // A request's own delay (json-server's _delay), which filters nothing.
    '/posts?_delay=5',
    '/posts/1?_delay=5',
    '/posts?title=restauth&_delay=5',
    '/profile?_delay=5',
  ];
  for (const path of reads) {
    it(`GET ${path}`, async () => {
      await same('GET', path);
    });
  }

  it('writes: POST, PUT, PATCH, singular PUT/PATCH/POST, in the same order on both', async () => {
    const created = await same('POST', '/posts', { title: 'new post', views: 1 });
    assert.equal(created.status, 201);
    assert.equal(created.headers.location, 'ORIGIN/posts/6');
    await same('POST', '/comments', { body: 'on four', postId: 4 });
    await same('PUT', '/posts/1', { title: 'replaced' });
    await same('PATCH', '/posts/2', { views: 251 });
    await same('PUT', '/posts/999', { title: 'nobody' });
    await same('PATCH', '/posts/999', { title: 'nobody' });
    await same('PATCH', '/profile', { theme: 'light' });
    await same('PUT', '/profile', { name: 'replaced' });
    await same('POST', '/profile', { name: 'posted' });
    await same('DELETE', '/posts/999');
    await same('GET', '/db');
  });

  it('string ids: a new record in a collection with string ids gets a random 7-character id', async () => {
    const { theirs, ours } = await both('POST', '/tags', { label: 'new' });
    for (const answer of [theirs, ours]) {
      assert.equal(answer.status, 201);
      assert.match(String((answer.body as { id: unknown }).id), /^[\w-]{7}$/);
    }
  });

  describe('the documented fixes', () => {
    it('a duplicate id → 409 with a JSON error (json-server: 500 with a stack trace)', async () => {
      const { theirs, ours } = await both('POST', '/posts', { id: 2, title: 'dup' });
      assert.equal(theirs.status, 500);
      assert.equal(ours.status, 409);
      assert.equal((ours.body as { error: string }).error, 'conflict');
    });

    it('a malformed JSON body → 400 with a JSON error', async () => {
      const { ours } = await both('POST', '/posts', '{"title": ');
      assert.equal(ours.status, 400);
      assert.equal((ours.body as { error: string }).error, 'invalid_json');
    });

    it('an invalid _like pattern → 400 (json-server: 500)', async () => {
      const { theirs, ours } = await both('GET', '/posts?title_like=(');
      assert.equal(theirs.status, 500);
      assert.equal(ours.status, 400);
      assert.match((ours.body as { message: string }).message, /not a valid regular expression/);
    });

    it('a catastrophic _like pattern → 400 at once, never a hang', async () => {
      const ours = await call(restauthBase, 'GET', `/posts?title_like=${encodeURIComponent('(a+)+$')}`);
      assert.equal(ours.status, 400);
      assert.match((ours.body as { message: string }).message, /exponential/);
    });

    it('a nested POST keeps the parent id type (json-server stores "1")', async () => {
      const { theirs, ours } = await both('POST', '/posts/4/comments', { body: 'nested' });
      assert.equal((theirs.body as { postId: unknown }).postId, '4');
      assert.equal((ours.body as { postId: unknown }).postId, 4);
    });

    it('a delete does not cascade unless asked (json-server deletes every orphan)', async () => {
      await both('DELETE', '/posts/3');
      const theirs = await call(jsonServerBase, 'GET', '/comments?postId=3');
      const ours = await call(restauthBase, 'GET', '/comments?postId=3');
      assert.deepEqual(theirs.body, []);
      assert.deepEqual(ours.body, [{ id: 3, body: 'third', postId: 3 }]);
      const cascade = await call(restauthBase, 'DELETE', '/posts/1?_dependent=comments');
      assert.equal(cascade.status, 200);
      assert.deepEqual((await call(restauthBase, 'GET', '/comments?postId=1')).body, []);
    });

    it('every write is on disk when acknowledged, and concurrent POSTs all land', async () => {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          call(restauthBase, 'POST', '/comments', { body: `burst ${i}`, postId: 2 }),
        ),
      );
      assert.ok(answers.every((a) => a.status === 201));
      const ids = new Set(answers.map((a) => (a.body as { id: number }).id));
      assert.equal(ids.size, 40);
      // Durable: in db.json or in its journal, which a restart replays.
      const onDisk = (await durableData(join(t.dir, 'db.json'))) as { comments: Array<{ id: number }> };
      for (const id of ids)
        assert.ok(
          onDisk.comments.some((c) => c.id === id),
          `comment ${id} not on disk`,
        );
      // db.json itself catches up at the next rewrite (the compaction timer's, or any commit that
      // rewrites it, as this empty one does), and the journal is emptied: awaited, not polled.
      await t.services.documents!.transactDocument(() => undefined);
      const file = JSON.parse(await readFile(join(t.dir, 'db.json'), 'utf8')) as {
        comments: Array<{ id: number }>;
      };
      for (const id of ids)
        assert.ok(
          file.comments.some((c) => c.id === id),
          `comment ${id} not in db.json`,
        );
      assert.equal(await readFile(join(t.dir, '.db.json.journal'), 'utf8').catch(() => ''), '');
    });
  });
});
