import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * Filtered lists served from the field indexes (src/data/field-index.ts)
 * answer exactly as the scan does: two apps start on the same random
 * db.json, one indexing (the default) and one scanning (maxIndexedFields 0),
 * and fast-check sends both the same random writes (create, replace, patch,
 * delete, cascade delete) and queries, in both grammars, comparing status,
 * body and paging headers. Indexes (equality and range) are built by the
 * first queries and must then follow every write. The seed is fixed so a failure replays.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);

/** Values that meet json-server's loose and strict comparisons in every way: 1 and "1", null, true, arrays. */
const scalar = fc.constantFrom<unknown>(0, 1, 2, '1', '2', 'x', 'X', '', true, false, null, 1.5, '1.5');
const value = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([1], ['x', 1], [], { name: 'x' }, { toString: 1 }) },
);
const author = fc.oneof(
  fc.record({ name: scalar }, { requiredKeys: [] }),
  scalar,
  fc.constant({ name: { first: 'x' } }),
);
const fields = fc.record(
  { userId: value, title: value, views: value, author, tag: value },
  { requiredKeys: [] },
);
/** What a write may carry: userId is the owner property, which an anonymous write cannot set or change. */
const writable = fc.record({ title: value, views: value, author, tag: value }, { requiredKeys: [] });
/** Ids from a small range, numbers and strings, so writes collide with stored records and with each other. */
const id = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }).map(String));

/** A db.json as a hand may have left it: duplicate ids, "1" beside 1, entries that are not records. */
const documentOf = (posts: unknown[], comments: unknown[]) => JSON.stringify({ users: [], posts, comments });
const initial = fc.tuple(
  fc.array(
    fc.oneof(
      { weight: 12, arbitrary: fc.tuple(id, fields).map(([i, f]) => ({ id: i, ...f })) },
      { weight: 1, arbitrary: fields },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(7, 'text', null, ['x', 1]) },
    ),
    { maxLength: 25 },
  ),
  fc.array(
    fc
      .tuple(fc.integer({ min: 100, max: 140 }), id, fields)
      .map(([i, postId, f]) => ({ id: i, postId, ...f })),
    { maxLength: 15 },
  ),
);

const encode = (text: string) => encodeURIComponent(text);
const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** A write both apps receive. New records carry their ids: a random one would differ between the apps. */
const write = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .tuple(id, writable)
      .map(([i, f]) => ({ method: 'POST', path: '/posts', body: { id: i, ...f } })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(id, writable)
      .map(([i, f]) => ({ method: 'POST', path: '/comments', body: { id: `c${text(i)}`, postId: i, ...f } })),
  },
  // Replacements most: they keep the collection's length, so only the change feed tells an index.
  {
    weight: 4,
    arbitrary: fc
      .tuple(id, writable)
      .map(([i, f]) => ({ method: 'PUT', path: `/posts/${text(i)}`, body: f })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(id, writable)
      .map(([i, f]) => ({ method: 'PATCH', path: `/posts/${text(i)}`, body: f })),
  },
  { weight: 1, arbitrary: id.map((i) => ({ method: 'DELETE', path: `/posts/${text(i)}`, body: undefined })) },
  {
    weight: 1,
    arbitrary: id.map((i) => ({
      method: 'DELETE',
      path: `/posts/${text(i)}?_dependent=comments`,
      body: undefined,
    })),
  },
);

const queryValue = fc.constantFrom(
  '0',
  '1',
  '2',
  'x',
  'X',
  '',
  'true',
  'null',
  '1.5',
  '[object Object]',
  '1,x',
);
const pairs = (keys: fc.Arbitrary<string>) =>
  fc
    .array(fc.tuple(keys, queryValue), { minLength: 1, maxLength: 4 })
    .map((list) => list.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&'));

/** json-server 0.17's grammar: equality on fields, deep paths and the id, with the other filters and paging. */
const queryV017 = fc.tuple(
  fc.constantFrom('/posts', '/comments', '/posts/1/comments'),
  pairs(
    fc.constantFrom(
      'userId',
      'userId',
      'title',
      'id',
      'views',
      'author',
      'author.name',
      'tag',
      'postId',
      'missing',
      'userId.length',
      'views_gte',
      'views_lte',
      'views_gte',
      'author.name_gte',
      'title_lte',
      'title_ne',
      'title_like',
      'q',
      '_sort',
      '_order',
      '_page',
      '_limit',
      '_start',
      '_end',
      '_embed',
      '_expand',
    ),
  ).map((query) =>
    query.replace(/_embed=[^&]*/gu, '_embed=comments').replace(/_expand=[^&]*/gu, '_expand=post'),
  ),
);

/** json-server 1.x's grammar: `field:op=value` (bare is eq), deep paths, _where, _sort, _page, _embed. */
const queryV1 = fc.tuple(
  fc.constantFrom('/posts', '/comments'),
  fc.oneof(
    pairs(
      fc.constantFrom(
        'userId',
        'userId:eq',
        'title',
        'id',
        'views:gt',
        'views:lte',
        'views:gte',
        'views:lt',
        'author.name:gt',
        'title:lte',
        'author.name',
        'author.name:eq',
        'author.name.first',
        'tag:ne',
        'tag:in',
        'postId',
        'title:contains',
        '_sort',
        '_page',
        '_per_page',
        '_embed',
      ),
    ).map((query) =>
      query.replace(/_embed=[^&]*/gu, '_embed=comments').replace(/_sort=[^&]*/gu, '_sort=-views,id'),
    ),
    fc
      .tuple(fc.constantFrom('userId', 'title', 'tag'), scalar, fc.constantFrom('userId', 'views'), scalar)
      .map(
        ([a, x, b, y]) =>
          `_where=${encode(JSON.stringify({ [a]: { eq: x }, or: [{ [b]: { eq: y } }, { author: { name: { eq: x } } }] }))}`,
      ),
  ),
);

type Step = { kind: 'write'; method: string; path: string; body: unknown } | { kind: 'read'; url: string };

const steps = (query: fc.Arbitrary<[string, string]>) =>
  fc.array(
    fc.oneof(
      { weight: 2, arbitrary: write.map((w): Step => ({ kind: 'write', ...w })) },
      { weight: 3, arbitrary: query.map(([path, q]): Step => ({ kind: 'read', url: `${path}?${q}` })) },
    ),
    { minLength: 1, maxLength: 30 },
  );

async function answer(t: TestApp, method: string, url: string, body: unknown) {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    ...(body === undefined
      ? {}
      : { payload: body as object, headers: { 'content-type': 'application/json' } }),
  });
  return {
    status: res.statusCode,
    body: res.body,
    total: res.headers['x-total-count'],
    link: res.headers.link,
  };
}

for (const grammar of ['0.17', '1'] as const) {
  describe(`field indexes answer as the scan does (json-server ${grammar} grammar)`, () => {
    // The initial document is random too, drawn once from the seed: the property's runs then write on.
    const [posts, comments] = fc.sample(initial, { seed: SEED + grammar.length, numRuns: 1 })[0]!;
    let indexed: TestApp;
    let scanning: TestApp;

    before(async () => {
      const config = {
        data: { rules: { posts: 666, comments: 666 }, ...(grammar === '1' ? { jsonServer: '1' } : {}) },
      };
      const files = { 'db.json': documentOf(posts, comments) };
      indexed = await createTestApp({ format: 'restauth', config, files });
      scanning = await createTestApp({ format: 'restauth', config, files, maxIndexedFields: 0 });
    });
    after(async () => {
      await indexed.close();
      await scanning.close();
    });

    it('equal answers for random data, writes and queries', { timeout: 300_000 }, async () => {
      let reads = 0;
      let matched = 0;
      let writes = 0;
      let written = 0;
      await fc.assert(
        fc.asyncProperty(steps(grammar === '1' ? queryV1 : queryV017), async (list) => {
          for (const step of list) {
            const method = step.kind === 'write' ? step.method : 'GET';
            const url = step.kind === 'write' ? step.path : step.url;
            const body = step.kind === 'write' ? step.body : undefined;
            const expected = await answer(scanning, method, url, body);
            const actual = await answer(indexed, method, url, body);
            assert.deepEqual(actual, expected, `${method} ${url} ${JSON.stringify(body) ?? ''}`);
            if (step.kind === 'write') {
              writes++;
              if (expected.status < 300) written++;
            } else {
              reads++;
              if (expected.status === 200 && expected.body !== '[]') matched++;
            }
          }
        }),
        { seed: SEED, numRuns: 150, endOnFailure: true },
      );
      // The comparison means something only if many queries found records.
      assert.ok(matched > reads / 5, `${matched} of ${reads} queries matched records`);
      assert.ok(written > writes / 3, `${written} of ${writes} writes changed records`);
    });
  });
}

describe('field indexes follow a reload of db.json', () => {
  let t: TestApp;
  const DB = {
    users: [],
    posts: [
      { id: 1, userId: 1 },
      { id: 2, userId: 2 },
    ],
  };

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { data: { watch: true, rules: { posts: 666 } } },
      files: { 'db.json': JSON.stringify(DB) },
    });
  });
  after(() => t.close());

  it('a --watch reload replaces what an index was built on', async () => {
    const ids = async () =>
      (await t.app.inject({ url: '/posts?userId=1' })).json().map((p: { id: number }) => p.id);
    assert.deepEqual(await ids(), [1]);
    // Written outside restauth, applied by the watcher's commit; awaited through the document it swaps in.
    const reloaded = new Promise<void>((resolve) => t.services.documents!.onReload(resolve));
    await writeFile(
      join(t.dir, 'db.json'),
      JSON.stringify({ ...DB, posts: [{ id: 3, userId: 1 }, ...DB.posts.map((p) => ({ ...p, userId: 9 }))] }),
    );
    await reloaded;
    assert.deepEqual(await ids(), [3]);
  });
});

/** Owners in the documents of the owner-rule comparison: the two signed-in users, a stranger, loose look-alikes. */
const owner = fc.constantFrom<unknown>('alice', 'bob', 'carol', 1, null, { toString: 1 }, ['alice']);
const ownedPosts = fc.array(
  fc.tuple(id, fields, owner).map(([i, f, o]) => ({ ...f, id: i, ...(o === null ? {} : { userId: o }) })),
  { maxLength: 25 },
);

for (const grammar of ['0.17', '1'] as const) {
  describe(`owner-rule lists read from the owner's index as the scan does (json-server ${grammar} grammar)`, () => {
    const posts = fc.sample(ownedPosts, { seed: SEED + 7 + grammar.length, numRuns: 1 })[0]!;
    const apps: Array<{ t: TestApp; tokens: Record<string, string> }> = [];

    before(async () => {
      for (const maxIndexedFields of [8, 0]) {
        const t = await createTestApp({
          format: 'json-data-server',
          config: { auth: { passwordSalt: 4 }, rules: { posts: 600, comments: 600 } },
          overrides: grammar === '1' ? { data: { jsonServer: '1' } } : {},
          files: {
            'db.json': JSON.stringify({ users: [{ id: 'alice' }, { id: 'bob' }], posts, comments: [] }),
          },
          maxIndexedFields,
        });
        const tokens: Record<string, string> = {};
        for (const name of ['alice', 'bob']) {
          await t.services.store.replacePasswordHash(name, await t.services.hasher.hash(`${name}-pw`), null);
          const res = await t.app.inject({
            method: 'POST',
            url: '/auth/login',
            payload: { username: name, password: `${name}-pw` },
          });
          assert.equal(res.statusCode, 200, res.body);
          tokens[name] = res.json().access_token;
        }
        apps.push({ t, tokens });
      }
    });
    after(async () => {
      for (const { t } of apps) await t.close();
    });

    it('equal answers for each owner, through writes', { timeout: 300_000 }, async () => {
      const ownerStep = fc.tuple(
        fc.constantFrom('alice', 'bob'),
        fc.oneof(
          { weight: 2, arbitrary: write.map((w): Step => ({ kind: 'write', ...w })) },
          {
            weight: 3,
            arbitrary: (grammar === '1' ? queryV1 : queryV017).map(([, q]): Step => ({
              kind: 'read',
              url: `/posts?${q}`,
            })),
          },
          { weight: 1, arbitrary: fc.constant<Step>({ kind: 'read', url: '/posts' }) },
        ),
      );
      let matched = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(ownerStep, { minLength: 1, maxLength: 20 }), async (list) => {
          for (const [who, step] of list) {
            const method = step.kind === 'write' ? step.method : 'GET';
            const url = step.kind === 'write' ? step.path : step.url;
            const body = step.kind === 'write' ? step.body : undefined;
            const [indexed, scanning] = await Promise.all(
              apps.map(async ({ t, tokens }) => {
                const res = await t.app.inject({
                  method: method as 'GET',
                  url,
                  headers: {
                    authorization: `Bearer ${tokens[who]}`,
                    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                  },
                  ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
                });
                return {
                  status: res.statusCode,
                  body: res.body,
                  total: res.headers['x-total-count'],
                  link: res.headers.link,
                };
              }),
            );
            assert.deepEqual(indexed, scanning, `${who}: ${method} ${url} ${JSON.stringify(body) ?? ''}`);
            if (
              step.kind === 'read' &&
              indexed!.status === 200 &&
              !/^(\[\]|.*"data":\[\])/.test(indexed!.body)
            ) {
              matched++;
            }
          }
        }),
        { seed: SEED, numRuns: 60, endOnFailure: true },
      );
      assert.ok(matched > 20, `${matched} owner lists found records`);
    });
  });
}
