import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FileDatabase } from '../../src/stores/file/index.js';
import { takeOverJsonServerAuthUsers } from '../../src/stores/file/json-server-auth-takeover.js';

/**
 * The takeover of a json-server-auth db.json moves every bcrypt hash to credentials.json in one commit
 * that rewrote both files whole: each stringified (and compared) in one go on the event loop, at the
 * start and again at a reload under --watch, while requests are served. Both are now written in
 * pieces, as a compaction writes them. What is checked is the code's own count of pieces and the
 * files, not a time.
 */
const USERS = 3000;
const quiet = { info() {}, warn() {} };

describe("a json-server-auth db.json's takeover", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('writes both files in pieces, every hash moved', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'restauth-takeover-pieces-'));
    dirs.push(dir);
    const hashOf = (i: number) => `$2a$10$${String(i).padStart(53, 'a')}`;
    const users = Array.from({ length: USERS }, (_, i) => ({
      id: i + 1,
      email: `user${i}@example.com`,
      password: hashOf(i),
    }));
    const files = { dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json') };
    await writeFile(files.dataFile, JSON.stringify({ users, posts: [] }));
    const pieces = { data: [] as number[], credentials: [] as number[] };
    const db = await FileDatabase.open({
      ...files,
      logger: quiet,
      onCompactionPiece: (characters, file) => pieces[file].push(characters),
    });
    try {
      await takeOverJsonServerAuthUsers(db, { ...files, usersProp: 'users', userIdProp: 'id' }, quiet);
      const dataText = await readFile(files.dataFile, 'utf8');
      const credentialsText = await readFile(files.credentialsFile, 'utf8');
      for (const [written, text] of [
        [pieces.data, dataText],
        [pieces.credentials, credentialsText],
      ] as const) {
        assert.ok(written.length >= 5, `written in ${written.length} pieces`);
        const longest = Math.max(...written);
        assert.ok(longest * 4 < text.length, `a piece of ${longest} of ${text.length} characters`);
      }
      assert.doesNotMatch(dataText, /"password"/u);
      const stored = JSON.parse(credentialsText) as { passwords: Array<{ sub: string; password: string }> };
      assert.equal(stored.passwords.length, USERS);
      assert.equal(stored.passwords[USERS - 1]!.password, hashOf(USERS - 1));
    } finally {
      await db.close();
    }
  });
});
