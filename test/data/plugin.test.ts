import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { SignJWT, jwtVerify } from 'jose';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema, type Config, type DataConfig } from '../../src/config/schema.js';
import { dataApi } from '../../src/data/index.js';
import { FileDatabase } from '../../src/stores/file/file-database.js';
import { durableData } from '../support/durable.js';

/**
 * The data API plugin on its own: a bare Fastify app, a real FileDatabase on
 * temp files, and HS256 tokens signed here with jose, checked by the
 * `authenticate` the plugin is given (the contract the real AuthService
 * fulfils). The default rule (660) applies unless a test names another.
 */
const SECRET = new TextEncoder().encode('plugin-test-secret-0123456789abcdef');
const HASH = '$2b$10$abcdefghijklmnopqrstuvCREDENTIALHASHNEVERSERVED0123';

async function token(sub: string, expiresIn = '5m'): Promise<string> {
  return new SignJWT({ role: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(SECRET);
}

/** null for a token not honoured (expired, forged, not a JWT), as the app's authenticate answers. */
async function authenticate(jwt: string): Promise<{ sub: string; role: string } | null> {
  try {
    const { payload } = await jwtVerify(jwt, SECRET, { algorithms: ['HS256'] });
    return { sub: String(payload.sub), role: String(payload.role) };
  } catch {
    return null;
  }
}

const fixture = {
  users: [{ id: 'alice', name: 'Alice' }, { id: 'bob' }],
  posts: [
    { id: 1, title: 'first', userId: 'alice' },
    { id: 2, title: 'second', userId: 'bob' },
    { id: 3, title: 'third', userId: 'alice' },
  ],
  auth: [{ id: 1, note: 'a collection the data API must not serve: /auth/ belongs to the dialects' }],
  profile: { theme: 'dark' },
};

describe('data API plugin (FileDatabase, jose tokens)', () => {
  let dir: string;
  let db: FileDatabase;
  let app: FastifyInstance;
  const tokens: Record<string, string> = {};

  const send = async (method: string, url: string, who: string | null = 'alice', body?: unknown) => {
    const response = await app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(who ? { authorization: `Bearer ${tokens[who] ?? who}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return response;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-data-plugin-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(fixture, null, 2));
    await writeFile(
      join(dir, 'credentials.json'),
      JSON.stringify({ passwords: [{ sub: 'alice', password: HASH }] }),
    );
    db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      logger: { info() {}, warn() {} },
    });
    const defaults = Value.Default(ConfigSchema, {}) as Config;
    const config: DataConfig = {
      ...defaults.data,
      static: join(dir, 'no-public-folder'),
      // users: 640 as json-data-server served them (the default is owner-only: test/data/privacy.test.ts).
      rules: { profile: 640, users: 640 },
    };
    app = Fastify();
    // Stands for an auth dialect: its routes and the app's not-found answer, not the data API's.
    app.post('/auth/login', async () => ({ dialect: true }));
    app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not_found', from: 'app' }));
    await app.register(dataApi, {
      documents: db,
      config,
      usersProp: 'users',
      userIdProp: 'id',
      authenticate,
      maxRecordBytes: 102_400,
      publicUrl: 'https://data.example.test/',
    });
    await app.ready();
    tokens.alice = await token('alice');
    tokens.bob = await token('bob');
    tokens.expired = await token('alice', '-1m');
  });
  after(async () => {
    await app.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('no token, an expired one or a forged one: 401 with the JSON string "No authorization"', async () => {
    const forged = `${tokens.alice!.slice(0, -4)}AAAA`;
    for (const who of [null, 'expired', forged, 'not-a-jwt']) {
      const res = await send('GET', '/posts', who);
      assert.equal(res.statusCode, 401, String(who));
      assert.equal(res.body, '"No authorization"');
      assert.match(String(res.headers['content-type']), /^application\/json/);
    }
    const basic = await app.inject({ url: '/posts', headers: { authorization: 'Basic YWxpY2U6cHc=' } });
    assert.equal(basic.statusCode, 401);
    assert.equal((await send('GET', '/db', null)).statusCode, 401, 'nothing is public under 660');
    assert.equal((await send('GET', '/posts', 'alice')).statusCode, 200);
  });

  it('never answers under /auth/, even for a db.json key named "auth"', async () => {
    assert.deepEqual((await send('POST', '/auth/login', null, {})).json(), { dialect: true });
    for (const [method, url] of [
      ['GET', '/auth/login'],
      ['GET', '/auth'],
      ['GET', '/auth/1'],
      ['DELETE', '/auth/1'],
    ] as const) {
      const res = await send(method, url, 'alice');
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.deepEqual(res.json(), { error: 'not_found', from: 'app' });
    }
    assert.equal(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')).auth.length, 1);
  });

  it('credentials.json is unreachable: /db, lists, _embed, _expand, q', async () => {
    const urls = [
      '/db',
      '/users',
      '/users/alice',
      '/users?_embed=posts',
      '/users/alice?_embed=posts',
      '/posts?_expand=user',
      '/posts/1?_expand=user',
      '/users?q=2b',
      '/credentials',
      '/passwords',
    ];
    for (const url of urls) {
      const res = await send('GET', url, 'alice');
      assert.ok(!res.body.includes('CREDENTIALHASH'), `${url} leaked the hash`);
      assert.ok(!res.body.includes('passwords'), `${url} leaked the credentials document`);
    }
    assert.equal((await send('GET', '/credentials')).statusCode, 404);
    // Not "auth": /db serves exactly what the routes serve, and /auth/ belongs to the dialects.
    assert.deepEqual(Object.keys((await send('GET', '/db')).json()).sort(), ['posts', 'profile', 'users']);
    assert.deepEqual((await send('GET', '/posts/1?_expand=user')).json().user, {
      id: 'alice',
      name: 'Alice',
    });
  });

  it('users: no creation (use the register route), no password field, only the owner edits', async () => {
    const created = await send('POST', '/users', 'alice', { id: 'mallory' });
    assert.equal(created.statusCode, 403);
    assert.equal(created.json().error, 'forbidden');
    assert.match(created.json().message, /register route/);
    for (const field of ['password', 'passwordHash', 'password_hash']) {
      const res = await send('PATCH', '/users/alice', 'alice', { [field]: 'x' });
      assert.equal(res.statusCode, 400, field);
      assert.match(res.json().message, /password route/);
    }
    assert.equal((await send('PUT', '/users/bob', 'alice', { id: 'bob', name: 'owned' })).statusCode, 403);
    assert.equal((await send('PATCH', '/users/alice', 'alice', { id: 'bob' })).statusCode, 403);
    const own = await send('PATCH', '/users/alice', 'alice', { name: 'Alice A.' });
    assert.equal(own.statusCode, 200);
    assert.deepEqual(own.json(), { id: 'alice', name: 'Alice A.' });
    const onDisk = (await durableData(join(dir, 'db.json'))) as { users: unknown[] };
    assert.deepEqual(onDisk.users[0], { id: 'alice', name: 'Alice A.' });
    assert.equal(
      JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')).passwords[0].password,
      HASH,
    );
  });

  it('every error is JSON without a stack: malformed body, duplicate id, bad pattern, wrong method', async () => {
    const cases = [
      { res: await send('POST', '/posts', 'alice', '{"title": '), status: 400, error: 'invalid_json' },
      { res: await send('POST', '/posts', 'alice', '[1, 2]'), status: 400, error: 'validation_failed' },
      { res: await send('POST', '/posts', 'alice', { id: 2, title: 'dup' }), status: 409, error: 'conflict' },
      {
        res: await send('POST', '/posts', 'alice', { id: '2', title: 'dup' }),
        status: 409,
        error: 'conflict',
      },
      { res: await send('GET', '/posts?title_like=(', 'alice'), status: 400, error: 'validation_failed' },
      {
        res: await send('GET', '/posts?title_like=(a%2B)%2B%24', 'alice'),
        status: 400,
        error: 'validation_failed',
      },
      {
        res: await send('GET', '/posts?title_like=(a)%5C1', 'alice'),
        status: 400,
        error: 'validation_failed',
      },
      { res: await send('DELETE', '/posts', 'alice'), status: 405, error: 'method_not_allowed' },
    ];
    for (const { res, status, error } of cases) {
      assert.equal(res.statusCode, status, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(res.json().error, error);
      assert.equal(typeof res.json().message, 'string');
      assert.ok(!res.body.includes('    at '), 'no stack trace');
    }
    // A path Fastify cannot decode is refused before routing, in Fastify's own JSON shape.
    const badUrl = await send('GET', '/posts/%E0%A4%A', 'alice');
    assert.equal(badUrl.statusCode, 400);
    assert.equal(badUrl.json().code, 'FST_ERR_BAD_URL');
    assert.ok(!badUrl.body.includes('    at '));
  });

  it(
    'a super-linear _like pattern that heuristics miss still answers (linear-time engine), never hangs',
    { timeout: 20_000 },
    async () => {
      // A backtracking engine needs 2^5000 steps for the first and n^4 for the second on this title.
      const bait = await send('POST', '/posts', 'alice', {
        id: 'bait',
        title: 'x'.repeat(5000),
        userId: 'alice',
      });
      assert.equal(bait.statusCode, 201);
      for (const pattern of ['(x|x)*y', '.*.*.*.*z', '^(x|xx)+$']) {
        const res = await send('GET', `/posts?title_like=${encodeURIComponent(pattern)}`, 'alice');
        assert.equal(res.statusCode, 200, pattern);
        const ids = (res.json() as Array<{ id: unknown }>).map((p) => p.id);
        assert.deepEqual(ids, pattern === '^(x|xx)+$' ? ['bait'] : [], pattern);
      }
      assert.equal((await send('DELETE', '/posts/bait', 'alice')).statusCode, 200);
    },
  );

  it('single records stay found through deletes, appends and another writer editing users in place', async () => {
    const first = await send('POST', '/posts', 'alice', { title: 'fourth', userId: 'alice' });
    assert.equal(first.json().id, 4);
    assert.equal((await send('DELETE', '/posts/2', 'alice')).statusCode, 200);
    for (const id of [1, 3, 4]) assert.equal((await send('GET', `/posts/${id}`)).json().id, id);
    assert.equal((await send('GET', '/posts/2')).statusCode, 404);
    // json-server's createId: the max id + 1, recomputed after a delete of the max.
    assert.equal((await send('DELETE', '/posts/4', 'alice')).statusCode, 200);
    assert.equal((await send('POST', '/posts', 'alice', { title: 'again' })).json().id, 4);
    // The file store appends users inside its own transactions; the data API must see them.
    await db.transact(({ data }) => {
      (data.users as unknown[]).push({ id: 'carol' });
    });
    assert.equal((await send('GET', '/users/carol')).statusCode, 200);
  });

  it('a full list reflects every acknowledged write (its cached serialization is dropped)', async () => {
    const before = (await send('GET', '/posts')).json() as Array<{ id: number; title: string }>;
    await send('PATCH', '/posts/1', 'alice', { title: 'edited' });
    const created = (await send('POST', '/posts', 'alice', { title: 'newest' })).json();
    const afterWrites = (await send('GET', '/posts')).json() as Array<{ id: number; title: string }>;
    assert.equal(afterWrites.length, before.length + 1);
    assert.equal(afterWrites.find((p) => p.id === 1)?.title, 'edited');
    assert.ok(afterWrites.some((p) => p.id === created.id));
  });

  it('db.json edited by hand while it runs is set aside, not served: the API keeps its data', async () => {
    const before = (await send('GET', '/posts')).json();
    assert.equal(before.length > 0, true);
    const edited = { ...fixture, posts: [{ id: 'by-hand', title: 'typed in an editor', userId: 'bob' }] };
    await writeFile(join(dir, 'db.json'), JSON.stringify(edited, null, 2));
    // A reader notices the edit (at most once a second) and a commit sets it aside; a write commits at once.
    await send('PATCH', '/posts/1', 'alice', { title: 'after the edit' });
    const aside = (await readdir(dir)).filter((name) => name.startsWith('db.json.rejected-'));
    assert.equal(aside.length, 1);
    assert.deepEqual(JSON.parse(await readFile(join(dir, aside[0]!), 'utf8')), edited);
    assert.equal((await send('GET', '/posts/by-hand')).statusCode, 404);
    assert.equal((await send('GET', '/posts/1')).json().title, 'after the edit');
    assert.equal((await send('GET', '/posts')).json().length, before.length);
  });

  it('a singular resource has no owner: 640 lets logged-in users read it, nobody write it', async () => {
    assert.equal((await send('GET', '/profile', null)).statusCode, 401);
    assert.deepEqual((await send('GET', '/profile', 'bob')).json(), { theme: 'dark' });
    const write = await send('PATCH', '/profile', 'bob', { lang: 'en' });
    assert.equal(write.statusCode, 403);
    assert.equal(write.json().error, 'forbidden');
    assert.deepEqual((await send('GET', '/db', 'bob')).json().profile, { theme: 'dark' });
  });
});
