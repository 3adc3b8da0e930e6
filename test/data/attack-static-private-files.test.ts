import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * `--static .`, json-server's way to serve a project's index.html, makes the project folder the static
 * folder: the folder restauth runs in. db.json, credentials.json and the config were never served, but
 * @fastify/static serves dotfiles unless told not to (json-server's express.static never did), and
 * restauth's own files beside them were not listed: the .env restauth reads its JWT secret from, the
 * journals of credentials.json (password hashes, sessions) and db.json (every private record), the
 * instance lock, the snapshots `s` + Enter writes (whole copies of db.json) and the second name a hand
 * edit of credentials.json leaves (`credentials.json.rejected-<time>`, a hard link), and a config file
 * restauth did not read (json-data-server's config.json beside restauth.json). Each is a 404 now,
 * also through a symbolic link without a dot, while the project's own files are still served.
 */
const JWT_SECRET_IN_DOTENV = 'dotenv-secret-0123456789abcdef-0123456789';

describe('the static folder never serves restauth’s own files', () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: {
        dialects: { jsonServerAuth: { enabled: true } },
        data: { enabled: true, static: '.', rules: { secrets: 600 } },
      },
      files: {
        'db.json': JSON.stringify({ users: [], secrets: [] }),
        'index.html': '<p>the project</p>',
        'app.js': 'console.log(1)',
        '.env': `RESTAUTH_JWT_SECRET=${JWT_SECRET_IN_DOTENV}\n`,
        // json-data-server's config, left beside restauth.json (which is the one read) after a move.
        'config.json': JSON.stringify({ auth: { jwtSecret: JWT_SECRET_IN_DOTENV } }),
      },
      prepare: async (dir) => {
        await mkdir(join(dir, '.git'));
        await writeFile(join(dir, '.git', 'config'), '[remote "origin"]\n');
      },
    });
    // A password hash and a session in credentials.json's journal, a private record in db.json's.
    const registered = await t.app.inject({
      method: 'POST',
      url: '/register',
      payload: { email: 'alice@mail.com', password: 'alice passphrase' },
    });
    assert.equal(registered.statusCode, 201, registered.body);
    const token = registered.json<{ accessToken: string }>().accessToken;
    const secret = await t.app.inject({
      method: 'POST',
      url: '/secrets',
      payload: { text: 'alice’s secret' },
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(secret.statusCode, 201, secret.body);
    // What `s` + Enter writes to the snapshots folder (default: the working directory).
    await writeFile(join(t.dir, 'db-1764500000000.json'), await readFile(join(t.dir, 'db.json')));
    // As the store keeps a hand-edited file aside: a hard link, so no real path leads to credentials.json.
    await link(
      join(t.dir, 'credentials.json'),
      join(t.dir, 'credentials.json.rejected-2026-11-30T13-00-00.000Z-1'),
    );
    await symlink('.credentials.json.journal', join(t.dir, 'credentials-journal'));
    await symlink('.env', join(t.dir, 'settings.txt'));
  });

  after(() => t.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url });

  it('serves the project’s files', async () => {
    assert.equal((await get('/')).body, '<p>the project</p>');
    assert.equal((await get('/app.js')).body, 'console.log(1)');
  });

  it('answers 404 for the .env, journals, lock, .git, snapshots, kept copies and configs, by any path', async () => {
    const files = [
      '.env',
      '.credentials.json.journal',
      '.db.json.journal',
      '.db.json.lock',
      '.git/config',
      'db-1764500000000.json',
      'credentials.json.rejected-2026-11-30T13-00-00.000Z-1',
      'config.json',
      'credentials-journal',
      'settings.txt',
    ];
    for (const file of files) assert.ok(existsSync(join(t.dir, file)), `${file} is there to be asked for`);
    const urls = [...files.map((file) => `/${file}`), '/%2eenv', '/x/..%2f.env', '/.git%2fconfig'];
    for (const url of urls) {
      const res = await get(url);
      assert.equal(res.statusCode, 404, `${url}: ${res.statusCode} ${res.body.slice(0, 100)}`);
      assert.ok(!res.body.includes(JWT_SECRET_IN_DOTENV), url);
      assert.ok(!res.body.includes('alice'), url);
    }
  });
});
