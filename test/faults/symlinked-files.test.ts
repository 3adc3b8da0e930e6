import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';

/**
 * db.json and credentials.json as symbolic links to the real files (a
 * synced or backed-up folder, a mounted volume, dotfiles). An atomic rewrite
 * renames a temp file over the path it is given: over a link it replaced the
 * link with a file of its own, so from the first write on the real files were
 * never written again (a backup of them kept the state of the start), and the
 * instance lock sat beside the link: two restauth started through two links
 * both ran on the same files, each overwriting the other's writes.
 */
describe('data files that are symbolic links (file store)', () => {
  const root = mkdtemp(join(tmpdir(), 'restauth-symlinks-'));
  after(async () => rm(await root, { recursive: true, force: true }));

  /** A folder whose db.json and credentials.json link to `real`'s. */
  async function linkedFolder(real: string): Promise<string> {
    const dir = await mkdtemp(join(await root, 'linked-'));
    await symlink(join(real, 'db.json'), join(dir, 'db.json'));
    await symlink(join(real, 'credentials.json'), join(dir, 'credentials.json'));
    return dir;
  }

  const start = (dir: string) =>
    createTestApp({
      format: 'restauth',
      dir,
      config: { passwords: FAST_HASHING, signup: { confirmEmail: false }, dialects: { gotrue: {} } },
    });

  it('writes go to the files the links name, and the links stay links', async () => {
    const real = join(await root, 'real');
    await mkdir(real);
    await writeFile(join(real, 'db.json'), '{"users": []}\n');
    await writeFile(join(real, 'credentials.json'), '{"passwords": []}\n');
    const dir = await linkedFolder(real);

    const t = await start(dir);
    let id: string;
    try {
      const signUp = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: 'linked@acme.test', password: 'a passphrase of some length' },
      });
      assert.equal(signUp.statusCode, 200, signUp.body);
      id = signUp.json().user.id;
    } finally {
      await t.close();
    }
    for (const name of ['db.json', 'credentials.json']) {
      assert.ok((await lstat(join(dir, name))).isSymbolicLink(), `${name} is still a link`);
      assert.ok((await readFile(join(real, name), 'utf8')).includes(id), `the real ${name} has the user`);
    }
  });

  it('a second restauth through other links to the same files is refused while the first runs', async () => {
    const real = join(await root, 'real');
    const first = await start(await linkedFolder(real));
    try {
      await assert.rejects(start(await linkedFolder(real)), /is in use by another restauth/u);
    } finally {
      await first.close();
    }
  });
});
