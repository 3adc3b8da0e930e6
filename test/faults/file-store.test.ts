import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { exitOf } from '../support/child-waits.js';
import { durableData } from '../support/durable.js';
import { restauthCommand } from '../support/cli-command.js';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';
import { fillUp } from '../support/tmpfs.js';

/**
 * Faults of the file store, caused for real on a real restauth process: its
 * data folder on a tmpfs that fills up and goes read-only, a second process
 * from another PID namespace, damaged files. Each prints what was
 * acknowledged and what was lost, and the answers by status.
 */
const asRoot = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;

type Tally = { acknowledged: number; byStatus: Map<number, number> };

async function send(
  server: RestauthProcess,
  tally: Tally,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: unknown; retryAfter: string | null }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  tally.byStatus.set(res.status, (tally.byStatus.get(res.status) ?? 0) + 1);
  const text = await res.text();
  // json-data-server answers its errors in plain text.
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // kept as text
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}

function report(t: TestContext, what: string, tally: Tally, lost: number): void {
  const statuses = [...tally.byStatus].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`);
  t.diagnostic(
    `${what}: ${tally.acknowledged} writes acknowledged, ${lost} lost; answers ${statuses.join(', ')}`,
  );
}

function assertOnlyHonestFailures(tally: Tally): void {
  for (const status of tally.byStatus.keys()) {
    assert.ok(status < 500 || status === 503 || status === 507, `answered ${status}`);
  }
}

describe(
  'file store on a tmpfs that fills up and goes read-only',
  { skip: !asRoot && 'needs root to mount a tmpfs' },
  () => {
    let dir: string;
    let server: RestauthProcess;
    const tally: Tally = { acknowledged: 0, byStatus: new Map() };
    const posts: number[] = [];
    /** The users whose sign-up was acknowledged. */
    const registered: string[] = [];

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'restauth-tmpfs-'));
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
      assert.equal(mounted.status, 0, mounted.stderr.toString());
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [], comments: [] }));
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({
          rules: { posts: 777, comments: 777 },
          auth: { passwordSalt: 4, jwtSecret: 'fault-test-secret-0123456789abcdefghij' },
        }),
      );
      server = await spawnRestauth(dir);
    });
    after(async () => {
      await server?.stop();
      spawnSync('chattr', ['-i', dir]);
      spawnSync('umount', [dir]);
      await rmdir(dir).catch(() => {});
    });

    const post = async (title: string) => {
      const res = await send(server, tally, 'POST', '/posts', { title });
      if (res.status === 201) {
        tally.acknowledged++;
        posts.push((res.json as { id: number }).id);
      }
      return res;
    };
    const register = async (username: string) => {
      const res = await send(server, tally, 'POST', '/auth/register', {
        username,
        password: `pw-${username}`,
      });
      if (res.status === 200) {
        tally.acknowledged++;
        registered.push(username);
      }
      return res;
    };

    it('a full disk: writes answer 507 with Retry-After and change nothing, reads go on, writes resume once freed', async (t) => {
      for (let i = 0; i < 5; i++) assert.equal((await post(`before ${i}`)).status, 201);
      assert.equal((await register('early')).status, 200);

      const filler = join(dir, 'filler');
      await fillUp(filler);
      // A journaled write is a line appended to an open journal: the lines that still fit in its last
      // block are written and acknowledged (honestly: they are on disk), until one does not fit.
      let fitted = 0;
      while ((await post(`full ${fitted}`)).status === 201) assert.ok(++fitted < 1000, 'posts fit forever');
      const listBefore = await send(server, tally, 'GET', '/posts');
      for (let i = 0; i < 20; i++) {
        const res = await post(`full ${fitted + 1 + i}`);
        assert.equal(res.status, 507, JSON.stringify(res.json));
        assert.equal(res.retryAfter, '60');
      }
      // A sign-up too is journaled lines (credentials.json's, then db.json's): refused once they do not fit.
      let refused = await register('during-0');
      for (let i = 1; refused.status === 200; i++) {
        assert.ok(i < 1000, 'sign-ups fit forever');
        refused = await register(`during-${i}`);
      }
      const refusedName = `during-${registered.filter((name) => name.startsWith('during-')).length}`;
      assert.equal(refused.status, 507, JSON.stringify(refused.json));
      assert.match(JSON.stringify(refused.json), /cannot store data/);

      // Reads answer, and memory is as before: no refused write shows.
      const list = await send(server, tally, 'GET', '/posts');
      assert.equal(list.status, 200);
      assert.deepEqual(list.json, listBefore.json);
      assert.equal((await send(server, tally, 'GET', `/posts/${posts[0]}`)).status, 200);

      await rm(filler);
      // The refused sign-up left nothing behind: the name is free.
      assert.equal((await register(refusedName)).status, 200);
      assert.equal((await post('after')).status, 201);

      const durable = (await durableData(join(dir, 'db.json'))) as { posts: Array<{ id: number }> };
      const lost = posts.filter((id) => !durable.posts.some((p) => p.id === id));
      report(t, 'full disk', tally, lost.length);
      assert.deepEqual(lost, []);
      assertOnlyHonestFailures(tally);
    });

    it('a folder nothing can be created in (chattr +i): rewrites answer 507, reads go on, writes resume after', async () => {
      // Root ignores permissions and a tmpfs with an open file cannot be remounted read-only: the immutable
      // flag refuses every new file (EPERM), so every atomic rewrite fails; appends to the open journals still
      // work, so a journaled write (a sign-up, a post) is acknowledged.
      const comment = await send(server, tally, 'POST', '/comments', { postId: posts[0] });
      assert.equal(comment.status, 201, JSON.stringify(comment.json));
      assert.equal(spawnSync('chattr', ['+i', dir]).status, 0);
      try {
        // Deleting a record with its dependents rewrites db.json whole (one without is journaled).
        const signedIn = await send(server, tally, 'POST', '/auth/login', {
          username: 'early',
          password: 'pw-early',
        });
        const token = (signedIn.json as { access_token: string }).access_token;
        const refused = await send(
          server,
          tally,
          'DELETE',
          `/posts/${posts[0]}?_dependent=comments`,
          undefined,
          token,
        );
        assert.equal(refused.status, 507, JSON.stringify(refused.json));
        assert.equal(refused.retryAfter, '60');
        assert.equal((await register('immutable')).status, 200);
        assert.ok([201, 507].includes((await post('immutable folder')).status));
        assert.equal((await send(server, tally, 'GET', '/posts')).status, 200);
      } finally {
        assert.equal(spawnSync('chattr', ['-i', dir]).status, 0);
      }
      assert.equal((await register('immutable-after')).status, 200);
      assert.equal((await post('writable again')).status, 201);
      assertOnlyHonestFailures(tally);
    });

    it('after the faults the process is alive and nothing acknowledged is lost, also across a restart', async (t) => {
      assert.equal(server.child.exitCode, null, 'restauth is still running');
      const durable = (await durableData(join(dir, 'db.json'))) as { posts: Array<{ id: number }> };
      const lost = posts.filter((id) => !durable.posts.some((p) => p.id === id));
      await server.stop();
      server = await spawnRestauth(dir);
      const reopened = await send(server, tally, 'GET', '/posts');
      const ids = new Set((reopened.json as Array<{ id: number }>).map((p) => p.id));
      lost.push(...posts.filter((id) => !ids.has(id)));
      for (const name of registered) {
        assert.equal(
          (await send(server, tally, 'POST', '/auth/login', { username: name, password: `pw-${name}` }))
            .status,
          200,
        );
      }
      report(t, 'full disk and read-only folder, then a restart', tally, lost.length);
      assert.deepEqual(lost, []);
      assertOnlyHonestFailures(tally);
    });
  },
);

/** Runs `restauth` (the built bundle) in `cwd` until it exits; with `ownPidNamespace`, as a container would. */
function runToExit(cwd: string, ownPidNamespace: boolean): Promise<{ code: number | null; output: string }> {
  const node = [process.execPath, ...restauthCommand()];
  const [command, ...args] = ownPidNamespace ? ['unshare', '--pid', '--fork', '--kill-child', ...node] : node;
  const child = spawn(command!, args, {
    cwd,
    env: { ...process.env, RESTAUTH_PORT: '0', RESTAUTH_RATE_LIMITS: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close': the output is all read only then, not at 'exit'.
  return exitOf(child).then(({ code }) => ({ code, output }));
}

describe('a second process and damaged files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-start-faults-'));
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        rules: { posts: 777 },
        auth: { passwordSalt: 4, jwtSecret: 'fault-test-secret-0123456789abcdefghij' },
      }),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it(
    'a second restauth in another PID namespace refuses to start; the first loses nothing',
    { skip: !asRoot && 'needs root to create a PID namespace' },
    async (t) => {
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [] }));
      const first = await spawnRestauth(dir);
      const tally: Tally = { acknowledged: 0, byStatus: new Map() };
      try {
        const second = await runToExit(dir, true);
        assert.equal(second.code, 1);
        assert.match(second.output, /db\.json is in use by another restauth/);
        assert.doesNotMatch(second.output, /\n\s+at /, 'no stack');
        for (let i = 0; i < 40; i++) {
          const res = await send(first, tally, 'POST', '/auth/register', {
            username: `u${i}`,
            password: `pw-u${i}`,
          });
          if (res.status === 200) tally.acknowledged++;
        }
        assert.equal(first.child.exitCode, null);
      } finally {
        await first.stop();
      }
      const credentials = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as {
        passwords: Array<{ sub: string }>;
      };
      const lost = tally.acknowledged - credentials.passwords.length;
      report(t, 'second process in another PID namespace', tally, lost);
      assert.equal(lost, 0);
      assertOnlyHonestFailures(tally);
    },
  );

  for (const [file, damage] of [
    ['db.json', '{\n  "users": [],\n  "posts": [\n    { "id": 1, "title": "cut'],
    ['credentials.json', '{\n  "passwords": [\n    { "sub": "u1", "password": "x" }\n  ],\n  oops\n}'],
  ] as const) {
    it(`a damaged ${file} stops the start naming the file, line and column, without a stack`, async () => {
      await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [] }));
      await writeFile(join(dir, 'credentials.json'), JSON.stringify({ passwords: [] }));
      await writeFile(join(dir, file), damage);
      const { code, output } = await runToExit(dir, false);
      assert.equal(code, 1);
      const where = file === 'db.json' ? 'line 4, column 25' : 'line 5, column 3';
      assert.match(output, new RegExp(`${file.replace('.', '\\.')} is not valid JSON at ${where}`));
      assert.doesNotMatch(output, /\n\s+at /, 'no stack');
      // Nothing was rewritten: the damaged file is there for a person to repair.
      assert.equal(await readFile(join(dir, file), 'utf8'), damage);
    });
  }
});
