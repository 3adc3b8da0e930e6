import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * Hostile input against the data API, over HTTP with real tokens: keys that
 * reach a prototype, JSON nested deep enough to break every later read, and
 * records grown past any bound. Each attack is followed by the reads it used
 * to break (lists, `q`, `/db`), which must still answer.
 */
const fixture: Record<string, unknown> = {
  users: [],
  posts: [
    { id: 1, title: 'first', userId: 'nobody' },
    // A field named like an Object.prototype method: filters must read own fields only.
    { id: 2, title: 'second', toString: 'own field' },
  ],
  profile: { theme: 'dark' },
  // A hand-edited key that names a prototype property: never served (nor its rule looked up).
  constructor: [{ id: 1, title: 'a collection named constructor' }],
};
// Hand-edited too, written as text: an object literal's "__proto__" would set its prototype instead.
const dbJson = JSON.stringify(fixture).replace(
  '"constructor"',
  '"__proto__":[{"id":1,"secret":"from a key named __proto__"}],"constructor"',
);

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

describe('data API under hostile input', () => {
  let t: TestApp;
  let token = '';

  const send = async (method: string, url: string, body?: string) => {
    const response = await t.app.inject({
      method: method as 'GET',
      url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: body }),
    });
    return response;
  };

  /** The reads a poisoned record used to break for good. */
  const assertReadsAnswer = async () => {
    for (const url of ['/posts', '/posts?q=first', '/posts?_sort=title', '/db', '/profile']) {
      const res = await send('GET', url);
      assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    }
  };

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': dbJson },
    });
    token = await registeredToken(t, 'alice', 'alice-password');
  });
  after(() => t.close());

  it('JSON nested thousands deep is refused (400) on every write, and every read still answers', async () => {
    for (const value of [nested(5000), nestedObject(5000), nested(40_000), nested(33)]) {
      const attempts = [
        await send('POST', '/posts', `{"title": "deep", "value": ${value}}`),
        await send('PUT', '/posts/1', `{"title": "deep", "value": ${value}}`),
        await send('PATCH', '/posts/1', `{"value": ${value}}`),
        await send('PATCH', '/profile', `{"value": ${value}}`),
        await send('POST', '/posts/1/posts', `{"value": ${value}}`),
      ];
      for (const res of attempts) {
        assert.equal(res.statusCode, 400, res.body.slice(0, 200));
        assert.match(res.json().message, /nested deeper than 32 levels/);
      }
    }
    await assertReadsAnswer();
    assert.deepEqual((await send('GET', '/posts/1')).json(), { id: 1, title: 'first', userId: 'nobody' });
    // 32 levels is allowed.
    const ok = await send('PATCH', '/posts/1', `{"value": ${nested(31)}}`);
    assert.equal(ok.statusCode, 200, ok.body);
    await assertReadsAnswer();
  });

  it('a record grown by PATCH after PATCH stops at the body limit (413), unchanged', async () => {
    const half = 'x'.repeat(60_000);
    assert.equal((await send('PATCH', '/posts/2', JSON.stringify({ a: half }))).statusCode, 200);
    const grown = await send('PATCH', '/posts/2', JSON.stringify({ b: half }));
    assert.equal(grown.statusCode, 413, grown.body.slice(0, 200));
    assert.equal(grown.json().error, 'payload_too_large');
    const stored = (await send('GET', '/posts/2')).json();
    assert.equal(stored.a, half);
    assert.equal(stored.b, undefined);
    const profile = await send('PATCH', '/profile', JSON.stringify({ a: half }));
    assert.equal(profile.statusCode, 200);
    assert.equal((await send('PATCH', '/profile', JSON.stringify({ b: half }))).statusCode, 413);
    assert.equal((await send('GET', '/profile')).json().b, undefined);
    await assertReadsAnswer();
  });

  it('a body with a key that reaches a prototype is refused (400) at any depth, naming the key', async () => {
    const bodies = [
      '{"__proto__": {"polluted": true}, "title": "p"}',
      '{"title": "p", "meta": {"constructor": {"prototype": {"polluted": true}}}}',
      '{"title": "p", "list": [{"prototype": 1}]}',
    ];
    for (const body of bodies) {
      for (const [method, url] of [
        ['POST', '/posts'],
        ['PATCH', '/posts/1'],
        ['PUT', '/posts/1'],
        ['PATCH', '/profile'],
      ]) {
        const res = await send(method!, url!, body);
        assert.equal(res.statusCode, 400, `${method} ${url} ${body}: ${res.body}`);
        assert.match(res.json().message, /may not be named (__proto__|constructor|prototype)/);
      }
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((await send('GET', '/posts/1')).json().title, 'first');
  });

  it('ids that name a prototype are refused (400)', async () => {
    for (const id of ['__proto__', 'constructor', 'prototype']) {
      const res = await send('POST', '/posts', JSON.stringify({ id, title: 'p' }));
      assert.equal(res.statusCode, 400, `${id}: ${res.body}`);
      assert.match(res.json().message, /A record id may not be named/);
    }
    assert.equal((await send('GET', '/posts')).json().length, 2);
  });

  it('filters and sorts read own fields only; prototype names in them are a 400', async () => {
    // Before: rows without their own toString matched through Object.prototype.toString.
    const inherited = await send(
      'GET',
      `/posts?toString=${encodeURIComponent(String(Object.prototype.toString))}`,
    );
    assert.equal(inherited.statusCode, 200);
    assert.deepEqual(inherited.json(), []);
    assert.deepEqual(
      (await send('GET', '/posts?toString=own%20field')).json().map((p: { id: number }) => p.id),
      [2],
    );
    for (const query of [
      '__proto__=x',
      '__proto__.polluted=x',
      'constructor=x',
      'title.constructor.name=String',
      'constructor.name_like=Object',
      '_sort=constructor',
      '_sort=title,__proto__.x',
      '_embed=__proto__',
      '_expand=constructor',
    ]) {
      const res = await send('GET', `/posts?${query}`);
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
      assert.equal(res.json().error, 'validation_failed');
    }
    const deleting = await send('DELETE', '/posts/1?_dependent=__proto__');
    assert.equal(deleting.statusCode, 400);
    assert.equal((await send('GET', '/posts/1')).statusCode, 200);
  });

  it('db.json keys named __proto__ or constructor are never served, nor listed in /db', async () => {
    assert.equal((await send('GET', '/__proto__')).statusCode, 404);
    assert.equal((await send('GET', '/__proto__/1')).statusCode, 404);
    const db = await send('GET', '/db');
    assert.equal(db.statusCode, 200);
    assert.ok(!db.body.includes('from a key named __proto__'), db.body.slice(0, 300));
    assert.deepEqual(Object.keys(db.json()).sort(), ['posts', 'profile', 'users']);
    assert.equal((await send('GET', '/constructor')).statusCode, 404);
  });

  it('the work of one request is bounded: at most 16 filter values and 4 _sort fields (400 beyond)', async () => {
    const likes = (n: number) => Array.from({ length: n }, (_, i) => `title_like=(z|y)${i}*`).join('&');
    assert.equal((await send('GET', `/posts?${likes(16)}`)).statusCode, 200);
    const tooMany = await send('GET', `/posts?${likes(1_500)}`);
    assert.equal(tooMany.statusCode, 400);
    assert.match(tooMany.json().message, /At most 16 filter values/);
    const spread = Array.from({ length: 17 }, (_, i) => `f${i}_ne=1`).join('&');
    assert.equal((await send('GET', `/posts?${spread}`)).statusCode, 400);
    assert.equal((await send('GET', '/posts?_sort=title,id,title,id')).statusCode, 200);
    const sorts = await send('GET', `/posts?_sort=${Array(2_000).fill('title').join(',')}`);
    assert.equal(sorts.statusCode, 400);
    assert.match(sorts.json().message, /At most 4 _sort fields/);
  });
});
