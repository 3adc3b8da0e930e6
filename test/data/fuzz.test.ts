import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Generated hostile requests against every data route (fast-check): keys
 * that reach prototypes, deep nesting, NULs, lone surrogates, look-alike
 * Unicode, huge strings, in paths, query parameters and bodies, from the
 * owner of some records and from another user. Checked: never a 5xx, the
 * other user's records unchanged, and the server still answering afterwards.
 * The seed is fixed so a failure replays; fast-check prints the request.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);

/** Percent-encodes every UTF-8 byte (encodeURIComponent throws on a lone surrogate). */
const encode = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

const nasty = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    '__proto__.polluted',
    'constructor.prototype',
    'a.b.c',
    '\u0000',
    'nul\u0000byte',
    '\ud800',
    '\u212Aate',
    'ＡＤＭＩＮ',
    '..',
    '%',
    '',
    ' ',
    '1',
    '-1',
    '1e309',
    'NaN',
    'users',
    'comments',
    'posts',
    'auth',
    'db',
  ),
  fc.string({ maxLength: 12, unit: 'binary' }),
  fc.string({ minLength: 2_000, maxLength: 5_000 }),
);

/** JSON text, some of it nested far deeper than anything should store. */
const jsonText = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.dictionary(nasty, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }).map((value) => JSON.stringify(value)),
  fc
    .tuple(nasty, fc.integer({ min: 30, max: 3_000 }))
    .map(([key, depth]) => `{${JSON.stringify(key)}:${'['.repeat(depth)}${']'.repeat(depth)}}`),
  fc.constantFrom(
    '{"__proto__": {"polluted": 1}}',
    '{"constructor": {"prototype": {"polluted": 1}}}',
    '{"id": "__proto__"}',
    '{"userId": "bob"}',
    '{"id": 1}',
    '',
    '{',
    'null',
    '[]',
    '"text"',
  ),
);

const query = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom('q', '_sort', '_order', '_page', '_limit', '_start', '_end', '_embed', '_expand'),
        fc.constantFrom(
          '_dependent',
          'title',
          'title_like',
          'views_gte',
          'views_lte',
          'title_ne',
          'author.name',
        ),
        nasty,
        nasty.map((key) => `${key}_like`),
      ),
      nasty,
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&'));

const path = fc.oneof(
  fc.constantFrom('/posts', '/posts/1', '/posts/2', '/posts/1/comments', '/profile', '/db', '/users', '/'),
  fc.constantFrom('/users/alice', '/users/bob', '/comments/1'),
  fc
    .array(nasty, { minLength: 1, maxLength: 3 })
    .map((segments) => segments.map((segment) => `/${encode(segment)}`).join('')),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
  path,
  query,
  body: fc.option(jsonText, { nil: undefined }),
  who: fc.constantFrom('alice', 'bob', null),
});

describe('data API: generated hostile requests', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 664, comments: 640, profile: 660 } },
      files: {
        'db.json': JSON.stringify({
          // Without credentials yet: a name records already name as owner cannot be registered.
          users: [
            { id: 'alice', bio: 'alice bio' },
            { id: 'bob', bio: 'bob bio' },
          ],
          posts: [
            { id: 1, title: 'alice post', views: 1, userId: 'alice', author: { name: 'a' } },
            { id: 2, title: 'bob post', views: 2, userId: 'bob' },
          ],
          comments: [
            { id: 1, postId: 1, body: 'alice comment', userId: 'alice' },
            { id: 2, postId: 2, body: 'bob comment', userId: 'bob' },
          ],
          profile: { theme: 'dark' },
        }),
      },
    });
    for (const name of ['alice', 'bob']) {
      const password = `${name}-password-123`;
      await t.services.store.replacePasswordHash(name, await t.services.hasher.hash(password), null);
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { username: name, password },
      });
      assert.equal(res.statusCode, 200, res.body);
      tokens[name] = res.json().access_token;
    }
  });
  after(() => t.close());

  const bobsRecords = async () => {
    const bob = { authorization: `Bearer ${tokens.bob}` };
    const posts = await t.app.inject({ url: '/posts?userId=bob', headers: bob });
    const comments = await t.app.inject({ url: '/comments?userId=bob', headers: bob });
    const user = await t.app.inject({ url: '/users/bob', headers: bob });
    return { posts: posts.json(), comments: comments.json(), user: user.json() };
  };

  it('no 5xx, nothing of bob changed by alice, the server still answers', { timeout: 300_000 }, async () => {
    let bobBefore = await bobsRecords();
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, query, body, who }) => {
        const url = query ? `${path}?${query}` : path;
        const res = await t.app.inject({
          method: method as 'GET',
          url,
          headers: {
            ...(who === null ? {} : { authorization: `Bearer ${tokens[who]}` }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { payload: body }),
        });
        assert.ok(res.statusCode < 500, `${method} ${url} ${body ?? ''} → ${res.statusCode} ${res.body}`);
        // Bob may change his own records: his requests move the baseline, everyone else's must not.
        if (who === 'bob') {
          bobBefore = await bobsRecords();
        } else {
          const bobNow = await bobsRecords();
          // Posts are 664 (any signed-in user may edit them): bob's comments and record are his alone.
          assert.deepEqual(bobNow.comments, bobBefore.comments);
          assert.deepEqual(bobNow.user, bobBefore.user);
        }
        assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype polluted');
      }),
      { seed: SEED, numRuns: 400, endOnFailure: true, includeErrorInReport: true },
    );
    for (const url of ['/posts', '/db', '/posts?q=a', '/comments?_expand=post', '/posts?_embed=comments']) {
      const res = await t.app.inject({ url, headers: { authorization: `Bearer ${tokens.alice}` } });
      assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 200)}`);
    }
  });
});
