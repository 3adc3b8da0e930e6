import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_CONVERTED_ELEMENTS } from '../../src/data/loose.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * json-server's loose comparisons (`a < b`, `a <= b`, `String(a)`) on a stored array convert the whole
 * array to text (Array.prototype.toString: every element converted and joined, an object element
 * becoming "[object Object]"). Any writer may store a field of ~33,000 empty objects (99 KB, under
 * bodyLimit): one conversion costs ~12.6 ms and builds a 528 KB string. The list code converted per
 * comparison, not per record: `_sort=arr` about 2 n log n times (3.4 s with 40 such records beside
 * 10,000 posts), sixteen `arr_ne` values sixteen times per record (12.6 s), a 1.x `_where` once per
 * alternative per record (12.1 s for 220 alternatives over 10 records).
 *
 * Counted without a clock: the calls of Array.prototype.toString on the stored arrays during one
 * request, which must convert each stored array at most once. Over HTTP, on a real app on files, the
 * arrays written as any signed-in user may write them.
 */
const RECORDS = 8;
const ELEMENTS = 3000;

/** Counts the conversions of arrays of at least ELEMENTS elements until restored. */
function countArrayConversions(): { count(): number; restore(): void } {
  const original = Array.prototype.toString;
  let calls = 0;
  Array.prototype.toString = function (this: unknown[]) {
    if (Array.isArray(this) && this.length >= ELEMENTS) calls++;
    return original.call(this);
  };
  return {
    count: () => calls,
    restore: () => {
      Array.prototype.toString = original;
    },
  };
}

for (const grammar of ['0.17', '1'] as const) {
  describe(`stored arrays are converted to text once per request, not per comparison (json-server ${grammar})`, () => {
    let t: TestApp;
    let token = '';
    const get = (url: string) =>
      t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    const page = grammar === '1' ? '_page=1&_per_page=1' : '_limit=1';

    before(async () => {
      t = await createTestApp({
        format: 'json-data-server',
        config: { auth: { passwordSalt: 4 }, rules: { posts: 664 } },
        overrides: grammar === '1' ? { data: { jsonServer: '1' } } : {},
        files: {
          'db.json': JSON.stringify({
            users: [],
            posts: Array.from({ length: 20 }, (_, i) => ({ id: i + 1, title: `post ${i}`, views: i })),
          }),
        },
      });
      token = await registeredToken(t, 'mallory', 'mallory-password');
      const arr = Array.from({ length: ELEMENTS }, () => ({}));
      for (let k = 0; k < RECORDS; k++) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/posts',
          headers: { authorization: `Bearer ${token}` },
          payload: { id: `heavy${k}`, arr },
        });
        assert.equal(res.statusCode, 201, res.body);
      }
    });
    after(() => t.close());

    const conversionsOf = async (url: string): Promise<number> => {
      const counter = countArrayConversions();
      try {
        const res = await get(url);
        assert.equal(res.statusCode, 200, res.body);
      } finally {
        counter.restore();
      }
      return counter.count();
    };
    const assertOncePerArray = async (url: string) => {
      const conversions = await conversionsOf(url);
      assert.ok(conversions <= RECORDS, `${url}: ${conversions} conversions of ${RECORDS} stored arrays`);
    };

    it('_sort on the array field converts each stored array at most once', async () => {
      await assertOncePerArray(`/posts?${page}&_sort=arr`);
    });

    if (grammar === '0.17') {
      it('16 _ne values on the array field convert each stored array at most once', async () => {
        const query = Array.from({ length: 16 }, (_, i) => `arr_ne=${i}`).join('&');
        await assertOncePerArray(`/posts?${page}&${query}`);
      });

      it('filters and a sort on the same field share one conversion per stored array', async () => {
        await assertOncePerArray(`/posts?${page}&arr_gte=a&arr_lte=z&arr_ne=x&arr_like=object&_sort=arr`);
        await assertOncePerArray(`/posts?${page}&arr=x&arr=y&_sort=arr,views`);
      });
    } else {
      it('a _where of 16 `lt` alternatives converts each stored array at most once', async () => {
        const where = { or: Array.from({ length: 16 }, (_, i) => ({ arr: { lt: i } })) };
        await assertOncePerArray(`/posts?${page}&_where=${encodeURIComponent(JSON.stringify(where))}`);
      });

      it('conditions and a sort on the same field share one conversion per stored array', async () => {
        await assertOncePerArray(`/posts?${page}&arr:gt=a&arr:lte=z&_sort=-arr`);
      });
    }

    it('the answers are still json-server’s: records holding the array sort before those without', async () => {
      const res = await get('/posts?_sort=arr');
      const ids = (res.json() as Array<{ id: unknown }>).map((post) => String(post.id));
      assert.equal(ids.length, 20 + RECORDS);
      assert.deepEqual(
        ids.slice(0, RECORDS).sort(),
        Array.from({ length: RECORDS }, (_, k) => `heavy${k}`),
      );
    });
  });
}

describe('a request converts at most MAX_CONVERTED_ELEMENTS array elements to text', () => {
  const ELEMENTS_EACH = 30_000;
  const heavy = Math.ceil(MAX_CONVERTED_ELEMENTS / ELEMENTS_EACH);
  let t: TestApp;

  before(async () => {
    const arr = Array.from({ length: ELEMENTS_EACH }, () => ({}));
    t = await createTestApp({
      format: 'restauth',
      config: { data: { rules: { posts: 666 } } },
      files: {
        'db.json': JSON.stringify({
          posts: [
            { id: 1, title: 'plain', views: 1 },
            ...Array.from({ length: heavy }, (_, k) => ({ id: `heavy${k}`, views: 2, arr })),
          ],
        }),
      },
    });
  });
  after(() => t.close());

  it('a sort or filter reading more is refused (400) before converting it all', async () => {
    for (const query of ['_sort=arr', 'arr_ne=x', 'arr_gte=a']) {
      const res = await t.app.inject({ url: `/posts?${query}` });
      assert.equal(res.statusCode, 400, `${query}: ${res.body.slice(0, 200)}`);
      assert.match(res.json().message, /at most \d+ of their elements per request/u);
    }
  });

  it('narrowed to fewer such records, the same sort runs', async () => {
    const res = await t.app.inject({ url: '/posts?id=heavy0&id=1&_sort=arr' });
    assert.equal(res.statusCode, 200, res.body.slice(0, 200));
    assert.deepEqual(
      (res.json() as Array<{ id: unknown }>).map((post) => post.id),
      ['heavy0', 1],
    );
  });
});
