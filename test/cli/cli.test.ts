import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { jwtVerify } from 'jose';
import { loadConfig } from '../../src/config/load.js';
import { restauthCommand } from '../support/cli-command.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in `cwd` with a clean environment (no DATABASE_URL or PORT leaking in). */
function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...restauthCommand(), ...args], {
      cwd,
      env: { PATH: process.env['PATH'], HOME: cwd, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-cli-'));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('--help on every command', async () => {
  const dir = await tempDir();
  const root = await cli(dir, ['--help']);
  assert.equal(root.code, 0);
  assert.match(root.stdout, /^Usage: restauth \[options\] \[command\]/);
  assert.match(root.stdout, /serve \[options\] \[DATA_FILE\]\s+start the server \(the default command\)/);
  assert.match(root.stdout, /init \[options\]/);

  const serve = await cli(dir, ['serve', '--help']);
  assert.equal(serve.code, 0);
  assert.match(serve.stdout, /^Usage: restauth serve \[options\] \[DATA_FILE\]/);
  for (const flag of [
    '--config <file>',
    '--port <n>',
    '--host <host>',
    '-A, --app',
    '-C, --connection',
    '--schema',
    '-t, --table',
    '-e, --expire',
    '--issuer',
    '--secret',
    '--dev',
    // json-server's.
    '-w, --watch',
    '-r, --routes <file>',
    '-m, --middlewares <files...>',
    '--static <dir>',
    '--read-only',
    '--no-cors',
    '--no-gzip',
    '--snapshots <dir>',
    '-d, --delay <ms>',
    '--id <prop>',
    '--foreignKeySuffix <suffix>',
    '-q, --quiet',
  ]) {
    assert.ok(serve.stdout.includes(flag), `serve --help lists ${flag}`);
  }
  assert.match(serve.stdout, /default: \.\/db\.json/);
  assert.match(
    serve.stdout,
    /-s, -S and -i mean json-server's --static, --snapshots and --id when a DATA_FILE is given/,
  );

  const init = await cli(dir, ['init', '--help']);
  assert.equal(init.code, 0);
  assert.match(init.stdout, /^Usage: restauth init \[options\]/);
  assert.match(init.stdout, /-f, --force/);
  // --help writes nothing.
  assert.equal(existsSync(join(dir, 'config.json')), false);
});

test('init creates config.json, db.json and credentials.json, then refuses to overwrite them', async () => {
  const dir = await tempDir();
  const first = await cli(dir, ['init']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /created config\.json, db\.json, credentials\.json/);
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'db.json'), 'utf8')), { users: [] });
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')), { passwords: [] });
  assert.equal(
    (await stat(join(dir, 'config.json'))).mode & 0o077,
    0,
    'config.json holds the secret: owner only',
  );

  const written = await readFile(join(dir, 'config.json'), 'utf8');
  const file = JSON.parse(written) as { port: number; auth: Record<string, unknown> };
  assert.deepEqual(
    Object.keys(file.auth).sort(),
    [
      'checkRoute',
      'credentialsFile',
      'jwtAccessToken',
      'jwtClockTolerance',
      'jwtExpiresIn',
      'jwtRefreshExpiresIn',
      'jwtRefreshToken',
      'jwtSecret',
      'logoutRoute',
      'loginRoute',
      'passwordRoute',
      'passwordSalt',
      'refreshRoute',
      'registerRoute',
      'reqNewPassword',
      'reqUserId',
      'reqUserPassword',
      'userId',
      'userIdRE',
      'userPwdRE',
      'usersProp',
    ].sort(),
  );
  assert.equal(file.auth['passwordSalt'], 10);
  assert.equal(file.auth['jwtExpiresIn'], '1m');
  assert.match(String(file.auth['jwtSecret']), /^[A-Za-z0-9_-]{64}$/);
  // What init wrote loads as json-data-server's format with that secret, and no warnings.
  const warnings: string[] = [];
  const config = await loadConfig({ cwd: dir, env: {}, warn: (message) => warnings.push(message) });
  assert.equal(config.source, 'json-data-server');
  assert.equal(config.jwt.secret, file.auth['jwtSecret']);
  assert.equal(config.jwt.publicDefaultSecret, false);
  assert.deepEqual(warnings, []);

  const second = await cli(dir, ['init']);
  assert.equal(second.code, 1);
  assert.equal(
    second.stderr.trim(),
    `restauth: config.json, db.json, credentials.json already exist in ${dir}: nothing written (use --force to overwrite)`,
  );
  assert.equal(await readFile(join(dir, 'config.json'), 'utf8'), written);

  const forced = await cli(dir, ['init', '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  const rewritten = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as typeof file;
  assert.notEqual(rewritten.auth['jwtSecret'], file.auth['jwtSecret']);
});

test('init with one file already there names it and writes none of the others', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'db.json'), '{"users": [{"id": "kept"}]}');
  const result = await cli(dir, ['init']);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^restauth: db\.json already exists in .*: nothing written \(use --force to overwrite\)\n$/,
  );
  assert.equal(existsSync(join(dir, 'config.json')), false);
  assert.equal(existsSync(join(dir, 'credentials.json')), false);
  assert.equal(await readFile(join(dir, 'db.json'), 'utf8'), '{"users": [{"id": "kept"}]}');
});

test('a bad configuration exits 2 with a message naming the key, and no stack', async () => {
  const dir = await tempDir();
  const cases: Array<[string | null, string[], NodeJS.ProcessEnv, string | RegExp]> = [
    [
      '{"auth": {"passwordSalt": "ten"}}',
      [],
      {},
      'restauth: config.json: auth.passwordSalt must be an integer (got "ten")\n',
    ],
    [
      '{\n  "port": 3000,\n  "auth": {,}\n}',
      [],
      {},
      'restauth: config.json:3:12: invalid JSON (ValueExpected)\n',
    ],
    [
      null,
      [],
      { RESTAUTH_PORT: 'http' },
      'restauth: environment: RESTAUTH_PORT must be a port number (0-65535) (got "http")\n',
    ],
    [null, ['--config', 'nowhere.json'], {}, 'restauth: nowhere.json: cannot read the file (no such file)\n'],
    [
      null,
      ['--port', 'abc'],
      {},
      /^error: option '-p, --port <n>' argument 'abc' is invalid\. must be a port number \(0-65535\)\n/,
    ],
    [null, ['--expire', 'someday'], {}, /^restauth: --expire: value must be a duration like/],
  ];
  for (const [content, args, env, expected] of cases) {
    if (content === null) await rm(join(dir, 'config.json'), { force: true });
    else await writeFile(join(dir, 'config.json'), content);
    const result = await cli(dir, args, env);
    assert.equal(result.code, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${result.stderr}`);
    if (typeof expected === 'string') assert.equal(result.stderr, expected);
    else assert.match(result.stderr, expected);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('serve refuses a published or short secret naming the key; --dev starts with a warning', async () => {
  const dir = await tempDir();
  // json-data-server's config.json without jwtSecret: its published default would sign every token.
  await writeFile(join(dir, 'config.json'), '{}');
  const refused = await cli(dir, ['--port', '0']);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /^restauth: config\.json: auth\.jwtSecret is json-data-server's published default, so anyone can forge tokens with it\. .*RESTAUTH_DEV=1/,
  );
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  const short = await cli(dir, ['--port', '0'], { RESTAUTH_JWT_SECRET: 'too-short' });
  assert.equal(short.code, 2);
  assert.match(short.stderr, /^restauth: RESTAUTH_JWT_SECRET is 9 bytes long; at least 32 are needed/);

  const dev = startServe(dir, ['--port', '0', '--dev']);
  await dev.listening;
  assert.match(dev.stderr(), /warning: config\.json: auth\.jwtSecret .*development mode is on/);
  dev.child.kill('SIGTERM');
  await dev.exited;
});

test('a postgrest-auth.json without a database exits 2 saying how to give one', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'pa.json'), '// postgrest-auth\n{ "secret": "s", "port": 3001 }');
  const result = await cli(dir, ['--config', 'pa.json']);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^restauth: pa\.json: no PostgreSQL connection: .*DATABASE_URL, or --connection\n$/,
  );
});

test('DATA_FILE is the default command argument; a PostgreSQL store says it ignores it', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'pa.json'), '{ "secret": "s" }');
  const result = await cli(dir, ['mydb.json', '--config', 'pa.json']);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^restauth: warning: the PostgreSQL store is configured; file store settings ignored: DATA_FILE \(mydb\.json\)\n/,
  );
});

/** Starts the CLI and resolves once it says where it listens. */
function startServe(cwd: string, args: string[]) {
  const child = spawn(process.execPath, [...restauthCommand(), ...args], {
    cwd,
    env: { PATH: process.env['PATH'], HOME: cwd, RESTAUTH_LOG_LEVEL: 'warn' },
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /restauth listening on (\S+)/.exec(stdout);
      if (match?.[1]) resolve(match[1]);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  after(() => {
    child.kill('SIGKILL');
  });
  return { child, listening, exited, stderr: () => stderr };
}

test(
  'serve: listens, a second instance on the same data refuses, a taken port is named, SIGTERM closes',
  // A guard against a hang only: five CLI starts through tsx took over a minute on a loaded 2-core machine.
  { timeout: 300_000 },
  async () => {
    const dir = await tempDir();
    assert.equal((await cli(dir, ['init'])).code, 0);
    const first = startServe(dir, ['--port', '0']);
    const url = await first.listening;
    const response = await fetch(new URL('/auth/login', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'nobody', password: 'wrong' }),
    });
    assert.ok(
      response.status >= 400 && response.status < 500,
      `a 4xx for bad credentials, got ${response.status}`,
    );

    const second = await cli(dir, ['--port', '0'], { RESTAUTH_LOG_LEVEL: 'warn' });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /^restauth: .*(already|lock|another)/im);
    assert.doesNotMatch(second.stderr, /\n\s+at /, 'no stack trace');

    const port = new URL(url).port;
    const other = await tempDir();
    assert.equal((await cli(other, ['init'])).code, 0);
    const taken = await cli(other, ['--port', port]);
    assert.equal(taken.code, 1);
    assert.equal(taken.stderr, `restauth: port ${port} is already in use (set --port or RESTAUTH_PORT)\n`);

    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.stderr());
  },
);

test('keys service-token prints a role token the configured secret verifies', async () => {
  const dir = await tempDir();
  const env = { RESTAUTH_JWT_SECRET: 'cli-test-secret-0123456789-0123456789' };
  const service = await cli(dir, ['keys', 'service-token', '--expires-in', '1h'], env);
  assert.equal(service.code, 0, service.stderr);
  const key = new TextEncoder().encode(env.RESTAUTH_JWT_SECRET);
  const { payload } = await jwtVerify(service.stdout.trim(), key);
  assert.equal(payload['role'], 'service_role');
  assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600);

  const anon = await cli(dir, ['keys', 'service-token', '--role', 'anon', '--expires-in', '10y'], env);
  assert.equal((await jwtVerify(anon.stdout.trim(), key)).payload['role'], 'anon');

  const bad = await cli(dir, ['keys', 'service-token', '--expires-in', 'soon'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /expires-in/);
});
