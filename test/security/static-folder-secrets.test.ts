import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';

const SECRET = 'static-folder-secret-0123456789abcdef-0123';

/**
 * json-server serves its static folder as it is, and `json-server db.json --static .` (or `-s ./`)
 * is a common way to serve a project's own index.html. restauth takes the same flag, and its folder
 * then held what json-server's never did: credentials.json (every password hash), db.json whole
 * (records the access rules hide, the users' private profiles), the config file (with the JWT
 * secret: anyone could sign a service-role token), the audit log and the state folder (a generated
 * JWT secret, the mail queue with every reset link). None of restauth's own files is ever served from the static
 * folder, whatever the path or link leading to it; everything else in the folder still is.
 */
describe("the static folder never serves restauth's own files", () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp({
      format: 'restauth',
      config: { jwt: { secret: SECRET }, stateDir: 'state', data: { static: '.' } },
      files: { 'db.json': JSON.stringify({ users: [], notes: [] }) },
      prepare: async (dir) => {
        await writeFile(join(dir, 'index.html'), '<h1>the app</h1>');
        // What the state folder holds when no secret is configured (restauth generates one there).
        await mkdir(join(dir, 'state'));
        await writeFile(join(dir, 'state', 'jwt-secret'), SECRET);
        await mkdir(join(dir, 'assets'));
        await writeFile(join(dir, 'assets', 'app.js'), 'console.log(1)');
        // A link inside the folder to a file of restauth's is no way around it either.
        await symlink(join(dir, 'credentials.json'), join(dir, 'assets', 'data.json'));
        await symlink(join(dir, 'state'), join(dir, 'assets', 'state'));
      },
    });
    const registered = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'alice', password: 'alice passphrase 1', diary: 'private' },
    });
    assert.equal(registered.statusCode, 200, registered.body);
  });
  after(async () => {
    await t?.close();
  });

  it('serves the folder’s own files as before', async () => {
    const home = await t.app.inject({ url: '/' });
    assert.equal(home.statusCode, 200, home.body);
    assert.match(home.body, /the app/u);
    assert.equal((await t.app.inject({ url: '/index.html' })).statusCode, 200);
    assert.equal((await t.app.inject({ url: '/assets/app.js' })).statusCode, 200);
  });

  for (const url of [
    '/credentials.json',
    '/%63redentials.json',
    '/./credentials.json',
    '/assets/../credentials.json',
    '/assets/data.json',
    '/db.json',
    '/restauth.json',
    '/credentials.audit.jsonl',
    '/state/jwt-secret',
    '/assets/state/jwt-secret',
  ]) {
    it(`answers ${url} 404, not the file`, async () => {
      const res = await t.app.inject({ url });
      assert.equal(res.statusCode, 404, `${url}: ${res.body.slice(0, 200)}`);
      assert.doesNotMatch(res.body, new RegExp(`${SECRET}|passwords|\\$argon2|alice`, 'u'));
    });
  }
});
