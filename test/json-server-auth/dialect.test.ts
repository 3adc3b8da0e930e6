import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { createTestApp, type TestApp } from '../support/app.js';
import { loadConfig } from '../../src/config/load.js';

/**
 * json-server-auth's routes on restauth: registration and sign-in in its words and statuses, its
 * guards in a routes file mapped onto the access rules, restauth's sessions behind the token.
 */

const PASSWORD = 'bestPassw0rd';

describe('json-server-auth dialect', () => {
  let t: TestApp;
  const lines: string[] = [];

  const post = (url: string, payload: unknown, token?: string) =>
    t.app.inject({
      method: 'POST',
      url,
      payload: payload as Record<string, unknown>,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  const get = (url: string, token?: string) =>
    t.app.inject({
      method: 'GET',
      url,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  before(async () => {
    // As json-server's user starts it: json-server.json names the routes file (restauth db.json -r routes.json).
    t = await createTestApp({
      format: 'restauth',
      keepConfigFile: true,
      files: {
        'json-server.json': JSON.stringify({ routes: 'routes.json' }),
        'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'public', userId: 'nobody' }] }),
        // json-server-auth's README: its rewrite form, and its CLI's shorthand.
        'routes.json': JSON.stringify({ '/posts*': '/644/posts$1', users: 600, messages: 640 }),
      },
      // The server's log, where the start says why json-server-auth's routes are served.
      log: pino(
        { level: 'info' },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString());
            done();
          },
        }),
      ),
    });
  });
  after(() => t.close());

  it('registers with email and password, keeping the other fields, and answers 201 {accessToken, user}', async () => {
    const res = await post('/register', {
      email: 'olivier@mail.com',
      password: PASSWORD,
      firstname: 'Olivier',
    });
    assert.equal(res.statusCode, 201, res.body);
    const { accessToken, user } = res.json();
    assert.deepEqual(Object.keys(user).sort(), ['email', 'firstname', 'id']);
    assert.equal(user.email, 'olivier@mail.com');
    assert.equal(user.firstname, 'Olivier');
    const claims = decodeJwt(accessToken);
    assert.equal(claims.sub, String(user.id));
    assert.equal(claims.email, 'olivier@mail.com');
    // The extra fields are in the user's record, which its owner reads; no password anywhere.
    const own = await get(`/users/${user.id}`, accessToken);
    assert.equal(own.statusCode, 200, own.body);
    assert.equal(own.json().firstname, 'Olivier');
    assert.doesNotMatch(JSON.stringify(t.services.documents!.data), /password|\$2[aby]\$/);
  });

  it('/signup and /users register too; /login and /signin sign in with 200 {accessToken, user}', async () => {
    const signup = await post('/signup', { email: 'second@mail.com', password: PASSWORD });
    assert.equal(signup.statusCode, 201, signup.body);
    const users = await post('/users', { email: 'third@mail.com', password: PASSWORD, age: 32 });
    assert.equal(users.statusCode, 201, users.body);
    for (const path of ['/login', '/signin']) {
      const res = await post(path, { email: 'third@mail.com', password: PASSWORD });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().user.age, 32);
      assert.equal(res.json().user.password, undefined);
      const me = await get(`/users/${res.json().user.id}`, res.json().accessToken);
      assert.equal(me.statusCode, 200);
    }
  });

  it("refuses in json-server-auth's words, as a JSON string with 400", async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/register', { email: 'a@mail.com' }, 'Email and password are required'],
      ['/register', { email: '  ', password: PASSWORD }, 'Email and password are required'],
      ['/register', { email: 5, password: PASSWORD }, 'Email and password are required'],
      ['/register', { email: 'not an address', password: PASSWORD }, 'Email format is invalid'],
      ['/register', { email: 'short@mail.com', password: 'abc' }, 'Password is too short'],
      ['/register', { email: 'olivier@mail.com', password: PASSWORD }, 'Email already exists'],
      ['/register', { email: 'OLIVIER@mail.com', password: PASSWORD }, 'Email already exists'],
      ['/login', { password: PASSWORD }, 'Email and password are required'],
      ['/login', { email: 'olivier@mail.com', password: 'abc' }, 'Password is too short'],
      // One answer for an unknown address and a wrong password (json-server-auth told which).
      ['/login', { email: 'nobody@mail.com', password: PASSWORD }, 'Incorrect email or password'],
      ['/login', { email: 'olivier@mail.com', password: 'wrong password' }, 'Incorrect email or password'],
    ];
    for (const [path, body, words] of cases) {
      const res = await post(path, body);
      assert.equal(res.statusCode, 400, `${path} ${JSON.stringify(body)}: ${res.body}`);
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.equal(res.json(), words, `${path} ${JSON.stringify(body)}`);
    }
  });

  it('a field posing as an identity fact is refused, never stored', async () => {
    const res = await post('/register', { email: 'role@mail.com', password: PASSWORD, role: 'service_role' });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal((await post('/login', { email: 'role@mail.com', password: PASSWORD })).statusCode, 400);
  });

  it('a password-like extra field is left out, never kept in clear in db.json; the sign-up succeeds', async () => {
    // A sign-up form's confirmation was stored as it came, in the user's db.json record; json-server-auth's
    // clients send one, so it is dropped, not refused.
    for (const [path, field] of [
      ['/register', 'passwordConfirm'],
      ['/signup', 'confirm_password'],
      ['/users', 'hashedPassword'],
    ] as const) {
      const email = `${field.toLowerCase()}@mail.com`;
      const res = await post(path, { email, password: PASSWORD, [field]: PASSWORD, firstname: 'Kept' });
      assert.equal(res.statusCode, 201, `${field}: ${res.body}`);
      const { user } = res.json<{ user: Record<string, unknown> }>();
      assert.equal(user['firstname'], 'Kept');
      assert.equal(field in user, false, field);
      assert.equal((await post('/login', { email, password: PASSWORD })).statusCode, 200);
    }
    assert.equal(JSON.stringify(t.services.documents!.data).includes(PASSWORD), false);
  });

  it('the token is a restauth session: signed out, it is refused by the data API', async () => {
    const login = await post('/login', { email: 'second@mail.com', password: PASSWORD });
    const { accessToken, user } = login.json();
    assert.equal((await get(`/users/${user.id}`, accessToken)).statusCode, 200);
    const out = await post('/auth/v1/logout', {}, accessToken);
    assert.equal(out.statusCode, 204, out.body);
    assert.equal((await get(`/users/${user.id}`, accessToken)).statusCode, 401);
  });

  it("routes.json's guards are the collections' rules: /posts 644, users 600, whatever URL names them", async () => {
    const { accessToken, user } = (
      await post('/login', { email: 'olivier@mail.com', password: PASSWORD })
    ).json();
    // 644: anyone reads; only the owner writes.
    assert.equal((await get('/posts')).statusCode, 200);
    assert.equal((await get('/644/posts')).statusCode, 200);
    assert.equal((await post('/posts', { title: 'x' })).statusCode, 401);
    const mine = await post('/posts', { title: 'mine', userId: user.id }, accessToken);
    assert.equal(mine.statusCode, 201, mine.body);
    const theirs = await t.app.inject({
      method: 'PATCH',
      url: '/posts/1',
      payload: { title: 'taken' },
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(theirs.statusCode, 403);
    // 600 on users: another user's record is not shown, even through a weaker guard in the URL.
    const other = (await post('/login', { email: 'third@mail.com', password: PASSWORD })).json().user;
    assert.equal((await get(`/users/${other.id}`, accessToken)).statusCode, 403);
    assert.equal((await get(`/664/users/${other.id}`, accessToken)).statusCode, 403);
    assert.equal((await get(`/666/users/${other.id}`)).statusCode, 401);
    // A guard in the URL narrows: 644 posts read through /660 need a token.
    assert.equal((await get('/660/posts')).statusCode, 401);
    assert.equal((await get('/660/posts', accessToken)).statusCode, 200);
    // /__rules shows the file as written (expanded from json-server-auth's shorthand).
    assert.deepEqual((await get('/__rules')).json(), {
      '/posts*': '/644/posts$1',
      '/users*': '/600/users$1',
      '/messages*': '/640/messages$1',
    });
  });

  it('says at start why its routes are served', () => {
    assert.ok(
      lines.some((line) => /json-server-auth's routes are served .*guards/.test(line)),
      lines.join('\n'),
    );
  });
});

describe('json-server-auth dialect: when it is mounted', () => {
  const start = (config: Record<string, unknown>, db: unknown) =>
    createTestApp({
      format: 'restauth',
      config,
      files: { 'db.json': JSON.stringify(db) },
    });

  it("not on a db.json that is not json-server-auth's: POST /users stays the data API's 403", async () => {
    const t = await start({}, { users: [], posts: [] });
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/users',
        payload: { email: 'a@b.co', password: PASSWORD },
      });
      assert.equal(res.statusCode, 401);
      assert.equal((await t.app.inject({ method: 'POST', url: '/register', payload: {} })).statusCode, 404);
    } finally {
      await t.close();
    }
  });

  it('on when asked (dialects.jsonServerAuth), off when told, whatever db.json looks like', async () => {
    const on = await start({ dialects: { gotrue: {}, jsonServerAuth: {} } }, { users: [] });
    try {
      const res = await on.app.inject({
        method: 'POST',
        url: '/register',
        payload: { email: 'a@b.co', password: PASSWORD },
      });
      assert.equal(res.statusCode, 201, res.body);
    } finally {
      await on.close();
    }
    const off = await start(
      { dialects: { gotrue: {}, jsonServerAuth: { enabled: false } } },
      { users: [{ id: 1, email: 'a@b.co' }] },
    );
    try {
      assert.equal((await off.app.inject({ method: 'POST', url: '/register', payload: {} })).statusCode, 404);
    } finally {
      await off.close();
    }
  });

  it('a guard restauth cannot express stops the start naming it', async () => {
    for (const [guard, words] of [
      ['777', /777 cannot be served: each digit must be 0, 2, 4 or 6/],
      ['466', /466 cannot be served: signed-in users would get what the owner does not/],
      ['604', /604 cannot be served: the public would get what signed-in users do not/],
    ] as const) {
      await assert.rejects(
        start({ data: { routes: { '/posts*': `/${guard}/posts$1` } } }, { posts: [] }),
        words,
      );
    }
    await assert.rejects(
      start({ data: { routes: { '/posts*': '/644/posts$1' }, rules: { posts: 664 } } }, { posts: [] }),
      /guards posts 644 but data.rules says 664: say it once/,
    );
  });

  it('json-server-auth named as a middleware (-m) turns them on and is not loaded', async () => {
    for (const middlewares of [
      './node_modules/json-server-auth',
      'json-server-auth',
      ['./logger.js', 'node_modules/json-server-auth/dist/index.js'],
    ]) {
      const config = await loadConfig({
        cwd: '/srv/app',
        env: { RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef-0123456789' },
        jsonServer: { middlewares },
      });
      assert.equal(config.dialects.jsonServerAuth.enabled, true);
      assert.deepEqual(config.middlewares, Array.isArray(middlewares) ? ['/srv/app/logger.js'] : []);
    }
  });
});
