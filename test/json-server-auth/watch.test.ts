import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcrypt';
import { compactedWithin } from '../support/compacted-db-file.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * --watch on the real CLI for a project that becomes json-server-auth's while restauth runs: a routes
 * file given guards, or a db.json given json-server-auth's users, brings json-server-auth's routes at
 * once, as a start on those files would (a guard in force with no /login to get past it locked the
 * user out until a restart). And a db.json saved with what the start refuses is refused at the reload
 * too. Each step awaits the log line the reload writes (no sleeps).
 */

const SERVED = /json-server-auth's routes are served/;

/** Resolves once the server's output holds `pattern` one more time than it does now. */
function nextLine(server: RestauthProcess, pattern: RegExp): Promise<void> {
  const count = () => server.output().match(new RegExp(pattern, 'g'))?.length ?? 0;
  const before = count();
  return new Promise((resolve) => {
    const onData = () => {
      if (count() <= before) return;
      server.child.stdout!.off('data', onData);
      server.child.stderr!.off('data', onData);
      resolve();
    };
    server.child.stdout!.on('data', onData);
    server.child.stderr!.on('data', onData);
  });
}

async function call(server: RestauthProcess, method: string, path: string, body?: unknown, token?: string) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, text, body: (text === '' ? null : JSON.parse(text)) as unknown };
}

const ALICE = { email: 'alice@mail.com', password: 'a passphrase' };

describe(
  'restauth db.json --watch --routes routes.json, routes given guards by hand',
  { timeout: 300_000 },
  () => {
    let dir: string;
    let server: RestauthProcess;
    let token: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-jsa-watch-'));
      await writeFile(
        join(dir, 'db.json'),
        JSON.stringify({ posts: [{ id: 1, title: 'first' }], users: [] }),
      );
      await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/api/*': '/$1' }));
      server = await spawnRestauth(dir, ['db.json', '--watch', '--routes', 'routes.json']);
    });
    after(async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test('json-server-auth routes come with the guards, which are enforced and shown alike', async () => {
      // Not json-server-auth's yet: its paths are the data API's, as they were.
      assert.doesNotMatch(server.output(), SERVED);
      assert.equal((await call(server, 'POST', '/register', ALICE)).status, 404);
      assert.equal((await call(server, 'POST', '/users', ALICE)).status, 401, "the data API's answer");
      assert.equal((await call(server, 'GET', '/600/posts')).status, 404, 'no guards in URLs either');

      const reloaded = nextLine(server, /routes\.json changed: routes reloaded/);
      const served = nextLine(server, SERVED);
      await writeFile(
        join(dir, 'routes.json'),
        JSON.stringify({ '/api/*': '/$1', '/posts*': '/600/posts$1' }),
      );
      await Promise.all([reloaded, served]);

      const registered = await call(server, 'POST', '/register', ALICE);
      assert.equal(registered.status, 201, registered.text);
      const { accessToken } = registered.body as { accessToken: string };
      token = accessToken;
      const login = await call(server, 'POST', '/login', ALICE);
      assert.equal(login.status, 200, login.text);
      assert.equal((await call(server, 'POST', '/users', { ...ALICE, email: 'bob@mail.com' })).status, 201);
      // The guard shown is the guard in force, through the rewrite and in a URL alike.
      assert.deepEqual((await call(server, 'GET', '/__rules')).body, {
        '/api/*': '/$1',
        '/posts*': '/600/posts$1',
      });
      assert.equal((await call(server, 'GET', '/posts')).status, 401);
      assert.equal((await call(server, 'GET', '/600/posts')).status, 401);
      const created = await call(server, 'POST', '/posts', { title: 'mine' }, accessToken);
      assert.equal(created.status, 201, created.text);
      const mine = await call(server, 'GET', '/600/posts', undefined, accessToken);
      assert.deepEqual(
        (mine.body as Array<{ title: string }>).map((post) => post.title),
        ['mine'],
        "600: the owner's own records only",
      );
      assert.match(await (await fetch(`${server.url}/`)).text(), /Register \(json-server-auth\)/);
    });

    test('a db.json saved with a key holding "/" is refused as at start, the data in force kept', async () => {
      // Edited from a db.json that holds the first test's writes (its last: the post 'mine'): one read
      // before their compaction, saved after it, would remove alice, whose token then answers 401.
      const before = JSON.parse(await compactedWithin(dir, '"mine"')) as Record<string, unknown>;
      const refused = nextLine(server, /a\/b.{0,3} cannot be served: a top-level key .*not applied/);
      await writeFile(join(dir, 'db.json'), JSON.stringify({ ...before, 'a/b': [{ id: 1 }], posts: [] }));
      await refused;
      const posts = await call(server, 'GET', '/api/posts');
      assert.equal(posts.status, 401, 'the guard of the rules in force');
      const whole = await call(server, 'GET', '/db', undefined, token);
      assert.equal(whole.status, 200, whole.text);
      assert.equal(Object.hasOwn(whole.body as object, 'a/b'), false, 'not applied');

      // Saved again without it: applied.
      const reloaded = nextLine(server, /db\.json changed outside restauth: reloaded/);
      await writeFile(join(dir, 'db.json'), JSON.stringify({ ...before, a_b: [{ id: 1 }] }));
      await reloaded;
      assert.equal((await call(server, 'GET', '/a_b/1', undefined, token)).status, 200);
    });
  },
);

describe(
  'restauth db.json --watch, json-server-auth users saved into db.json by hand',
  { timeout: 300_000 },
  () => {
    let dir: string;
    let server: RestauthProcess;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-jsa-watch-'));
      await writeFile(join(dir, 'db.json'), JSON.stringify({ posts: [], users: [] }));
      server = await spawnRestauth(dir, ['db.json', '--watch']);
    });
    after(async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test('brings json-server-auth routes: the pasted user logs in at /login', async () => {
      assert.doesNotMatch(server.output(), SERVED);
      assert.equal((await call(server, 'POST', '/login', ALICE)).status, 404);
      const served = nextLine(server, SERVED);
      const movedOut = nextLine(server, /held the bcrypt password hashes of 1 json-server-auth user/);
      const user = { id: 7, email: ALICE.email, password: await bcrypt.hash(ALICE.password, 4) };
      await writeFile(join(dir, 'db.json'), JSON.stringify({ posts: [], users: [user] }));
      await Promise.all([served, movedOut]);
      const login = await call(server, 'POST', '/login', ALICE);
      assert.equal(login.status, 200, login.text);
      assert.deepEqual((login.body as { user: unknown }).user, { email: ALICE.email, id: 7 });
    });
  },
);
