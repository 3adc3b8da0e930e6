import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exitOf, untilOutput, type ChildExit } from '../support/child-waits.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';

/**
 * json-server 0.17.4's own command line and restauth's, started with the
 * same flags (short and long forms mixed, as users type them) on copies of
 * one folder, answer the same requests alike. restauth's requests carry a
 * token (json-server ignores the header): the flags are what is compared.
 */

const require = createRequire(import.meta.url);
const JSON_SERVER_BIN = join(dirname(require.resolve('json-server/package.json')), 'lib', 'cli', 'bin.js');

const DB = {
  posts: [
    { _id: 'abc', title: 'json-server', views: 10 },
    { _id: 'xyz', title: 'restauth', views: 250 },
  ],
  comments: [
    { _id: 'c1', body: 'first', post_id: 'abc' },
    { _id: 'c2', body: 'second', post_id: 'abc' },
    { _id: 'c3', body: 'other', post_id: 'xyz' },
  ],
  users: [],
};

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-compat-cli-'));
  await writeFile(join(dir, 'db.json'), JSON.stringify(DB, null, 2));
  await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/api/*': '/$1' }));
  await mkdir(join(dir, 'site'));
  await writeFile(join(dir, 'site', 'hello.html'), '<p>hello</p>\n');
  return dir;
}

/** The flags both are started with (json-server's own spellings; -p and -H added per server). */
const FLAGS = [
  'db.json',
  '-i',
  '_id',
  '--fks',
  '_id',
  '-r',
  'routes.json',
  '-s',
  'site',
  '--ro',
  '--nc',
  '--ng',
];

/**
 * Loaded into json-server's process: prints the port its server bound, once bound. json-server's
 * banner ("Home") comes right after it calls listen, before the port is bound (or found taken).
 */
const ANNOUNCE_LISTENING = `data:text/javascript,${encodeURIComponent(
  "import net from 'node:net'; const listen = net.Server.prototype.listen;" +
    'net.Server.prototype.listen = function (...args) {' +
    "this.once('listening', () => console.log('bound port ' + this.address().port));" +
    'return listen.apply(this, args); };',
)}`;

async function startJsonServer(
  dir: string,
): Promise<{ child: ChildProcess; url: string; exited: Promise<ChildExit> }> {
  // Port 0: the system picks a free port as it binds, and json-server's process says which.
  const child = spawn(
    process.execPath,
    ['--import', ANNOUNCE_LISTENING, JSON_SERVER_BIN, ...FLAGS, '-p', '0', '-H', '127.0.0.1'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = exitOf(child);
  let output = '';
  const gather = (chunk: Buffer) => (output += chunk.toString());
  child.stdout!.on('data', gather);
  child.stderr!.on('data', gather);
  await untilOutput(child, () => output, /bound port \d+/u);
  const port = /bound port (\d+)/u.exec(output)![1]!;
  return { child, url: `http://127.0.0.1:${port}`, exited };
}

describe('json-server and restauth started with the same flags', () => {
  let dirs: string[];
  let theirs: Awaited<ReturnType<typeof startJsonServer>>;
  let ours: RestauthProcess;
  let token: string;

  before(async () => {
    dirs = [await folder(), await folder()];
    theirs = await startJsonServer(dirs[0]!);
    ours = await spawnRestauth(dirs[1]!, [...FLAGS, '-p', '0', '-H', '127.0.0.1']);
    const signUp = await fetch(`${ours.url}/auth/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'same@example.com', password: 'a passphrase' }),
    });
    assert.equal(signUp.status, 200, await signUp.clone().text());
    token = ((await signUp.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    theirs.child.kill('SIGTERM');
    await theirs.exited;
    await ours.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const call = async (base: string, method: string, path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'accept-encoding': 'gzip',
        ...headers,
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body: JSON.stringify({ title: 'refused' }) } : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      encoding: response.headers.get('content-encoding'),
      cors: response.headers.get('access-control-allow-origin'),
      body:
        response.headers.get('content-type')?.includes('json') && method !== 'POST' ? JSON.parse(text) : text,
    };
  };

  const same = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const expected = await call(theirs.url, method, path, headers);
    const actual = await call(ours.url, method, path, headers);
    assert.deepEqual(actual, expected, `${method} ${path}`);
    return actual;
  };

  test('--routes, --id, --fks: the same records', async () => {
    assert.equal((await same('GET', '/api/posts')).status, 200);
    assert.deepEqual((await same('GET', '/posts/abc')).body, DB.posts[0]);
    assert.equal(((await same('GET', '/posts/abc/comments')).body as unknown[]).length, 2);
    await same('GET', '/api/comments?post_id=xyz');
  });

  test('_embed under --id: the documented fix (json-server matched children on `id`, so found none)', async () => {
    const expected = await call(theirs.url, 'GET', '/posts?_embed=comments');
    const actual = await call(ours.url, 'GET', '/posts?_embed=comments');
    const embedded = (answer: { body: unknown }) =>
      (answer.body as Array<{ comments: unknown[] }>).map((post) => post.comments.length);
    assert.deepEqual(embedded(expected), [0, 0]);
    assert.deepEqual(embedded(actual), [2, 1]);
  });

  test('--static: the same file', async () => {
    assert.equal((await same('GET', '/hello.html')).body, '<p>hello</p>\n');
    // Nor by a rewrite (json-server served static files before its rewriter): 404 {} on both.
    assert.equal((await same('GET', '/api/hello.html')).status, 404);
  });

  test('--no-cors and --no-gzip: neither header', async () => {
    const answer = await same('GET', '/posts', { origin: 'http://app.example.com' });
    assert.equal(answer.cors, null);
    assert.equal(answer.encoding, null);
  });

  test('--read-only: a write is 403 on both (restauth answers it in JSON)', async () => {
    const expected = await call(theirs.url, 'POST', '/posts');
    const actual = await call(ours.url, 'POST', '/posts');
    assert.equal(expected.status, 403);
    assert.equal(actual.status, 403);
  });
});
