import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { exitOf, killedAfterTests, untilOutput, within } from '../support/child-waits.js';
import { listeningProcess } from '../support/process.js';

const repoRoot = join(import.meta.dirname, '..', '..');

/**
 * The server as `npm run build` bundles it (scripts/build.mjs), started as `npm start` starts it: what the
 * build changes about loading (packages left to Node's loader, mime-db built at its first lookup) is only
 * seen here, the other tests running the TypeScript sources.
 */
let folder: string;
let url: string;
let stopServer: () => Promise<void>;
/** A signed-up user's access token: the data API answers signed-in users. */
let token: string;

before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'restauth-bundle-'));
  await promisify(execFile)(process.execPath, [join(repoRoot, 'scripts/build.mjs'), join(folder, 'dist')]);
  // The bundle finds what it leaves to Node's loader (argon2, pino, re2js ...) in node_modules beside it.
  await symlink(join(repoRoot, 'node_modules'), join(folder, 'node_modules'));
  await writeFile(join(folder, 'package.json'), JSON.stringify({ type: 'module', version: '0.0.0' }));
  const data = join(folder, 'data');
  await mkdir(join(data, 'public'), { recursive: true });
  const posts = ['alpha', 'beta', 'gamma', 'delta'].map((title, i) => ({ id: i + 1, title }));
  await writeFile(join(data, 'db.json'), JSON.stringify({ posts }));
  // application/wasm: compressible by mime-db only, not by @fastify/compress's own pattern.
  await writeFile(join(data, 'public', 'module.wasm'), Buffer.alloc(4096, 'wasm '));
  await writeFile(join(data, 'public', 'image.png'), Buffer.alloc(4096, 'png '));

  const child = spawn(process.execPath, [join(folder, 'dist/cli/main.js'), 'db.json', '--port', '0'], {
    cwd: data,
    env: { ...process.env, RESTAUTH_LOG_LEVEL: 'warn', RESTAUTH_RATE_LIMITS: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its ends are 'close' (all it wrote read), so a failed start's message shows the whole output.
  const server = await listeningProcess(child);
  url = server.url;
  stopServer = async () => {
    if (child.exitCode === null) await server.stop();
  };
  // A sign-up hashes its password in the hashing pool's threads, which load argon2 from node_modules.
  const signUp = await fetch(`${url}/auth/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'reader@example.com', password: 'a passphrase' }),
  });
  assert.equal(signUp.status, 200, await signUp.clone().text());
  token = ((await signUp.json()) as { access_token: string }).access_token;
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

after(async () => {
  await stopServer?.();
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
});

test('the bundle serves the data API, its home page and the OpenAPI reference page', async () => {
  const list = await get('/posts?title=beta');
  assert.equal(list.status, 200);
  assert.deepEqual(await list.json(), [{ id: 2, title: 'beta' }]);
  assert.equal((await fetch(`${url}/`)).status, 200);
  // The reference page loads @fastify/swagger-ui at its first request, which reads its package's folder.
  const page = await fetch(`${url}/openapi`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /swagger-ui/u);
  const script = await fetch(`${url}/openapi/static/swagger-ui-bundle.js`);
  assert.equal(script.status, 200);
  assert.ok((await script.arrayBuffer()).byteLength > 100_000);
  // yaml, which @fastify/swagger requires at load, is built at its first use (scripts/build.mjs).
  const yaml = await fetch(`${url}/openapi/yaml`);
  assert.equal(yaml.status, 200);
  assert.match(await yaml.text(), /^openapi: 3\.\d+\.\d+\n(.|\n)*\n {2}\/health:\n/u);
  // A large answer is gzipped through @fastify/compress's Readable.from, on Node's streams in the bundle.
  const json = await fetch(`${url}/openapi/json`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(json.headers.get('content-encoding'), 'gzip');
  assert.match(((await json.json()) as { openapi: string }).openapi, /^3\./u);
});

test('a repeating _like pattern runs on re2js, loaded from node_modules at its first use', async () => {
  const response = await get(`/posts?title_like=${encodeURIComponent('^(al|ga)+')}`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), [
    { id: 1, title: 'alpha' },
    { id: 3, title: 'gamma' },
  ]);
  const refused = await get(`/posts?title_like=${encodeURIComponent('(a)\\1')}`);
  assert.equal(refused.status, 400);
});

test('compression reads mime-db for a type its pattern does not know, as unbundled', async () => {
  const wasm = await get('/module.wasm', { 'accept-encoding': 'gzip' });
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-encoding'), 'gzip');
  // fetch decodes gzip itself; the length and bytes are the file's.
  assert.equal(Buffer.from(await wasm.arrayBuffer()).toString(), 'wasm '.repeat(820).slice(0, 4096));
  const png = await get('/image.png', { 'accept-encoding': 'gzip' });
  assert.equal(png.status, 200);
  assert.equal(png.headers.get('content-encoding'), null);
  assert.equal((await png.arrayBuffer()).byteLength, 4096);
});

test('standard output closed: the bundle drops its lines, says so once, serves on and stops gracefully', async () => {
  const data = join(folder, 'closed-output');
  await mkdir(data);
  await writeFile(join(data, 'db.json'), JSON.stringify({ posts: [] }));
  const child = spawn(process.execPath, [join(folder, 'dist/cli/main.js'), 'db.json', '--port', '0'], {
    cwd: data,
    env: { ...process.env, RESTAUTH_LOG_LEVEL: 'info', RESTAUTH_RATE_LIMITS: 'off' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  killedAfterTests(child);
  const exited = exitOf(child);
  let output = '';
  const gather = (chunk: Buffer) => (output += chunk.toString());
  child.stdout.on('data', gather);
  child.stderr.on('data', gather);
  await untilOutput(child, () => output, /restauth listening on http:\/\/\S+/u);
  const served = /restauth listening on (http:\/\/\S+)/u.exec(output)![1]!;
  child.stdout.destroy();

  // `s` + Enter: a snapshot, then a line saying so on standard output, which has no reader now.
  child.stdin.write('s\n');
  const lost = /standard output lost its reader \(EPIPE\)/gu;
  await untilOutput(child, () => output, lost);
  const signUp = await fetch(`${served}/auth/v1/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'closed@example.com', password: 'a passphrase' }),
  });
  assert.equal(signUp.status, 200, await signUp.text());
  child.kill('SIGTERM');
  const exit = await within(exited, 60_000, () => `the bundle's exit after SIGTERM:\n${output}`);
  assert.deepEqual(exit, { code: 0, signal: null }, output);
  assert.equal(output.match(lost)?.length, 1, output);
  assert.match(await readFile(join(data, 'credentials.json'), 'utf8'), /closed@example\.com/u);
});
