import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcrypt';
import { compactedWithin } from '../support/compacted-db-file.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * json-server's --watch on the real CLI: db.json and the routes file changed
 * by hand while restauth runs are applied. Each step awaits the log line the
 * reload writes (no sleeps), and no write restauth acknowledged is lost.
 */

const DB = { posts: [{ id: 1, title: 'from the start' }], users: [] };

describe('restauth db.json --watch --routes routes.json', () => {
  let dir: string;
  let server: RestauthProcess;
  let token: string;

  /** Resolves once the output holds `pattern` one more time than it does now. */
  const nextLine = (pattern: RegExp): Promise<void> => {
    const count = () => server.output().match(new RegExp(pattern, 'g'))?.length ?? 0;
    const before = count();
    return new Promise((resolve, reject) => {
      const onData = () => {
        // An edit set aside instead of applied would never bring the awaited line: fail, do not hang.
        if (/kept as db\.json\.rejected/.test(server.output())) reject(new Error(server.output()));
        if (count() <= before) return;
        server.child.stdout!.off('data', onData);
        server.child.stderr!.off('data', onData);
        resolve();
      };
      server.child.stdout!.on('data', onData);
      server.child.stderr!.on('data', onData);
    });
  };

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-watch-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(DB, null, 2));
    await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/api/*': '/$1' }));
    server = await spawnRestauth(dir, ['db.json', '--watch', '--routes', 'routes.json']);
    const signUp = await fetch(`${server.url}/auth/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'editor@example.com', password: 'a passphrase' }),
    });
    assert.equal(signUp.status, 200, await signUp.clone().text());
    token = ((await signUp.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a hand edit of db.json is applied, with the writes acknowledged meanwhile kept', async () => {
    // Acknowledged: on disk in the journal, then in db.json once compacted. An edit saved over a
    // db.json read before that compaction would undo it, as any editor's stale buffer would: the edit
    // starts from the compacted file, read once the write is in it (each rewrite is a rename, which
    // the folder's watcher sees).
    const written = await call('POST', '/posts', { title: 'through the API' });
    assert.equal(written.status, 201);
    const text = await compactedWithin(dir, 'through the API');
    const edited = JSON.parse(text) as typeof DB;
    edited.posts.push({ id: 100, title: 'by hand' });
    const reloaded = nextLine(/db\.json changed outside restauth: reloaded/);
    await writeFile(join(dir, 'db.json'), JSON.stringify(edited, null, 2));
    await reloaded;

    const { body } = await call('GET', '/api/posts');
    assert.deepEqual((body as Array<{ title: string }>).map((post) => post.title).sort(), [
      'by hand',
      'from the start',
      'through the API',
    ]);
    // Nothing was set aside: under --watch the edit is the database.
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.includes('rejected')),
      [],
    );
    // The signed-up user is still there (db.json's users and credentials.json agree).
    const me = await fetch(`${server.url}/auth/v1/user`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
  });

  test('an edit that is not valid JSON is reported and not applied until it is fixed', async () => {
    const before = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as typeof DB;
    const warned = nextLine(/is not valid JSON .*not applied until the file is valid again/);
    await writeFile(join(dir, 'db.json'), '{ "posts": [ ');
    await warned;
    // Served from what it had, and writes go on (into the journal).
    const during = await call('POST', '/posts', { title: 'while broken' });
    assert.equal(during.status, 201);
    assert.equal((await readFile(join(dir, 'db.json'), 'utf8')).trim(), '{ "posts": [', 'left alone');

    const fixed = { ...before, posts: [{ id: 1, title: 'fixed by hand' }] };
    const reloaded = nextLine(/db\.json changed outside restauth: reloaded/);
    await writeFile(join(dir, 'db.json'), JSON.stringify(fixed, null, 2));
    await reloaded;
    const { body } = await call('GET', '/posts');
    const titles = (body as Array<{ title: string }>).map((post) => post.title);
    // The fixed file, and on top the write acknowledged while the file was broken.
    assert.deepEqual(titles, ['fixed by hand', 'while broken']);
  });

  test('a change of the routes file is applied', async () => {
    const reloaded = nextLine(/routes\.json changed: routes reloaded/);
    await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/v2/*': '/$1' }));
    await reloaded;
    assert.equal((await call('GET', '/v2/posts')).status, 200);
    assert.equal((await call('GET', '/api/posts')).status, 404, 'the old rule is gone');
    // What is derived from the rules is the new rules too, not those of the start.
    assert.deepEqual((await call('GET', '/__rules')).body, { '/v2/*': '/$1' });
    const home = await (await fetch(`${server.url}/`)).text();
    assert.match(home, /\/v2\/\*/);
    assert.doesNotMatch(home, /\/api\/\*/);
  });

  test('a routes file emptied, then given rules again, is what GET /__rules answers each time', async () => {
    let reloaded = nextLine(/routes\.json changed: routes reloaded/);
    await writeFile(join(dir, 'routes.json'), '{}');
    await reloaded;
    assert.equal((await call('GET', '/__rules')).status, 404, 'no rules: answered as json-server did');
    assert.doesNotMatch(await (await fetch(`${server.url}/`)).text(), /Custom routes/);

    reloaded = nextLine(/routes\.json changed: routes reloaded/);
    await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/v3/*': '/$1' }));
    await reloaded;
    assert.deepEqual((await call('GET', '/__rules')).body, { '/v3/*': '/$1' });
    assert.equal((await call('GET', '/v3/posts')).status, 200);
  });

  // Without the takeover the awaited line never comes: the timeout makes that a failure, not a hang.
  test(
    'a json-server-auth user saved into db.json is taken over: the hash leaves it, the password signs in',
    { timeout: 300_000 },
    async () => {
      const edited = JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')) as { users: unknown[] };
      const password = 'pasted passw0rd';
      edited.users.push({ id: 77, email: 'pasted@mail.com', password: await bcrypt.hash(password, 4) });
      const moved = nextLine(/held the bcrypt password hashes of 1 json-server-auth user/);
      await writeFile(join(dir, 'db.json'), JSON.stringify(edited, null, 2));
      await moved;
      assert.doesNotMatch(await readFile(join(dir, 'db.json'), 'utf8'), /\$2[aby]\$|"password"/);
      const signIn = await fetch(`${server.url}/auth/v1/token?grant_type=password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'pasted@mail.com', password }),
      });
      assert.equal(signIn.status, 200, await signIn.clone().text());
    },
  );
});
