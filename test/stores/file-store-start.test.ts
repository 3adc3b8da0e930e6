import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openFileStore } from '../../src/stores/file/index.js';
import { createTestApp } from '../support/app.js';
import { spawnRestauth } from '../support/process.js';

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const storeConfig = (dir: string, dataFile = 'db.json') => ({
  type: 'file' as const,
  dataFile: join(dir, dataFile),
  credentialsFile: join(dir, 'credentials.json'),
  usersProp: 'users',
  userIdProp: 'id',
});

/** A json-data-server folder with two users: db.json and credentials.json as it writes them. */
async function folderWithUsers(dir: string): Promise<string> {
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'alice' }, { id: 'bob' }] }));
  const credentials = JSON.stringify({
    passwords: [
      { sub: 'alice', password: '$2b$10$aliceHashaliceHashaliceHashaliceHashaliceHashaliceHa' },
      { sub: 'bob', password: '$2b$10$bobHashbobHashbobHashbobHashbobHashbobHashbobHashbobH' },
    ],
  });
  await writeFile(join(dir, 'credentials.json'), credentials);
  return credentials;
}

/** Issue 10 finding 13 and issue 11 finding 9: one half of the store missing never costs the other half. */
describe('file store at start: a missing half is refused, nothing is deleted', () => {
  it('`restauth dbb.json` (a typo) beside a credentials.json with users refuses to start, naming both files', async () => {
    const dir = await tempDir('restauth-typo-');
    const credentials = await folderWithUsers(dir);
    const started = await spawnRestauth(dir, ['dbb.json'], {
      RESTAUTH_JWT_SECRET: 'test-secret-0123456789abcdef0123456789',
    }).catch((error: Error) => error);
    if (!(started instanceof Error)) {
      await started.stop();
      assert.fail(`restauth started on dbb.json:\n${started.output()}`);
    }
    assert.match(started.message, /exited \(1\) before listening/);
    assert.match(
      started.message,
      /dbb\.json does not exist, but .*credentials\.json holds the credentials of 2 user/,
    );
    assert.doesNotMatch(started.message, /\n\s+at /, 'one line, no stack');
    assert.equal(await readFile(join(dir, 'credentials.json'), 'utf8'), credentials, 'credentials untouched');
    assert.equal(existsSync(join(dir, 'dbb.json')), false, 'no empty dbb.json created');
    // Back on the right file, everyone can still sign in.
    const { store } = await openFileStore(storeConfig(dir));
    try {
      assert.match((await store.getPasswordHash('alice')) ?? '', /^\$2b\$10\$alice/);
      assert.match((await store.getPasswordHash('bob')) ?? '', /^\$2b\$10\$bob/);
    } finally {
      await store.close();
    }
  });

  it('a credentials.json lost after sign-ups (its audit log remains) is refused, naming both files, and not re-created', async () => {
    const dir = await tempDir('restauth-no-credentials-');
    const first = await createTestApp({
      format: 'json-data-server',
      config: { auth: { passwordSalt: 4 } },
      dir,
    });
    try {
      for (const username of ['alice', 'bob']) {
        const response = await first.app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { username, password: `${username}-password` },
        });
        assert.equal(response.statusCode, 200, response.body);
      }
    } finally {
      await first.close();
    }
    await rm(join(dir, 'credentials.json'));
    await assert.rejects(
      createTestApp({ format: 'json-data-server', config: { auth: { passwordSalt: 4 } }, dir }),
      (error: NodeJS.ErrnoException) => {
        assert.match(
          error.message,
          /credentials\.json does not exist, but .*db\.json holds 2 user\(s\) under "users" and .*credentials\.audit\.jsonl shows/,
        );
        assert.equal(error.code, 'EREFUSED');
        return true;
      },
    );
    assert.equal(existsSync(join(dir, 'credentials.json')), false);
  });

  it('a fresh folder, a json-server db.json with users written by hand, or files holding no users start', async () => {
    const dir = await tempDir('restauth-fresh-');
    const { store } = await openFileStore(storeConfig(dir));
    await store.close();
    await rm(join(dir, 'db.json'));
    const again = await openFileStore(storeConfig(dir));
    await again.store.close();
    // Users by hand, never a password: credentials.json is created, and they are users without one.
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'alice' }] }));
    await rm(join(dir, 'credentials.json'));
    const third = await openFileStore(storeConfig(dir));
    try {
      assert.equal((await third.store.findUserById('alice'))?.id, 'alice');
    } finally {
      await third.store.close();
    }
    assert.ok(existsSync(join(dir, 'credentials.json')));
  });

  it('credentials without a user in db.json are reported and kept; a new user of that id inherits none of them', async () => {
    const dir = await tempDir('restauth-orphans-');
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: 'kept' }] }));
    await writeFile(
      join(dir, 'credentials.json'),
      JSON.stringify({
        passwords: [
          { sub: 'kept', password: 'h1' },
          { sub: 'orphan', password: 'h2' },
        ],
        sessions: {
          s1: {
            userId: 'orphan',
            createdAt: '2026-01-01T00:00:00.000Z',
            refreshedAt: '2026-01-01T00:00:00.000Z',
            notAfter: '2999-01-01T00:00:00.000Z',
            revokedAt: null,
            revokedReason: null,
            refreshSecret: 'x',
          },
        },
        refreshTokens: { t1: { sessionId: 's1', createdAt: '2026-01-01T00:00:00.000Z', rotatedAt: null } },
      }),
    );
    const warnings: string[] = [];
    const { store } = await openFileStore(storeConfig(dir), {
      info: () => {},
      warn: (m) => warnings.push(m),
    });
    try {
      assert.match(
        warnings.join('\n'),
        /holds credentials of 1 user\(s\) missing from .*db\.json \(kept, not removed\): "orphan"/,
      );
      const onDisk = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8'));
      assert.equal(onDisk.passwords.length, 2, 'nothing removed at open');
      assert.equal(await store.getPasswordHash('kept'), 'h1');
      // A json-data-server user added by hand (no account record) is a user, found by its id.
      assert.equal((await store.findUserByUsername('KEPT'))?.id, 'kept');

      const user = await store.createUser(
        { username: 'orphan', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
        'h3',
      );
      assert.equal(user.id, 'orphan');
      assert.equal(await store.getPasswordHash('orphan'), 'h3');
      assert.equal(await store.findSession('s1'), null, "the earlier user's session is not the new user's");
      assert.equal(await store.findRefreshToken('t1'), null);
    } finally {
      await store.close();
    }
  });
});
