import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';
import { MAX_LIKE_SCAN } from '../../src/data/query.js';

/**
 * `_like` patterns run on RE2 when they repeat (query.ts): linear in the
 * text, but at a cost per character that grows with the compiled program,
 * and counted repetition makes a short pattern a huge program. One request
 * naming such a pattern over one long field held the event loop for tens of
 * seconds (see MAX_PROGRAM_SIZE). Over HTTP, with a real app on files and a
 * real token: the record is written as any signed-in user may write one.
 */
const LONG_TITLE = 'a'.repeat(5_000);

describe('_like patterns whose program is too large to run', () => {
  let t: TestApp;
  let token = '';

  const get = (url: string) =>
    t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const like = (pattern: string) => get(`/posts?title_like=${encodeURIComponent(pattern)}`);

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'first' }] }) },
    });
    token = await registeredToken(t, 'alice', 'alice-password');
    const bait = await t.app.inject({
      method: 'POST',
      url: '/posts',
      headers: { authorization: `Bearer ${token}` },
      payload: { id: 'bait', title: LONG_TITLE },
    });
    assert.equal(bait.statusCode, 201, bait.body);
  });
  after(() => t.close());

  it('counted repetition that compiles to thousands of instructions is refused (400), not run', async () => {
    // 20,003 instructions from 221 characters; each count alone is within RE2's own bound of 1,000.
    // Before the bound this answered 200 after seconds of CPU on this 5 KB title (37 s on 100 KB).
    for (const pattern of ['[a-z]{1000}'.repeat(20) + '9', '[^z]{100}'.repeat(24) + '9', 'a{600}']) {
      const res = await like(pattern);
      assert.equal(res.statusCode, 400, `${pattern}: ${res.body.slice(0, 200)}`);
      assert.equal(res.json().error, 'validation_failed');
      assert.match(res.json().message, /repeats too much/u);
    }
    // As one of several values of the filter, too: every value is compiled before any record is read.
    const mixed = await get(
      `/posts?title_like=first&title_like=${encodeURIComponent('[a-z]{1000}'.repeat(20))}`,
    );
    assert.equal(mixed.statusCode, 400, mixed.body.slice(0, 200));
  });

  it('patterns up to the bound still run, with json-server results', async () => {
    const ids = async (pattern: string) => {
      const res = await like(pattern);
      assert.equal(res.statusCode, 200, `${pattern}: ${res.body.slice(0, 200)}`);
      return (res.json() as Array<{ id: unknown }>).map((row) => row.id);
    };
    assert.deepEqual(await ids('^a{1,250}$'), []);
    assert.deepEqual(await ids('^a{250}'), ['bait']);
    assert.deepEqual(await ids('.{0,250}9'), []);
    assert.deepEqual(await ids('^(first|second)$'), [1]);
    // Without repetition, the longest pattern allowed: within the bound however it is written.
    assert.deepEqual(await ids(`(b|c)${'a'.repeat(250)}`), []);
    assert.deepEqual(await ids(`(a|c)${'a'.repeat(250)}`), ['bait']);
  });
});

/**
 * Within the program bound RE2 still reads every character of every field a pattern is tested on, at
 * tens of milliseconds of CPU per 100 KB: a list of long fields cost seconds per request. Each request
 * may have its RE2 patterns read MAX_LIKE_SCAN characters; counted here in characters stored, so the
 * same request is answered or refused on any machine.
 */
describe('_like patterns run on RE2 read a bounded amount of text per request', () => {
  const LONG = 100_000;
  /** As many long titles as fit in the budget with the short one: one more is over it. */
  const fitting = Math.floor((MAX_LIKE_SCAN - 'first'.length) / LONG);
  const longPost = (i: number) => ({ id: `long-${i}`, kind: 'long', title: 'a'.repeat(LONG) });
  let t: TestApp;
  let token = '';
  const get = (url: string) =>
    t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    const posts = [
      { id: 1, kind: 'short', title: 'first' },
      ...Array.from({ length: fitting }, (_, i) => longPost(i)),
    ];
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify({ users: [], posts }) },
    });
    token = await registeredToken(t, 'alice', 'alice-password');
  });
  after(() => t.close());

  it('answers a pattern whose text fits the budget, refuses (400) one more long record', async () => {
    const under = await get('/posts?title_like=(b|c)');
    assert.equal(under.statusCode, 200, under.body.slice(0, 200));
    assert.deepEqual(under.json(), []);
    // The values of a filter share the one budget: the second reads the same text again.
    const twice = await get('/posts?title_like=(b|c)&title_like=(d|e)');
    assert.equal(twice.statusCode, 400, twice.body.slice(0, 200));

    const extra = await t.app.inject({
      method: 'POST',
      url: '/posts',
      headers: { authorization: `Bearer ${token}` },
      payload: longPost(fitting),
    });
    assert.equal(extra.statusCode, 201, extra.body.slice(0, 200));
    const over = await get('/posts?title_like=(b|c)');
    assert.equal(over.statusCode, 400, over.body.slice(0, 200));
    assert.equal(over.json().error, 'validation_failed');
    assert.match(over.json().message, /read at most 1048576 characters per request/u);

    // A plain pattern runs on the native engine (a substring search), not on RE2: not charged.
    const plain = await get('/posts?title_like=first');
    assert.equal(plain.statusCode, 200, plain.body.slice(0, 200));
    assert.deepEqual(
      (plain.json() as Array<{ id: unknown }>).map((row) => row.id),
      [1],
    );
  });

  it('runs the other filters first: a list narrowed by them is answered whatever order the query names them in', async () => {
    // kind_ne is no index lookup: a predicate as the _like one is, named after it.
    const res = await get('/posts?title_like=(b|c|f)ir&kind_ne=long');
    assert.equal(res.statusCode, 200, res.body.slice(0, 200));
    assert.deepEqual(
      (res.json() as Array<{ id: unknown }>).map((row) => row.id),
      [1],
    );
  });
});
