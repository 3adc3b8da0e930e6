import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * What the data API shows of other users and of itself: GoTrue profiles
 * (user_metadata, kept in the user records of db.json) are their owner's
 * alone under the default rule, `/db` serves only what the routes serve, and
 * Location and Link point at the configured public URL whatever Host says.
 */
const PUBLIC_URL = 'https://api.example.test';

describe('data API: other users and the Host header', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const send = (
    method: string,
    url: string,
    who: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${tokens[who]}`, ...headers },
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { passwords: { algorithm: 'bcrypt', bcryptRounds: 4 }, data: { rules: { posts: 660 } } },
      overrides: { publicUrl: `${PUBLIC_URL}/` },
      files: {
        'db.json': JSON.stringify({
          users: [],
          posts: [{ id: 1, title: 'hello' }],
          // A db.json key named like the dialects' path: never served, nor listed.
          auth: { note: 'not for the data API' },
        }),
      },
    });
    for (const name of ['alice', 'bob']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: {
          email: `${name}@example.test`,
          password: `${name}-password-123`,
          data: { full_name: name, private_note: `${name}'s metadata` },
        },
      });
      assert.equal(res.statusCode, 200, res.body);
      tokens[name] = res.json().access_token;
      ids[name] = res.json().user.id;
    }
    const post = await send('POST', '/posts', 'alice', {}, { title: "alice's", userId: ids.alice });
    assert.equal(post.statusCode, 201, post.body);
  });
  after(() => t.close());

  it("a signed-in user cannot read another user's user_metadata: lists, records, /db, _expand, q", async () => {
    const list = await send('GET', '/users', 'bob');
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json().map((u: { id: string }) => u.id),
      [ids.bob],
    );
    assert.equal(list.json()[0].private_note, "bob's metadata", 'own profile is readable');
    assert.equal((await send('GET', `/users/${ids.alice}`, 'bob')).statusCode, 403);
    for (const url of [
      '/users',
      '/users?q=alice',
      '/users?full_name=alice',
      '/db',
      `/posts?_expand=user&userId=${ids.alice}`,
      '/users?_page=1&_limit=10',
    ]) {
      const res = await send('GET', url, 'bob');
      assert.ok(!res.body.includes("alice's metadata"), `${url}: ${res.body}`);
    }
    const expanded = await send('GET', `/posts?_expand=user&userId=${ids.alice}`, 'bob');
    assert.equal(expanded.json().length, 1);
    assert.equal(expanded.json()[0].user, undefined);
    const total = await send('GET', '/users?_limit=10', 'bob');
    assert.equal(total.headers['x-total-count'], '1');
  });

  it("GoTrue's user data never sets an identity or password-like field of the record, however spelled", async () => {
    // The data API refuses these on a write of one's own record; GoTrue's `data` wrote them anyway.
    const posing = { Role: 'admin', is_super_admin: true, aud: 'admin', 'E-mail': 'ceo@corp.test' };
    const put = await send('PUT', '/auth/v1/user', 'bob', {}, { data: { ...posing, hashedPassword: 'h' } });
    assert.equal(put.statusCode, 200, put.body);
    const record = (await send('GET', `/users/${ids.bob}`, 'bob')).json<Record<string, unknown>>();
    assert.equal(record['private_note'], "bob's metadata");
    for (const key of [...Object.keys(posing), 'hashedPassword']) assert.equal(key in record, false, key);
    const stored = (t.services.documents!.data['users'] as Record<string, unknown>[]).find(
      (user) => user['id'] === ids.bob,
    );
    assert.deepEqual(stored, record);
  });

  it('GET /db never serves the top-level key "auth"', async () => {
    const db = await send('GET', '/db', 'bob');
    assert.equal(db.statusCode, 200);
    assert.deepEqual(Object.keys(db.json()).sort(), ['posts', 'users']);
    assert.ok(!db.body.includes('not for the data API'));
  });

  it('Location and Link use the configured public URL, never the Host header', async () => {
    const created = await send('POST', '/posts', 'bob', { host: 'evil.test' }, { title: 'mine' });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.headers.location, `${PUBLIC_URL}/posts/${created.json().id}`);
    const page = await send('GET', '/posts?_page=1&_limit=1', 'bob', {
      host: 'evil.test',
      'x-forwarded-host': 'evil.test',
    });
    assert.equal(page.statusCode, 200);
    const link = String(page.headers.link);
    assert.ok(!link.includes('evil.test'), link);
    assert.match(link, /^<https:\/\/api\.example\.test\/posts\?_page=1&_limit=1>; rel="first"/);
  });
});
