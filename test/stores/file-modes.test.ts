import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { newSession, seed } from '../support/credentials-seed.js';

const quiet = { info() {}, warn() {} };
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/**
 * Every rewrite renames a new file over the old one, with the mode it is given. It was given the mode
 * the file had when restauth started: an operator who made credentials.json owner-only (or db.json
 * private) while restauth ran had it undone by the next rewrite, without a word. Root may chmod as
 * anyone, so this runs as the tests do.
 */
describe('a chmod of the data files while restauth runs', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('is kept by the rewrites that follow, of db.json and of credentials.json', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-file-modes-'));
    dirs.push(dir);
    const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    const seeded = seed(3);
    await writeFile(files.dataFile, seeded.data, { mode: 0o644 });
    await writeFile(files.credentialsFile, seeded.credentials, { mode: 0o644 });
    await chmod(files.credentialsFile, 0o644);
    const db = await FileDatabase.open({ ...files, logger: quiet });
    try {
      await chmod(files.dataFile, 0o600);
      await chmod(files.credentialsFile, 0o600);
      // A whole-document commit rewrites db.json; a session, then the compaction at close, credentials.json.
      await db.transactDocument((data) => {
        data.posts = [{ id: 1 }];
      });
      assert.equal((await modeOf(files.dataFile)).toString(8), '600', 'db.json after its rewrite');
      await new FileStore(db, { usersProp: 'users', userIdProp: 'id' }).createSession(
        newSession('user1', 'after-chmod', new Date()),
      );
    } finally {
      await db.close();
    }
    assert.equal(
      (await modeOf(files.credentialsFile)).toString(8),
      '600',
      'credentials.json after its rewrite',
    );
  });
});
