import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * json-server-auth's routes and guards against what a client can send: input of every wrong shape on
 * every route (a 4xx in its words, never a 500), an address retyped with other case or spaces posing
 * as a second account, and the ways around a guard json-server-auth's users would try: embedding or
 * expanding the guarded collection from another one, its nested route under a user, an owner named in
 * the query string of a write, a guard widened in the URL, a token in the query string.
 */

const ALICE = { email: 'alice@mail.com', password: 'alice passphrase' };
const BOB = { email: 'bob@mail.com', password: 'bob passphrase' };
const REGISTER = ['/register', '/signup', '/users'];
const LOGIN = ['/login', '/signin'];

describe('json-server-auth dialect under attack', () => {
  let t: TestApp;
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };

  const send = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, token?: string) =>
    t.app.inject({
      method,
      url,
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  const raw = (url: string, body: string) =>
    t.app.inject({ method: 'POST', url, body, headers: { 'content-type': 'application/json' } });
  const account = async (who: typeof ALICE) => {
    const res = await send('POST', '/register', who);
    assert.equal(res.statusCode, 201, res.body);
    const { accessToken, user } = res.json<{ accessToken: string; user: { id: string } }>();
    return { token: accessToken, id: user.id };
  };

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        dialects: { jsonServerAuth: { enabled: true } },
        // On the main port: what a proxy in front keeps from the internet by its path.
        metrics: { enabled: true },
        data: {
          enabled: true,
          routes: {
            '/secrets*': '/600/secrets$1',
            '/notes*': '/640/notes$1',
            '/posts*': '/664/posts$1',
            '/api/*': '/$1',
          },
        },
      },
      files: { 'db.json': JSON.stringify({ users: [], secrets: [], notes: [], posts: [] }) },
    });
    alice = await account(ALICE);
    bob = await account(BOB);
    for (const [collection, text] of [
      ['secrets', "alice's secret"],
      ['notes', "alice's note"],
      ['posts', "alice's post"],
    ] as const) {
      // Her own id as owner, which every rule lets her name (664 stamps none by itself).
      const res = await send('POST', `/${collection}`, { text, userId: alice.id }, alice.token);
      assert.equal(res.statusCode, 201, res.body);
    }
  });
  after(() => t.close());

  it("a guard is a data API collection's: before any other route it is no path, as in json-server-auth", async () => {
    // Taken off every URL before routing, it led to every route under another path: a proxy keeping
    // /metrics from the internet by its path let /600/metrics by (and /600/auth/v1/admin/... where mounted).
    for (const path of ['/metrics', '/health', '/register']) {
      const direct = await send(
        path === '/register' ? 'POST' : 'GET',
        path,
        path === '/register' ? {} : undefined,
      );
      assert.notEqual(direct.statusCode, 404, `${path} is served: ${direct.body}`);
      for (const guard of ['600', '644', '666']) {
        const method = path === '/register' ? 'POST' : 'GET';
        const res = await send(method, `/${guard}${path}`, method === 'POST' ? ALICE : undefined);
        assert.equal(res.statusCode, 404, `/${guard}${path}: ${res.body}`);
      }
    }
    // The collections' own guarded paths still answer.
    assert.equal((await send('GET', '/664/posts')).statusCode, 200);
  });

  it("a routes.json rewrite leads to the data API and json-server-auth's routes only, as in json-server", async () => {
    // `{"/api/*": "/$1"}` led to every route: a proxy keeping /metrics from the internet let /api/metrics by.
    for (const path of ['/metrics', '/health', '/auth/v1/settings', '/openapi.json']) {
      const res = await send('GET', `/api${path}`);
      assert.equal(res.statusCode, 404, `/api${path}: ${res.body}`);
    }
    // What json-server's rewriter reached (its router) and json-server-auth's (its routes) still answer.
    const posts = await send('GET', '/api/posts');
    assert.equal(posts.statusCode, 200, posts.body);
    assert.equal(posts.json<unknown[]>().length, 1);
    assert.equal((await send('GET', '/api/664/posts')).statusCode, 200);
    const login = await send('POST', '/api/login', ALICE);
    assert.equal(login.statusCode, 200, login.body);
    // A browser's preflight of a rewritten URL is answered as before (CORS answers it ahead of routing).
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/login',
      headers: { origin: 'http://app.test', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.statusCode, 204, preflight.body);
    const signup = await send('POST', '/api/register', {
      email: 'carol@acme.test',
      password: 'carol passphrase',
    });
    assert.equal(signup.statusCode, 201, signup.body);
  });

  it('bad JSON, a body that is no object, fields of other types: 400 in its words on every route', async () => {
    for (const path of [...REGISTER, ...LOGIN]) {
      for (const body of ['{"email": ', '[]', '"alice@mail.com"', 'null', '42']) {
        const res = await raw(path, body);
        assert.equal(res.statusCode, 400, `${path} ${body}: ${res.body}`);
        assert.equal(typeof res.json(), 'string', 'a JSON string, as json-server-auth answered');
      }
      for (const body of [
        { email: ALICE.email, password: 12345678 },
        { email: ALICE.email, password: { length: 20 } },
        { email: ALICE.email, password: [ALICE.password] },
        { email: [ALICE.email], password: ALICE.password },
        { email: { toString: ALICE.email }, password: ALICE.password },
        { email: ALICE.email },
        { password: ALICE.password },
      ]) {
        const res = await send('POST', path, body);
        assert.equal(res.statusCode, 400, `${path} ${JSON.stringify(body)}: ${res.body}`);
        assert.equal(res.json(), 'Email and password are required');
      }
    }
  });

  it('a body over the limit is 413, never read whole', async () => {
    for (const path of ['/register', '/login']) {
      const res = await send('POST', path, { email: 'big@mail.com', password: 'x'.repeat(2 * 1024 * 1024) });
      assert.equal(res.statusCode, 413, res.body);
    }
  });

  it('the address retyped with other case or spaces is the same account: no second one, and it signs in', async () => {
    for (const email of ['ALICE@MAIL.COM', ' alice@mail.com ', 'Alice@Mail.Com\t']) {
      const res = await send('POST', '/register', { email, password: 'another passphrase' });
      assert.equal(res.statusCode, 400, `${JSON.stringify(email)}: ${res.body}`);
      assert.equal(res.json(), 'Email already exists');
      const login = await send('POST', '/login', { email, password: ALICE.password });
      assert.equal(login.statusCode, 200, login.body);
      assert.equal(login.json<{ user: { id: string } }>().user.id, alice.id);
    }
    const users = await send('GET', '/users', undefined, alice.token);
    assert.deepEqual(
      users.json<Array<{ id: string }>>().map((user) => user.id),
      [alice.id],
    );
  });

  it("a 600 collection embedded from another user's record or under it stays its owner's", async () => {
    const embedded = await send('GET', `/users/${alice.id}?_embed=secrets`, undefined, bob.token);
    assert.equal(embedded.statusCode, 403, embedded.body);
    const list = await send('GET', '/users?_embed=secrets', undefined, bob.token);
    assert.equal(list.statusCode, 200, list.body);
    assert.doesNotMatch(list.body, /alice's secret/);
    // Her user record is hers alone (users 600): its nested route answers as it does.
    const nested = await send('GET', `/users/${alice.id}/secrets`, undefined, bob.token);
    assert.equal(nested.statusCode, 403, nested.body);
    const filtered = await send('GET', `/secrets?userId=${alice.id}`, undefined, bob.token);
    assert.deepEqual(filtered.json(), []);
    const expanded = await send('GET', '/secrets?_expand=user', undefined, bob.token);
    assert.deepEqual(expanded.json(), []);
    const all = await send('GET', '/db', undefined, bob.token);
    assert.doesNotMatch(all.body, /alice's secret/);
    // Its owner sees it all the ways.
    const own = await send('GET', `/users/${alice.id}?_embed=secrets`, undefined, alice.token);
    assert.match(own.body, /alice's secret/);
  });

  it('a nested route answers as its parent does first: 401, 403 or 404 for a parent the caller may not read', async () => {
    const status = async (method: 'GET' | 'HEAD' | 'POST', url: string, token?: string) => {
      const res = await t.app.inject({
        method,
        url,
        ...(method === 'POST' ? { payload: { text: 'planted' } } : {}),
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
      return res.statusCode;
    };
    // Users (600, restauth's default) and secrets (600): bob reads neither alice's user record nor her
    // secret 1, while posts (664) and notes (640) are his to read; the nested routes listed them anyway.
    for (const [parent, children] of [
      [`/users/${alice.id}`, '/posts'],
      [`/users/${alice.id}`, '/notes'],
      ['/secrets/1', '/notes'],
      ['/600/secrets/1', '/notes'],
      // No such secret: 404 under an owner-only rule, as GET /secrets/99 answers.
      ['/secrets/99', '/notes'],
    ] as const) {
      for (const token of [bob.token, undefined]) {
        const expected = await status('GET', parent, token);
        assert.notEqual(expected, 200, `${parent} is not bob's to read`);
        for (const method of ['GET', 'HEAD', 'POST'] as const)
          assert.equal(
            await status(method, parent + children, token),
            expected,
            `${method} ${parent}${children}`,
          );
      }
    }
    assert.equal(
      (await send('GET', '/notes?text=planted', undefined, alice.token)).json<unknown[]>().length,
      0,
    );
    // Under a parent the caller may read, the children's own rule answers, as at /posts?userId=.
    const own = await send('GET', `/users/${alice.id}/posts`, undefined, alice.token);
    assert.deepEqual(
      own.json<Array<{ text: string }>>().map((post) => post.text),
      ["alice's post"],
    );
    assert.deepEqual((await send('GET', `/users/${bob.id}/posts`, undefined, bob.token)).json(), []);
    // A parent collection anyone reads whole keeps json-server's answer for a missing parent: /notes?postId=99.
    const missing = await send('GET', '/posts/99/notes', undefined, bob.token);
    assert.equal(missing.statusCode, 200, missing.body);
    assert.deepEqual(missing.json(), (await send('GET', '/notes?postId=99', undefined, bob.token)).json());
  });

  it('a 664 record expanded to its owner shows no other user record than the 600 users rule allows', async () => {
    const expanded = await send('GET', '/posts?_expand=user', undefined, bob.token);
    assert.equal(expanded.statusCode, 200, expanded.body);
    const [post] = expanded.json<Array<{ text: string; userId: string; user?: unknown }>>();
    assert.equal(post?.text, "alice's post");
    assert.equal(post?.userId, alice.id);
    assert.equal(post?.user, undefined, "alice's user record is hers alone");
    const own = await send('GET', '/posts?_expand=user', undefined, alice.token);
    assert.equal(own.json<Array<{ user?: { id: string } }>>()[0]?.user?.id, alice.id, 'her own, expanded');
  });

  it('a write cannot hand a record to another user: in the body, the query string or a nested route', async () => {
    const inBody = await send('POST', '/notes', { text: 'planted', userId: alice.id }, bob.token);
    assert.equal(inBody.statusCode, 403, inBody.body);
    const inQuery = await send('POST', `/notes?userId=${alice.id}`, { text: 'planted' }, bob.token);
    assert.equal(inQuery.statusCode, 201, inQuery.body);
    assert.equal(inQuery.json<{ userId: string }>().userId, bob.id, 'the query names no owner');
    const nested = await send('POST', `/users/${alice.id}/notes`, { text: 'planted' }, bob.token);
    assert.equal(nested.statusCode, 403, nested.body);
    // 640: signed-in users read every note; each planted one is bob's own.
    const planted = (await send('GET', '/notes?text=planted', undefined, alice.token)).json<
      Array<{ userId: string }>
    >();
    assert.deepEqual(
      planted.map((note) => note.userId),
      [bob.id],
    );
    const patched = await send('PATCH', '/notes/1', { text: 'defaced' }, bob.token);
    assert.equal(patched.statusCode, 403, patched.body);
  });

  it('a guard in the URL narrows, never widens; a token in the query string is no token', async () => {
    for (const url of ['/666/secrets', '/644/secrets', '/600/secrets']) {
      const res = await send('GET', url, undefined, bob.token);
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      assert.deepEqual(res.json(), [], url);
      assert.equal((await send('GET', url)).statusCode, 401, `${url} without a token`);
    }
    for (const name of ['access_token', 'token', 'accessToken', 'apikey']) {
      const res = await send('GET', `/secrets?${name}=${alice.token}`);
      assert.equal(res.statusCode, 401, `?${name}=: ${res.body}`);
    }
  });
});
