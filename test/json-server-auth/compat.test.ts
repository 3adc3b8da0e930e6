import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { call, type Answer } from '../support/json-server.js';
import { startJsonServerAuth, type RunningJsonServerAuth } from '../support/json-server-auth.js';

/**
 * The same requests, in the same order, to json-server-auth 2.1.0 itself (on json-server 0.17.4, in this
 * process) and to restauth started on a copy of the same db.json and routes file: its README's flows
 * and guards. Status and body must match, with the users' ids (json-server-auth's 1, 2 ...; restauth's
 * UUIDs) and the tokens read through; the deliberate differences (docs/data-api.md, json-server-auth)
 * are asserted one by one.
 */

const fixture = {
  users: [],
  posts: [{ id: 1, title: 'hello', userId: 999 }],
  messages: [],
};
// Its README's routes: the rewrite form and its CLI's shorthand side by side.
const routes = { '/users*': '/600/users$1', messages: 640, '/posts*': '/664/posts$1' };

interface Side {
  base: string;
  /** Each registered user's id on this side, by address. */
  ids: Map<string, string | number>;
  tokens: Map<string, string>;
}

describe('json-server-auth 2.1.0 and restauth side by side', () => {
  let dir: string;
  let theirs: RunningJsonServerAuth;
  let t: TestApp;
  const sides: { theirs: Side; ours: Side } = {
    theirs: { base: '', ids: new Map(), tokens: new Map() },
    ours: { base: '', ids: new Map(), tokens: new Map() },
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-jsa-compat-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(fixture));
    theirs = await startJsonServerAuth(join(dir, 'db.json'), routes);
    sides.theirs.base = theirs.base;
    t = await createTestApp({
      format: 'restauth',
      keepConfigFile: true,
      files: {
        'json-server.json': JSON.stringify({ routes: 'routes.json' }),
        'routes.json': JSON.stringify(routes),
        'db.json': JSON.stringify(fixture),
      },
    });
    sides.ours.base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await theirs.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * An answer with its side's user ids and tokens named alike (`<user olivier@mail.com>`, `<token>`):
   * every userId, and the id of a user record (an answer's `user`, what /users answers).
   */
  const readThrough = (side: Side, answer: Answer, usersPath = false): Answer => {
    const names = new Map([...side.ids].map(([email, id]) => [String(id), `<user ${email}>`]));
    const walk = (value: unknown, isUser: boolean): unknown => {
      if (Array.isArray(value)) return value.map((item) => walk(item, isUser));
      if (typeof value !== 'object' || value === null) return value;
      return Object.fromEntries(
        Object.entries(value).map(([key, field]) => {
          if (key === 'accessToken') return [key, '<token>'];
          const isUserId = key === 'userId' || (key === 'id' && isUser);
          if (isUserId && names.has(String(field))) return [key, names.get(String(field))];
          return [key, walk(field, key === 'user')];
        }),
      );
    };
    return {
      ...answer,
      body: walk(answer.body, usersPath),
      headers: { 'content-type': answer.headers['content-type'] ?? null },
    };
  };

  const replaceIds = (side: Side, body: unknown): unknown =>
    JSON.parse(
      JSON.stringify(body).replaceAll(/"<id ([^>]+)>"/gu, (_, email: string) =>
        JSON.stringify(side.ids.get(email)),
      ),
    );
  const send = async (side: Side, method: string, path: string, body?: unknown, as?: string) => {
    const token = as === undefined ? undefined : side.tokens.get(as);
    return call(
      side.base,
      method,
      path.replaceAll(/<id ([^>]+)>/gu, (_, email: string) => String(side.ids.get(email))),
      {
        ...(body === undefined ? {} : { body: replaceIds(side, body) }),
        ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      },
    );
  };

  /** Both answers, read through. */
  const both = async (method: string, path: string, body?: unknown, as?: string) => {
    const [a, b] = [
      await send(sides.theirs, method, path, body, as),
      await send(sides.ours, method, path, body, as),
    ];
    const usersPath = /^(\/\d{3})?\/users/u.test(path);
    return {
      theirs: readThrough(sides.theirs, a, usersPath),
      ours: readThrough(sides.ours, b, usersPath),
      raw: { theirs: a, ours: b },
    };
  };
  const same = async (method: string, path: string, body?: unknown, as?: string) => {
    const answers = await both(method, path, body, as);
    assert.deepEqual(answers.ours, answers.theirs, `${method} ${path} ${JSON.stringify(body ?? '')}`);
    return answers;
  };
  /** Registers or signs in on both sides, keeping each side's id and token for the address, then compares. */
  const signIn = async (path: string, body: Record<string, unknown> & { email: string }, status: number) => {
    const answers = await both('POST', path, body);
    for (const side of ['theirs', 'ours'] as const) {
      const answer = answers.raw[side];
      assert.equal(answer.status, status, `${side}: ${JSON.stringify(answer.body)}`);
      const { accessToken, user } = answer.body as { accessToken: string; user: { id: string | number } };
      // json-server-auth's claims on both sides: sub is the user's id, email the address.
      const claims = decodeJwt(accessToken);
      assert.equal(claims.sub, String(user.id));
      assert.equal(claims.email, body.email);
      sides[side].ids.set(body.email, user.id);
      sides[side].tokens.set(body.email, accessToken);
    }
    assert.deepEqual(
      readThrough(sides.ours, answers.raw.ours),
      readThrough(sides.theirs, answers.raw.theirs),
      `POST ${path}`,
    );
  };

  it('registers through /register, /signup and /users, keeping the other fields', async () => {
    const olivier = { email: 'olivier@mail.com', password: 'bestPassw0rd', firstname: 'Olivier', age: 32 };
    await signIn('/register', olivier, 201);
    await signIn('/signup', { email: 'jeremy@mail.com', password: 'an0therPass' }, 201);
    await signIn('/users', { email: 'third@mail.com', password: 'th1rdPassword' }, 201);
  });

  it('refuses in its words: missing fields, a bad address, a short password, a taken address', async () => {
    await same('POST', '/register', { email: 'a@mail.com' });
    await same('POST', '/register', { password: 'bestPassw0rd' });
    await same('POST', '/register', { email: '   ', password: 'bestPassw0rd' });
    await same('POST', '/register', { email: 'not an address', password: 'bestPassw0rd' });
    await same('POST', '/register', { email: 'short@mail.com', password: 'abc' });
    await same('POST', '/register', { email: 'olivier@mail.com', password: 'bestPassw0rd' });
    await same('POST', '/login', { email: 'olivier@mail.com' });
    await same('POST', '/login', { email: 'olivier@mail.com', password: 'abc' });
  });

  it('signs in through /login and /signin', async () => {
    await signIn('/login', { email: 'olivier@mail.com', password: 'bestPassw0rd' }, 200);
    await signIn('/signin', { email: 'jeremy@mail.com', password: 'an0therPass' }, 200);
  });

  it('guards as its README shows them: 664 posts, 600 users, 640 messages', async () => {
    // 664: anyone reads, a signed-in user writes.
    await same('GET', '/posts');
    await same('GET', '/posts/1');
    await same('GET', '/664/posts');
    await same('POST', '/posts', { title: 'mine', userId: '<id olivier@mail.com>' }, 'olivier@mail.com');
    await same('PATCH', '/posts/2', { title: 'edited' }, 'jeremy@mail.com');
    // 600: a user's own record only.
    // Its own record: json-server-auth serves it with the password's hash; restauth never does, and keeps
    // the address of a user it registered in credentials.json (documented).
    for (const path of ['/users/<id olivier@mail.com>', '/600/users/<id olivier@mail.com>']) {
      const own = await both('GET', path, undefined, 'olivier@mail.com');
      assert.deepEqual([own.theirs.status, own.ours.status], [200, 200]);
      const { password, email, ...rest } = own.theirs.body as Record<string, unknown>;
      assert.match(String(password), /^\$2a\$10\$/u);
      assert.equal(email, 'olivier@mail.com');
      assert.deepEqual(own.ours.body, rest);
    }
    const renamed = await both(
      'PATCH',
      '/users/<id olivier@mail.com>',
      { firstname: 'Oli' },
      'olivier@mail.com',
    );
    assert.deepEqual([renamed.theirs.status, renamed.ours.status], [200, 200]);
    assert.equal((renamed.ours.body as { firstname: string }).firstname, 'Oli');
    const other = await both('GET', '/users/<id jeremy@mail.com>', undefined, 'olivier@mail.com');
    assert.equal(other.theirs.status, 403);
    assert.equal(other.ours.status, 403);
    // 640: signed-in users read, the owner writes (naming themselves).
    await same('GET', '/messages', undefined, 'olivier@mail.com');
    await same('POST', '/messages', { text: 'hi', userId: '<id olivier@mail.com>' }, 'olivier@mail.com');
    await same('GET', '/messages', undefined, 'jeremy@mail.com');
    const foreign = await both(
      'POST',
      '/messages',
      { text: 'as olivier', userId: '<id olivier@mail.com>' },
      'jeremy@mail.com',
    );
    assert.equal(foreign.theirs.status, 403);
    assert.equal(foreign.ours.status, 403);
    await same('PATCH', '/messages/1', { text: 'edited' }, 'olivier@mail.com');
    const edit = await both('PATCH', '/messages/1', { text: 'by jeremy' }, 'jeremy@mail.com');
    assert.equal(edit.theirs.status, 403);
    assert.equal(edit.ours.status, 403);
  });

  it('without a token a guarded route is 401 on both; the words differ (documented)', async () => {
    for (const [method, path] of [
      ['POST', '/posts'],
      ['GET', '/messages'],
      ['GET', '/users/1'],
    ] as const) {
      const answers = await both(method, path, method === 'POST' ? { title: 'x' } : undefined);
      assert.equal(answers.theirs.status, 401, `${method} ${path}`);
      assert.equal(answers.ours.status, 401, `${method} ${path}`);
      assert.equal(answers.theirs.body, 'Missing authorization header');
      assert.equal(answers.ours.body, 'No authorization');
    }
  });

  it('the deliberate differences, one by one', async () => {
    // A failed sign-in does not tell whether the address has an account.
    const unknown = await both('POST', '/login', { email: 'nobody@mail.com', password: 'bestPassw0rd' });
    assert.deepEqual([unknown.theirs.status, unknown.theirs.body], [400, 'Cannot find user']);
    assert.deepEqual([unknown.ours.status, unknown.ours.body], [400, 'Incorrect email or password']);
    const wrong = await both('POST', '/login', { email: 'olivier@mail.com', password: 'wrongPassword' });
    assert.deepEqual([wrong.theirs.status, wrong.theirs.body], [400, 'Incorrect password']);
    assert.deepEqual([wrong.ours.status, wrong.ours.body], [400, 'Incorrect email or password']);
    // A new password needs passwords.minLength (8) characters; json-server-auth took 4.
    const short = await both('POST', '/register', { email: 'four@mail.com', password: 'abcd' });
    assert.equal(short.theirs.status, 201);
    assert.deepEqual([short.ours.status, short.ours.body], [400, 'Password is too short']);
    // A new user's id is restauth's, not max + 1.
    assert.equal(typeof sides.theirs.ids.get('olivier@mail.com'), 'number');
    assert.match(String(sides.ours.ids.get('olivier@mail.com')), /^[0-9a-f-]{36}$/u);
    // The users list under 600: json-server-auth refused it (no user record names a userId); restauth
    // lists the caller's own record.
    const list = await both('GET', '/users', undefined, 'olivier@mail.com');
    assert.equal(list.theirs.status, 403);
    assert.equal(list.ours.status, 200);
    assert.deepEqual(
      (list.ours.body as Array<{ id: string }>).map((user) => user.id),
      ['<user olivier@mail.com>'],
    );
    // A password is never set through the data API: json-server-auth hashed it into db.json.
    const password = await both(
      'PATCH',
      '/users/<id olivier@mail.com>',
      { password: 'newPassw0rd!' },
      'olivier@mail.com',
    );
    assert.equal(password.theirs.status, 200);
    assert.equal(password.ours.status, 400);
    // A guard in the URL never widens a collection's rule: /666/messages is 640's on restauth.
    const widened = await both('GET', '/666/messages');
    assert.equal(widened.theirs.status, 200);
    assert.equal(widened.ours.status, 401);
    // A field of the wrong type is a 400 (json-server-auth: 500).
    const typed = await both('POST', '/register', { email: 5, password: 'bestPassw0rd' });
    assert.equal(typed.theirs.status, 500);
    assert.deepEqual([typed.ours.status, typed.ours.body], [400, 'Email and password are required']);
  });
});
