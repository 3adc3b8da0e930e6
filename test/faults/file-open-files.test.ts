import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { linesLogger } from '../support/log-lines.js';
import { prlimitUnavailable, withoutFileDescriptors } from '../support/open-files.js';
import { signUp } from '../support/postgres-faults.js';

/**
 * The process out of file descriptors (EMFILE: `ulimit -n` reached by many connections, or a leak
 * elsewhere) under a running server, for real: this process's own soft limit is lowered with
 * prlimit and the descriptors left are taken by opening /dev/null until open() refuses. The
 * journals hold their files open, so journaled writes go on; a write that opens a file (a whole
 * rewrite of db.json) cannot. That is a moment's exhaustion, not a fault of the disk nor of the
 * code: a clear 503 with a short Retry-After, the commit undone, /ready saying why, and everything
 * works again once descriptors are free. A password check that needs a new hashing thread cannot
 * start one either (a thread needs descriptors of its own): the same 503, not a 500.
 */
describe('file store with every file descriptor in use', { skip: prlimitUnavailable ?? false }, () => {
  const dirs: string[] = [];
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a write that opens a file answers 503 with Retry-After, /ready says why, nothing acknowledged is lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-open-files-'));
    dirs.push(dir);
    const dataFile = join(dir, 'db.json');
    await writeFile(
      dataFile,
      JSON.stringify({ users: [], posts: [{ id: 1, title: 'one' }], comments: [{ id: 1, postId: 1 }] }),
    );
    const logged: string[] = [];
    const t = await createTestApp({
      format: 'json-data-server',
      config: { rules: { posts: 777, comments: 777 } },
      dir,
      log: linesLogger('warn', logged),
    });
    apps.push(t);
    const request = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      t.app.inject({ method, url, ...(payload && { payload }) });
    // Opens db.json's journal, which then stays open.
    assert.equal((await request('POST', '/posts', { id: 2, title: 'two' })).statusCode, 201);

    await withoutFileDescriptors(async () => {
      const ready = await request('GET', '/ready');
      assert.equal(ready.statusCode, 503, ready.body);
      assert.equal(ready.json().checks.openFiles, 'none left (EMFILE): raise the limit (ulimit -n)');
      // Journaled: the journal's file is open already.
      const post = await request('POST', '/posts', { id: 3, title: 'three' });
      assert.equal(post.statusCode, 201, post.body);
      // Deleting dependants rewrites db.json whole, which opens a new file: refused for now, and undone.
      const refused = await request('DELETE', '/posts/1?_dependent=comments');
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(refused.json().error, 'over_capacity');
      assert.equal(refused.headers['retry-after'], '5');
      // The log says why, as a warning, not as an unexpected error with a stack.
      assert.ok(
        logged.some((line) => /"code":"EMFILE".*too many open files/u.test(line)),
        logged.join('\n'),
      );
      assert.ok(!logged.some((line) => line.includes('unexpected error')), logged.join('\n'));
      const posts = await request('GET', '/posts');
      assert.deepEqual(
        posts.json().map((post: { id: number }) => post.id),
        [1, 2, 3],
      );
    });
    assert.equal((await request('GET', '/ready')).statusCode, 200);
    assert.equal((await request('DELETE', '/posts/1?_dependent=comments')).statusCode, 200);
    await t.close();
    assert.deepEqual(JSON.parse(await readFile(dataFile, 'utf8')), {
      users: [],
      posts: [
        { id: 2, title: 'two' },
        { id: 3, title: 'three' },
      ],
      comments: [],
    });
  });

  it('a password check that has to start a hashing thread answers 503 with Retry-After, then signs in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-open-files-'));
    dirs.push(dir);
    const logged: string[] = [];
    // Fresh: no hashing thread runs yet, so the first password check has to start one.
    const t = await createTestApp({ format: 'restauth', dir, log: linesLogger('warn', logged) });
    apps.push(t);
    const signIn = () =>
      t.app.inject({
        method: 'POST',
        url: '/auth/v1/token?grant_type=password',
        payload: { email: 'nobody@example.test', password: 'Correct-horse-9' },
      });
    await withoutFileDescriptors(async () => {
      const refused = await signIn();
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(refused.json().error_code, 'over_capacity');
      assert.equal(refused.headers['retry-after'], '5');
      assert.ok(
        logged.some((line) => /hashing thread could not start.*EMFILE/u.test(line)),
        logged.join('\n'),
      );
      assert.ok(!logged.some((line) => line.includes('unexpected error')), logged.join('\n'));
    });
    // Descriptors free: a thread starts, and the unknown address is told so as ever.
    const answered = await signIn();
    assert.equal(answered.statusCode, 400, answered.body);
    assert.equal(answered.json().error_code, 'invalid_credentials');
  });

  it('a recovery asked while no file can be opened answers 503, not 200 for a mail never queued', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-open-files-'));
    dirs.push(dir);
    const t = await createTestApp({ format: 'restauth', dir });
    apps.push(t);
    const recover = () =>
      t.app.inject({ method: 'POST', url: '/auth/v1/recover', payload: { email: 'ann@example.test' } });
    const signedUp = await signUp(t, 'ann@example.test');
    assert.equal(signedUp.statusCode, 200, signedUp.body);
    await t.services.idle();
    const outbox = join(dir, '.restauth', 'outbox');
    const mailed = async () => (await readdir(outbox)).filter((name) => name.endsWith('.eml')).length;
    const welcomed = await mailed();
    await withoutFileDescriptors(async () => {
      // The mail is queued after the answer (which must not tell whether the address has an account),
      // by a rewrite of the mail queue that needs a descriptor: "sent" would be a lie.
      const refused = await recover();
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal(refused.json().error_code, 'over_capacity');
      assert.equal(refused.headers['retry-after'], '5');
      await t.services.idle();
    });
    assert.equal(await mailed(), welcomed);
    assert.equal((await recover()).statusCode, 200);
    await t.services.idle();
    assert.equal(await mailed(), welcomed + 1);
  });
});
