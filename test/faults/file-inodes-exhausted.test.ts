import assert from 'node:assert/strict';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';

/**
 * The file store's volume runs out of inodes (many small files: a mail spool, a cache, sessions of
 * another program), not of bytes: creating any file fails (ENOSPC) though `df` shows room. A write
 * appended to a journal that exists needs no new file and is acknowledged; the compactions, which
 * write a copy, fail and are retried, the journals keeping every write (bounded as for any failing
 * compaction: test/faults/file-journal-bound). No write answers 500, nothing acknowledged is lost,
 * and once files are removed all is written out. Real fault: a tmpfs with a small inode table,
 * filled with empty files.
 */
describe('the file store on a volume out of inodes', { skip: tmpfsUnavailable() ?? false }, () => {
  const apps: TestApp[] = [];
  let dir = '';
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    if (dir) {
      unmount(dir);
      await rmdir(dir);
    }
  });

  const password = 'a passphrase of some length';
  const register = (t: TestApp, username: string) =>
    t.app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } });
  const login = (t: TestApp, username: string) =>
    t.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });

  it('sign-ups go on into the journals while no file can be made, and all is kept once some are freed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-inodes-'));
    mountTmpfs(dir, '16m', 64);
    const t = await createTestApp({ format: 'json-data-server', config: {}, dir });
    apps.push(t);
    assert.equal((await register(t, 'before')).statusCode, 200);

    const fillers: string[] = [];
    for (;;) {
      const filler = join(dir, `filler-${fillers.length}`);
      try {
        await writeFile(filler, '');
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
        break;
      }
      fillers.push(filler);
    }
    // The journals exist: a sign-up's lines are appended to them, no file made, and it is acknowledged.
    // What needs a new file (a compaction's copy) fails and is retried: the journals keep every write.
    for (const username of ['during', 'during again']) {
      const during = await register(t, username);
      assert.equal(during.statusCode, 200, during.body);
    }
    const ready = await t.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 200, ready.body);

    for (const filler of fillers) await rm(filler);
    const afterwards = await register(t, 'after');
    assert.equal(afterwards.statusCode, 200, afterwards.body);
    await t.close();

    const restarted = await createTestApp({ format: 'json-data-server', config: {}, dir });
    apps.push(restarted);
    for (const username of ['before', 'during', 'during again', 'after']) {
      const answer = await login(restarted, username);
      assert.equal(answer.statusCode, 200, `${username}: ${answer.body}`);
    }
  });
});
