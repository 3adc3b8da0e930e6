import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A file of the file store replaced by a directory under a running server (a mistaken `mkdir`, a
 * restore that unpacked a folder where the file was, a volume mounted over the path). Every write
 * answered 500: setting the "edit" aside linked or copied it, which a directory refuses (EISDIR).
 * Now db.json or credentials.json replaced so is moved aside as `<file>.rejected-<time>` like any
 * hand edit, and restauth's version is put back: the write succeeds. A journal's path taken by a
 * directory cannot be put right by restauth (the directory may hold someone's files): writes answer
 * 507 with Retry-After, as for any storage refusal, until it is removed. Nothing acknowledged is lost.
 * db.json saved by hand as invalid JSON while serving is set aside the same way (restauth never
 * adopts an edit while it runs, unless --watch: test/cli/json-server-watch).
 */
describe('a file of the file store replaced by a directory under a running server', () => {
  const apps: TestApp[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const password = 'a passphrase of some length';
  const register = (t: TestApp, username: string) =>
    t.app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } });
  const login = (t: TestApp, username: string) =>
    t.app.inject({ method: 'POST', url: '/auth/login', payload: { username, password } });
  const start = async (dir: string) => {
    const t = await createTestApp({ format: 'json-data-server', config: {}, dir });
    apps.push(t);
    return t;
  };
  /** A directory, with a file in it, where `name` was. */
  const directoryFor = async (dir: string, name: string) => {
    await rm(join(dir, name), { force: true });
    await mkdir(join(dir, name, 'inside'), { recursive: true });
  };
  /** After a restart on the folder, each of `usernames` signs in. */
  const allSignIn = async (t: TestApp, dir: string, usernames: string[]) => {
    await t.close();
    const restarted = await start(dir);
    for (const username of usernames) {
      const answer = await login(restarted, username);
      assert.equal(answer.statusCode, 200, `${username}: ${answer.body}`);
    }
  };

  for (const name of ['db.json', 'credentials.json']) {
    it(`${name}: the directory is set aside, restauth's file put back, and the write succeeds`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'restauth-replaced-by-directory-'));
      dirs.push(dir);
      const t = await start(dir);
      assert.equal((await register(t, 'before')).statusCode, 200);

      await directoryFor(dir, name);
      const during = await register(t, 'during');
      assert.equal(during.statusCode, 200, during.body);
      assert.ok((await stat(join(dir, name))).isFile());
      const aside = (await readdir(dir)).filter((entry) => entry.startsWith(`${name}.rejected-`));
      assert.equal(aside.length, 1, String(aside));
      assert.deepEqual(await readdir(join(dir, aside[0]!)), ['inside']);
      await allSignIn(t, dir, ['before', 'during']);
    });
  }

  it('db.json hand-edited into invalid JSON: the edit is set aside, db.json valid again, nothing lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-replaced-by-directory-'));
    dirs.push(dir);
    const t = await start(dir);
    assert.equal((await register(t, 'before')).statusCode, 200);

    const broken = '{ "users": [ { "id": "before" ,, \n';
    await writeFile(join(dir, 'db.json'), broken);
    const during = await register(t, 'during');
    assert.equal(during.statusCode, 200, during.body);
    const aside = (await readdir(dir)).filter((entry) => entry.startsWith('db.json.rejected-'));
    assert.equal(aside.length, 1, String(aside));
    assert.equal(await readFile(join(dir, aside[0]!), 'utf8'), broken);
    await allSignIn(t, dir, ['before', 'during']);
  });

  it('a journal: writes answer 507 with Retry-After while the directory stands, and all is kept once it is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-replaced-by-directory-'));
    dirs.push(dir);
    const t = await start(dir);
    assert.equal((await register(t, 'before')).statusCode, 200);
    const journals = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.endsWith('.journal'))
      .map((entry) => entry.name);
    assert.ok(journals.length > 0, 'no journal written');

    for (const journal of journals) await directoryFor(dir, journal);
    for (const username of ['refused', 'refused again']) {
      const refused = await register(t, username);
      assert.equal(refused.statusCode, 507, refused.body);
      assert.ok(refused.headers['retry-after']);
    }

    for (const journal of journals) await rm(join(dir, journal), { recursive: true });
    assert.equal((await register(t, 'after')).statusCode, 200);
    await allSignIn(t, dir, ['before', 'after']);
  });
});
