import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnRestauth, type RestauthProcess } from '../support/process.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * Readiness of the file store when a folder of its files stops being
 * writable. The tests run as root, whom chmod does not stop, and the kernel
 * refuses to remount read-only a file system with files open for writing (the
 * server keeps .db.json.lock and the audit log open): so a read-only tmpfs is
 * mounted over the credentials folder under the running server, holding a
 * copy of its files. Every path
 * the server opens, renames or checks there from then on is on a read-only
 * file system (EROFS stops root too). /ready answers 503 naming the folder,
 * a sign-up answers 507, reads go on; unmounted, it is ready again and takes
 * writes.
 */

describe('a data folder made read-only under a running server', { skip: tmpfsUnavailable() ?? false }, () => {
  let dir: string;
  let home: string;
  let instance: RestauthProcess;
  // A copy of the folder's files on a new tmpfs over it, then that tmpfs read-only (nothing is open on it).
  const makeReadOnly = () => {
    const copy = mkdtempSync(join(tmpdir(), 'restauth-readonly-copy-'));
    try {
      cpSync(dir, copy, { recursive: true });
      mountTmpfs(dir, '1m');
      cpSync(copy, dir, { recursive: true });
      execFileSync('mount', ['-o', 'remount,ro', dir]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  };
  const makeWritable = () => unmount(dir);

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'restauth-readonly-'));
    dir = join(home, 'credentials');
    mkdirSync(dir);
    await writeFile(join(home, 'db.json'), JSON.stringify({ users: [], posts: [{ id: 1, title: 'kept' }] }));
    instance = await spawnRestauth(home, [], {
      RESTAUTH_CREDENTIALS_FILE: join(dir, 'credentials.json'),
      RESTAUTH_JWT_SECRET: 'fault-suite-secret-0123456789abcdef',
      RESTAUTH_PASSWORD_ALGORITHM: 'bcrypt',
      RESTAUTH_LOG_LEVEL: 'warn',
    });
  });
  after(async () => {
    await instance?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  let token = '';
  const request = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${instance.url}${path}`, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      text: await response.text(),
    };
  };
  const register = (username: string) =>
    request('POST', '/auth/register', { username, password: 'a passphrase' });

  it('/ready answers 503 naming the folder, writes 507, reads go on, and all is well once it is writable again', async () => {
    const before = await register('before');
    assert.equal(before.status, 200, before.text);
    token = (JSON.parse(before.text) as { access_token: string }).access_token;
    assert.equal((await request('GET', '/ready')).status, 200);

    makeReadOnly();
    try {
      const ready = await request('GET', '/ready');
      assert.equal(ready.status, 503, ready.text);
      assert.deepEqual(JSON.parse(ready.text).checks, { dataFolder: 'not writable' });
      // Liveness is not readiness: restarting the process would not make the folder writable.
      assert.equal((await request('GET', '/health')).status, 200);

      const posts = await request('GET', '/posts');
      assert.equal(posts.status, 200, posts.text);
      assert.deepEqual(JSON.parse(posts.text), [{ id: 1, title: 'kept' }]);

      // A write that needs the folder is refused as storage, with Retry-After: never a 500.
      const refused = await register('during');
      assert.equal(refused.status, 507, `${refused.text}\n${instance.output()}`);
      assert.ok(refused.retryAfter);
      assert.match(refused.text, /its storage is read-only/u, 'what happened, as for a failing device');
    } finally {
      makeWritable();
    }

    assert.equal((await request('GET', '/ready')).status, 200);
    assert.equal((await register('after')).status, 200);
    assert.equal(instance.child.exitCode, null, instance.output());
    assert.doesNotMatch(instance.output(), /Unhandled|unexpected error/u);
  });
});
