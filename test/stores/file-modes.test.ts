import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { newSession, seed } from '../support/credentials-seed.js';

const quiet = { info() {}, warn() {} };

/**
 * Every rewrite renames a new file over the old one, with the mode and owner it is given. It was given
 * the mode the file had when restauth started, and the server's own user: an operator who made
 * credentials.json owner-only (or db.json private) while restauth ran had it undone by the next
 * rewrite, without a word, and a root server gave the file back to root whoever it had been handed to.
 */
describe('a chmod or chown of the data files while restauth runs', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /** Both files started 0644; `change` made to each under an open store; then both rewritten. */
  async function rewrittenAfter(change: (file: string) => Promise<void>): Promise<Record<string, Stats>> {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-file-modes-'));
    dirs.push(dir);
    const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    const seeded = seed(3);
    await writeFile(files.dataFile, seeded.data);
    await writeFile(files.credentialsFile, seeded.credentials);
    for (const file of Object.values(files)) await chmod(file, 0o644);
    const db = await FileDatabase.open({ ...files, logger: quiet });
    let dataFile: Stats;
    try {
      for (const file of Object.values(files)) await change(file);
      // A whole-document commit rewrites db.json; a session, then the compaction at close, credentials.json.
      await db.transactDocument((data) => {
        data.posts = [{ id: 1 }];
      });
      dataFile = await stat(files.dataFile);
      await new FileStore(db, { usersProp: 'users', userIdProp: 'id' }).createSession(
        newSession('user1', 'after-change', new Date()),
      );
    } finally {
      await db.close();
    }
    return { 'db.json': dataFile, 'credentials.json': await stat(files.credentialsFile) };
  }

  it('a chmod is kept by the rewrites that follow, of db.json and of credentials.json', async () => {
    const rewritten = await rewrittenAfter((file) => chmod(file, 0o600));
    for (const [name, stats] of Object.entries(rewritten))
      assert.equal((stats.mode & 0o777).toString(8), '600', `${name} after its rewrite`);
  });

  it(
    'a chown is kept by the rewrites of a root server',
    { skip: process.getuid?.() !== 0 && 'needs root' },
    async () => {
      const rewritten = await rewrittenAfter((file) => chown(file, 4321, 4322));
      for (const [name, stats] of Object.entries(rewritten))
        assert.deepEqual([stats.uid, stats.gid], [4321, 4322], `${name} after its rewrite`);
    },
  );
});
