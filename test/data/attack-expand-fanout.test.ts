import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { MAX_RELATION_BYTES } from '../../src/data/plural.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredToken } from '../support/json-data-server.js';

/**
 * `_expand` (and 1.x's `_embed` of a parent) copies the parent into each of
 * its children's answers: a writer who makes one large post and a few
 * hundred small comments on it turns one GET into an answer hundreds of
 * times the size of what they stored (3,000 comments: 270 MB and 1.35 GB of
 * memory; twice that, past the longest string V8 builds). Over HTTP on a
 * real app on files, the writes made as any writer may make them.
 */
const BODY = 'x'.repeat(90_000);
/** Enough comments that their expanded post passes the bound, and no more. */
const COMMENTS = Math.ceil(MAX_RELATION_BYTES / BODY.length) + 10;

type Send = (method: string, url: string, body?: unknown) => Promise<LightMyRequestResponse>;

/** A 90 KB post and COMMENTS comments on it, each written through the API (comments concurrently). */
async function plant(send: Send): Promise<unknown> {
  const post = await send('POST', '/posts', { title: 'bait', body: BODY });
  assert.equal(post.statusCode, 201, post.body.slice(0, 200));
  const postId = post.json().id as unknown;
  const comments = await Promise.all(
    Array.from({ length: COMMENTS }, (_, i) => send('POST', `/posts/${String(postId)}/comments`, { i })),
  );
  for (const res of comments) assert.equal(res.statusCode, 201, res.body.slice(0, 200));
  return postId;
}

function assertRefused(res: LightMyRequestResponse): void {
  assert.equal(res.statusCode, 400, `${res.statusCode}, ${res.rawPayload.length} bytes`);
  assert.equal(res.json().error, 'validation_failed');
  assert.match(res.json().message, /MiB of embedded or expanded records/u);
}

describe('_expand fan-out: one large parent copied into every child', () => {
  let t: TestApp;
  let token = '';
  const send: Send = (method, url, body) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });

  before(async () => {
    t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      files: { 'db.json': JSON.stringify({ users: [], posts: [], comments: [] }) },
    });
    token = await registeredToken(t, 'mallory', 'mallory-password');
  });
  after(() => t.close());

  it('a list whose expanded parents pass the bound is refused (400); a page of it answers', async () => {
    const postId = await plant(send);
    // Before the bound: 200 and an answer of COMMENTS copies of the post (over 32 MiB).
    assertRefused(await send('GET', '/comments?_expand=post'));
    const page = await send('GET', '/comments?_expand=post&_page=1&_limit=10');
    assert.equal(page.statusCode, 200, page.body.slice(0, 200));
    const rows = page.json() as Array<{ post: { id: unknown; body: string } }>;
    assert.equal(rows.length, 10);
    for (const row of rows) assert.deepEqual([row.post.id, row.post.body.length], [postId, BODY.length]);
    // The plain list, and the post with its comments embedded (each comment once), still answer.
    assert.equal((await send('GET', '/comments')).statusCode, 200);
    const embedded = await send('GET', `/posts/${String(postId)}?_embed=comments`);
    assert.equal(embedded.statusCode, 200);
    assert.equal(embedded.json().comments.length, COMMENTS);
  });
});

describe('json-server 1.x: _embed of a parent, the same fan-out', () => {
  let t: TestApp;
  const send: Send = (method, url, body) =>
    t.app.inject({
      method: method as 'GET',
      url,
      ...(body === undefined ? {} : { payload: body as object }),
    });

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { data: { jsonServer: '1', rules: { posts: 666, comments: 666 } } },
      files: { 'db.json': JSON.stringify({ posts: [], comments: [] }) },
    });
  });
  after(() => t.close());

  it('refused (400) past the bound on the page answered; a small page of the same list answers', async () => {
    await plant(send);
    assertRefused(await send('GET', '/comments?_embed=post'));
    // Embedded before the conditions and the page (json-server 1.x's order), counted as answered.
    const page = await send('GET', '/comments?_embed=post&_page=2&_per_page=5');
    assert.equal(page.statusCode, 200, page.body.slice(0, 200));
    const data = page.json().data as Array<{ post: { body: string } }>;
    assert.deepEqual(
      data.map((row) => row.post.body.length),
      Array.from({ length: 5 }, () => BODY.length),
    );
  });
});
