import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { startJsonServer, type RunningJsonServer } from '../support/json-server.js';

/**
 * HEAD is a GET without the body: json-server 0.17 (Express) answers it as GET, and HTTP clients and
 * proxies send it to probe a resource (its existence, X-Total-Count, Content-Length). The data API
 * judged it a write: 401/403 under a rule that lets anyone read, 403 when read-only, 405 on a list,
 * 400 on a singular resource and 404 at the home page. It is now a read in every place, under the
 * read digit. Compared with json-server 0.17.4 itself over HTTP.
 */
const DB = {
  users: [],
  posts: [
    { id: 1, title: 'one' },
    { id: 2, title: 'two' },
  ],
  profile: { name: 'typicode' },
};
const PATHS = ['/posts', '/posts/1', '/posts/9', '/posts?_page=1&_limit=1', '/profile', '/db'];

const head = async (base: string, path: string) => {
  const res = await fetch(`${base}${path}`, { method: 'HEAD' });
  return { status: res.status, totalCount: res.headers.get('x-total-count'), body: await res.text() };
};

describe('HEAD on the data API is a read, as json-server answers it', () => {
  let dir: string;
  let jsonServer: RunningJsonServer;
  const apps: TestApp[] = [];
  /** Public read, owner-only write (json-server-auth's 644), and the same read-only. */
  const bases: { guarded: string; readOnly: string } = { guarded: '', readOnly: '' };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restauth-head-'));
    await writeFile(join(dir, 'db.json'), JSON.stringify(DB));
    jsonServer = await startJsonServer(join(dir, 'db.json'));
    for (const kind of ['guarded', 'readOnly'] as const) {
      const t = await createTestApp({
        format: 'json-data-server',
        config: {
          auth: { passwordSalt: 4 },
          rules: { posts: 644, profile: 644, users: 644 },
          readOnly: kind === 'readOnly',
        },
        files: { 'db.json': JSON.stringify(DB) },
      });
      apps.push(t);
      bases[kind] = await t.app.listen({ port: 0, host: '127.0.0.1' });
    }
  });
  after(async () => {
    await jsonServer.close();
    for (const t of apps) await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const path of PATHS) {
    it(`HEAD ${path} without a token answers as json-server, under a public-read rule and read-only`, async () => {
      const theirs = await head(jsonServer.base, path);
      assert.deepEqual(await head(bases.guarded, path), theirs);
      assert.deepEqual(await head(bases.readOnly, path), theirs);
    });
  }

  it('HEAD / answers the home page as GET does, without its body', async () => {
    const res = await head(bases.guarded, '/');
    assert.deepEqual(res, { status: 200, totalCount: null, body: '' });
  });

  it('HEAD never passes a read digit that refuses the public', async () => {
    const t = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 }, rules: { posts: 640 } },
      files: { 'db.json': JSON.stringify(DB) },
    });
    apps.push(t);
    const get = await t.app.inject({ method: 'GET', url: '/posts/1' });
    const probe = await t.app.inject({ method: 'HEAD', url: '/posts/1' });
    assert.equal(probe.statusCode, get.statusCode);
    assert.equal(probe.body, '');
  });
});
