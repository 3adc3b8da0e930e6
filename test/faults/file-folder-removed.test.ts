import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * The file store's folder is removed under a running server: an operator's
 * clean-up naming the wrong folder, a volume unmounted, a container's
 * temporary folder swept. Nothing can be stored until it is back, and that is
 * the storage refusing, not a bug: writes answer 507 with Retry-After (as on a
 * full or read-only disk), /ready answers 503, reads from memory go on. Once
 * the folder is made again, writes succeed, and memory (which holds every
 * acknowledged write) is written back: a restart on the folder finds every
 * account.
 */
describe('the data folder removed under a running file store', () => {
  const apps: TestApp[] = [];
  let dir = '';
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    if (dir) for (const path of [dir, removed(dir)]) await rm(path, { recursive: true, force: true });
  });
  const removed = (folder: string) => `${folder}.removed`;

  const password = 'a passphrase of some length';
  const register = (t: TestApp, username: string) =>
    t.app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } });
  const login = (t: TestApp, username: string) =>
    t.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });

  it('writes answer 507 while it is gone, /ready 503, and all is kept once it is made again', async () => {
    // A folder of the test's own: the app removes only one it made, and the restart needs this one.
    dir = await mkdtemp(join(tmpdir(), 'restauth-folder-removed-'));
    const t = await createTestApp({ format: 'json-data-server', config: {}, dir });
    apps.push(t);
    assert.equal((await register(t, 'before')).statusCode, 200);

    // Gone from its path at once: an `rm -r` of the folder itself could meet a file the server's
    // compaction (due soon after the sign-up) made after rm listed the folder, and fail ENOTEMPTY.
    // Nothing is made in the moved folder (the server opens files by their path), so it goes cleanly.
    await rename(dir, removed(dir));
    await rm(removed(dir), { recursive: true });
    const during = await register(t, 'during');
    assert.equal(during.statusCode, 507, during.body);
    assert.ok(during.headers['retry-after']);
    const ready = await t.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 503, ready.body);

    await mkdir(dir);
    const afterwards = await register(t, 'after');
    assert.equal(afterwards.statusCode, 200, afterwards.body);
    assert.equal((await login(t, 'before')).statusCode, 200);
    await t.close();

    const restarted = await createTestApp({ format: 'json-data-server', config: {}, dir });
    apps.push(restarted);
    for (const username of ['before', 'after']) {
      const answer = await login(restarted, username);
      assert.equal(answer.statusCode, 200, `${username}: ${answer.body}`);
    }
    assert.equal((await login(restarted, 'during')).statusCode, 400, 'the refused sign-up left no account');
  });
});
