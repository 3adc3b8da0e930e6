import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';
import { cliTempDir, runCli } from '../support/run-cli.js';

/**
 * json-server 0.17.4's command line on `restauth DATA_FILE`: each flag, long
 * and short, through the real CLI. Mappings are read back with `restauth
 * config --json`; behaviour is checked on running servers.
 */

interface Printed {
  [key: string]: { value: unknown; source: string };
}

const DB = {
  posts: [
    { _id: 'abc', title: 'json-server' },
    { _id: 'xyz', title: 'restauth' },
  ],
  comments: [
    { _id: 'c1', body: 'first', post_id: 'abc' },
    { _id: 'c2', body: 'other', post_id: 'xyz' },
  ],
  users: [],
};

/** More than the 1 KB below which nothing is compressed. */
const BIG_TEXT = 'json-server compatible, behind tokens. '.repeat(200);

/** A folder for a server that lives across a suite's tests (cliTempDir's after() would end with the hook). */
const serverDir = () => mkdtemp(join(tmpdir(), 'restauth-json-server-'));

async function printedConfig(dir: string, args: string[]): Promise<Printed> {
  const result = await runCli(dir, ['config', '--json', ...args]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Printed;
}

function values(printed: Printed, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, printed[key]?.value]));
}

const MAPPED = [
  'data.watch',
  'data.routesFile',
  'middlewares',
  'data.static',
  'data.readOnly',
  'cors',
  'compression',
  'data.snapshots',
  'data.delay',
  'data.id',
  'data.foreignKeySuffix',
  'logLevel',
];

test('every json-server flag maps onto its setting, the long forms and the short ones alike', async () => {
  const dir = await cliTempDir();
  await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/api/*': '/$1' }));
  // Each command is a process of its own: they run side by side.
  const printing = [
    'db.json',
    '--watch',
    '--routes',
    'routes.json',
    '--middlewares',
    'a.js',
    'b.js',
    '--static',
    'site',
    '--read-only',
    '--no-cors',
    '--no-gzip',
    '--snapshots',
    'snaps',
    '--delay',
    '250',
    '--id',
    '_id',
    '--foreignKeySuffix',
    '_id',
    '--quiet',
  ];
  const shortPrinting = [
    'db.json',
    '-w',
    '-r',
    'routes.json',
    '-m',
    'a.js',
    'b.js',
    '-s',
    'site',
    '--ro',
    '--nc',
    '--ng',
    '-S',
    'snaps',
    '-d',
    '250',
    '-i',
    '_id',
    '--fks',
    '_id',
    '-q',
  ];
  const [long, short] = await Promise.all([printedConfig(dir, printing), printedConfig(dir, shortPrinting)]);
  const expected = {
    'data.watch': true,
    'data.routesFile': join(dir, 'routes.json'),
    middlewares: [join(dir, 'a.js'), join(dir, 'b.js')],
    'data.static': join(dir, 'site'),
    'data.readOnly': true,
    cors: false,
    compression: false,
    'data.snapshots': join(dir, 'snaps'),
    'data.delay': 250,
    'data.id': '_id',
    'data.foreignKeySuffix': '_id',
    logLevel: 'warn',
  };
  assert.deepEqual(values(long, MAPPED), expected);
  assert.equal(long['data.readOnly']?.source, 'flag --read-only');
  const routes = Object.keys(long).filter((key) => key.startsWith('data.routes.'));
  assert.deepEqual(routes, ['data.routes./api/*'], 'the routes file read');

  assert.deepEqual(values(short, MAPPED), expected);
});

test("-s, -S and -i are json-server's with a DATA_FILE, postgrest-auth's without one", async () => {
  const dir = await cliTempDir();
  const secret = 'a-postgrest-auth-secret-long-enough-0123456789';
  const [jsonServer, postgrestAuth] = await Promise.all([
    printedConfig(dir, ['db.json', '-s', 'site', '-S', 'snaps', '-i', '_id']),
    printedConfig(dir, [
      '-C',
      'postgres://auth@db.internal/app',
      '-s',
      'accounts',
      '-S',
      secret,
      '-i',
      'https://auth.example.com',
    ]),
  ]);
  assert.deepEqual(values(jsonServer, ['data.static', 'data.snapshots', 'data.id', 'jwt.issuer']), {
    'data.static': join(dir, 'site'),
    'data.snapshots': join(dir, 'snaps'),
    'data.id': '_id',
    'jwt.issuer': null,
  });
  assert.deepEqual(values(postgrestAuth, ['store.schema', 'jwt.issuer', 'data.static', 'data.id']), {
    'store.schema': 'accounts',
    'jwt.issuer': 'https://auth.example.com',
    'data.static': join(dir, 'public'),
    'data.id': 'id',
  });
  assert.equal(postgrestAuth['jwt.secret']?.source, 'flag --secret');
});

test('json-server.json is read when present, as json-server reads it, and the flags win over it', async () => {
  const dir = await cliTempDir();
  await writeFile(
    join(dir, 'json-server.json'),
    JSON.stringify({ port: 4321, id: '_id', 'read-only': true, static: 'site', noGzip: true }),
  );
  // Given with -c from elsewhere, its paths still resolve against the working directory (json-server's way).
  await mkdir(join(dir, 'conf'));
  await writeFile(join(dir, 'conf', 'json-server.json'), JSON.stringify({ static: 'site', bogus: 1 }));
  const [found, overridden, given] = await Promise.all([
    printedConfig(dir, ['db.json']),
    printedConfig(dir, ['db.json', '-p', '4000', '--id', 'uuid']),
    runCli(dir, ['config', '--json', 'db.json', '-c', 'conf/json-server.json']),
  ]);
  assert.deepEqual(values(found, ['port', 'data.id', 'data.readOnly', 'data.static', 'compression']), {
    port: 4321,
    'data.id': '_id',
    'data.readOnly': true,
    'data.static': join(dir, 'site'),
    compression: false,
  });
  assert.equal(found['configFile']?.value, join(dir, 'json-server.json'));
  // Nothing else changes: restauth's own routes are mounted as without a config file.
  assert.equal(found['dialects.gotrue.enabled']?.value, true);
  assert.deepEqual(values(overridden, ['port', 'data.id']), { port: 4000, 'data.id': 'uuid' });
  assert.equal(given.code, 0, given.stderr);
  assert.equal((JSON.parse(given.stdout) as Printed)['data.static']?.value, join(dir, 'site'));
  assert.match(given.stderr, /bogus/, 'an unknown key is named');
});

test('a bad or unknown flag is a usage error naming it; --help points at the flags', async () => {
  const dir = await cliTempDir();
  await writeFile(join(dir, 'not-a-middleware.js'), 'module.exports = 42;\n');
  const [help, unknown, delay, snapshots, middleware] = await Promise.all([
    runCli(dir, ['--help']),
    runCli(dir, ['db.json', '--bogus']),
    runCli(dir, ['db.json', '--delay', 'soon']),
    runCli(dir, ['db.json', '--snapshots', 'missing']),
    runCli(dir, ['db.json', '-m', 'not-a-middleware.js'], { RESTAUTH_PORT: '0' }),
  ]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /`restauth \[DATA_FILE\] \[options\]` runs serve: json-server's flags/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
  assert.equal(delay.code, 2);
  assert.match(delay.stderr, /--delay <ms>' argument 'soon' is invalid/);
  assert.equal(snapshots.code, 2);
  assert.match(snapshots.stderr, /snapshots folder .*missing does not exist/);
  assert.equal(middleware.code, 1);
  assert.match(middleware.stderr, /not-a-middleware\.js must export a function \(req, res, next\)/);
  assert.doesNotMatch(middleware.stderr, /\n\s+at /, 'no stack');
});

describe('a server started with json-server flags', () => {
  let dir: string;
  let server: RestauthProcess;
  let token: string;

  before(async () => {
    dir = await serverDir();
    await writeFile(join(dir, 'db.json'), JSON.stringify(DB, null, 2));
    await mkdir(join(dir, 'site'));
    await mkdir(join(dir, 'snaps'));
    await writeFile(join(dir, 'site', 'index.html'), '<h1>home</h1>\n');
    await writeFile(join(dir, 'site', 'big.txt'), BIG_TEXT);
    // A json-server middleware: a header on every answer, and a route of its own that reads body and query.
    await writeFile(
      join(dir, 'hello.js'),
      `module.exports = (req, res, next) => {
  res.setHeader('X-Hello', 'World');
  if (req.url.startsWith('/echo')) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, query: req.query, body: req.body }));
    return;
  }
  next();
};
`,
    );
    server = await spawnRestauth(
      dir,
      ['db.json', '-s', 'site', '-m', 'hello.js', '--ro', '-i', '_id', '--fks', '_id', '-S', 'snaps'],
      {},
      undefined,
      'pipe',
    );
    const signUp = await fetch(`${server.url}/auth/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'reader@example.com', password: 'a passphrase' }),
    });
    assert.equal(signUp.status, 200, await signUp.clone().text());
    token = ((await signUp.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  test('--static serves the folder', async () => {
    const home = await fetch(`${server.url}/`);
    assert.equal(home.status, 200, `${await home.clone().text()} ${server.output()}`);
    assert.equal(await home.text(), '<h1>home</h1>\n');
  });

  test('answers are gzipped when the client accepts it', async () => {
    const zipped = await fetch(`${server.url}/big.txt`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    assert.equal(await zipped.text(), BIG_TEXT, 'decoded, the same text');
    const plain = await fetch(`${server.url}/big.txt`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.equal(await plain.text(), BIG_TEXT);
  });

  test('--middlewares run on every request, with the parsed body and query', async () => {
    const listed = await get('/posts');
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('x-hello'), 'World');
    const echo = await fetch(`${server.url}/echo?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    assert.equal(echo.status, 200);
    assert.deepEqual(await echo.json(), { method: 'POST', query: { x: '1' }, body: { a: 1 } });
  });

  test('--id and --fks name the id and the foreign keys', async () => {
    const post = await get('/posts/abc');
    assert.equal(post.status, 200);
    assert.deepEqual(await post.json(), { _id: 'abc', title: 'json-server' });
    const comments = await get('/posts/abc/comments');
    assert.deepEqual(await comments.json(), [{ _id: 'c1', body: 'first', post_id: 'abc' }]);
  });

  test('--read-only refuses writes', async () => {
    const write = await fetch(`${server.url}/posts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'new' }),
    });
    assert.equal(write.status, 403);
    assert.equal(((await write.json()) as { error: string }).error, 'forbidden');
    assert.equal((await get('/posts')).status, 200);
  });

  test('s + Enter writes a snapshot of the database, without credentials', async () => {
    const saved = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        if (chunk.toString().includes('saved snapshot to')) {
          server.child.stdout!.off('data', onData);
          resolve();
        }
      };
      server.child.stdout!.on('data', onData);
    });
    server.child.stdin!.write('s\n');
    await saved;
    const files = await readdir(join(dir, 'snaps'));
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^db-\d+\.json$/);
    const text = await readFile(join(dir, 'snaps', files[0]!), 'utf8');
    const snapshot = JSON.parse(text) as typeof DB & { users: Array<Record<string, unknown>> };
    assert.deepEqual(snapshot.posts, DB.posts);
    assert.equal(snapshot.users.length, 1, 'the signed-up user');
    assert.doesNotMatch(text, /\$argon2|\$2[aby]\$|password/i, 'no hash, no password field');
  });
});

describe('a server started with --no-gzip, --no-cors, --routes and --quiet', () => {
  let dir: string;
  let server: RestauthProcess;

  before(async () => {
    dir = await serverDir();
    await writeFile(join(dir, 'db.json'), JSON.stringify(DB, null, 2));
    // json-server's default static folder: ./public when it exists.
    await mkdir(join(dir, 'public'));
    await writeFile(join(dir, 'public', 'big.txt'), BIG_TEXT);
    await writeFile(join(dir, 'routes.json'), JSON.stringify({ '/api/*': '/$1' }));
    server = await spawnRestauth(dir, ['db.json', '--ng', '--nc', '-r', 'routes.json', '-q']);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('no compression, no CORS headers, the routes rewritten, ./public served', async () => {
    const answer = await fetch(`${server.url}/big.txt`, {
      headers: { 'accept-encoding': 'gzip', origin: 'http://app.example.com' },
    });
    assert.equal(answer.status, 200);
    // The rules reach the data routes (a static file only by its own path, as json-server served them
    // first): /posts, whose default rule asks a token.
    const rewritten = await fetch(`${server.url}/api/posts`);
    assert.equal(rewritten.status, 401);
    assert.equal(await rewritten.json(), 'No authorization');
    assert.equal(answer.headers.get('content-encoding'), null);
    assert.equal(answer.headers.get('access-control-allow-origin'), null);
    assert.equal(await answer.text(), BIG_TEXT);
    const preflight = await fetch(`${server.url}/posts`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example.com', 'access-control-request-method': 'PUT' },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  });

  test('--quiet: no request lines', async () => {
    await (await fetch(`${server.url}/big.txt`)).text();
    assert.equal(await server.stop(), 0);
    assert.doesNotMatch(server.output(), /GET \/big\.txt|"method":"GET"/);
    assert.match(server.output(), /restauth listening on/);
  });
});
