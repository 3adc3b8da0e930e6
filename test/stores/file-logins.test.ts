import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AuthError } from '../../src/core/errors.js';
import { openFileStore } from '../../src/stores/file/index.js';
import { namedUser } from '../support/named-user.js';

const storeConfig = (dir: string) => ({
  type: 'file' as const,
  dataFile: join(dir, 'db.json'),
  credentialsFile: join(dir, 'credentials.json'),
  usersProp: 'users',
  userIdProp: 'id',
});

const account = (username: string | null, email: string | null) => ({
  username,
  email,
  emailConfirmedAt: null,
  role: null,
  tokenVersion: 0,
  appMetadata: {},
  createdAt: '2024-01-01T00:00:00.000Z',
  updatedAt: '2024-01-01T00:00:00.000Z',
  lastSignInAt: null,
});

async function withFiles(data: unknown, credentials: unknown, run: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-logins-'));
  try {
    await writeFile(join(dir, 'db.json'), JSON.stringify(data));
    await writeFile(join(dir, 'credentials.json'), JSON.stringify(credentials));
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Files written before logins were normalised, or edited by hand, meet the one identity model at open. */
describe('file store: logins of existing data', () => {
  it('refuses to open when two users are one login once normalised, naming both, and changes nothing', async () => {
    const credentials = {
      passwords: [
        { sub: 'kate', password: 'h1' },
        { sub: '\u212Aate', password: 'h2' },
      ],
      accounts: { kate: account('kate', null), '\u212Aate': account('\u212Aate', null) },
    };
    await withFiles({ users: [{ id: 'kate' }, { id: '\u212Aate' }] }, credentials, async (dir) => {
      const before = await readFile(join(dir, 'credentials.json'), 'utf8');
      await assert.rejects(openFileStore(storeConfig(dir)), (error: Error) => {
        assert.match(error.message, /"kate" and "\u212Aate" share the login "kate"/u);
        return true;
      });
      assert.equal(
        await readFile(join(dir, 'credentials.json'), 'utf8'),
        before,
        'nothing merged or removed',
      );
    });
  });

  it('refuses two accounts whose addresses differ only by case or width', async () => {
    const credentials = {
      passwords: [],
      accounts: { a: account(null, 'dana@corp.test'), b: account(null, 'ＤＡＮＡ@corp.test') },
    };
    await withFiles({ users: [{ id: 'a' }, { id: 'b' }] }, credentials, async (dir) => {
      await assert.rejects(openFileStore(storeConfig(dir)), /share the login "dana@corp.test"/u);
    });
  });

  it('opens with names that look alike (before look-alikes were refused), both signing in, told; refuses new ones', async () => {
    const cyrillic = '\u0430\u0406\u0435\u0445'; // аІех
    const credentials = {
      passwords: [],
      accounts: { alex: account('alex', null), [cyrillic]: account(cyrillic, null) },
    };
    // The others have no account: a hand-added user's name is its id. `Ivan` and `lvan` are ASCII
    // names, told apart by their login keys; `Іvan` (Cyrillic І) looks like `Ivan`.
    const data = {
      users: [{ id: 'alex' }, { id: cyrillic }, { id: 'Ivan' }, { id: 'lvan' }, { id: '\u0406van' }],
    };
    await withFiles(data, credentials, async (dir) => {
      const warnings: string[] = [];
      const logger = { info() {}, warn: (line: string) => warnings.push(line) };
      const { store } = await openFileStore(storeConfig(dir), logger);
      try {
        assert.deepEqual(
          warnings.filter((line) => line.includes('look alike')),
          [
            `restauth: ${join(dir, 'db.json')} holds users whose names look alike (UTS #39 confusables), kept; ` +
              `consider renaming one of each: "${cyrillic}" looks like "alex"; "\u0406van" looks like "Ivan"`,
          ],
        );
        assert.equal((await store.findUserByUsername(cyrillic))?.id, cyrillic);
        assert.equal((await store.findUserByUsername('LVAN'))?.id, 'lvan');
        const refusedAsTaken = (name: string) =>
          assert.rejects(
            store.createUser(namedUser(name), null),
            (error: AuthError) => error.code === 'user_already_exists',
            name,
          );
        await refusedAsTaken('\u0410\u0406\u0415\u0425');
        await refusedAsTaken('\u0456van');
        // Once the holder is gone, its look-alike holds the skeleton: a third look-alike is still refused.
        assert.equal(await store.deleteUser('alex'), true);
        await refusedAsTaken('\u0430lex');
      } finally {
        await store.close();
      }
    });
  });

  it('finds users stored in another case or width by their normalised login, and never by a record email', async () => {
    const credentials = {
      passwords: [{ sub: 'Ｂob', password: 'h1' }],
      accounts: { Ｂob: account('Ｂob', 'Bob@Corp.Test'), eve: account('eve', null) },
    };
    const data = {
      users: [{ id: 'Ｂob' }, { id: 'eve', email: 'bob@corp.test' }, { id: 'hand', email: 'h@corp.test' }],
    };
    await withFiles(data, credentials, async (dir) => {
      const { store } = await openFileStore(storeConfig(dir));
      try {
        assert.equal((await store.findUserByUsername('BOB'))?.id, 'Ｂob');
        assert.equal((await store.findUserByEmail('bob@corp.test'))?.id, 'Ｂob');
        assert.equal((await store.findUserById('eve'))?.email, null, "eve's record email is not her address");
        assert.equal(await store.findUserByEmail('h@corp.test'), null, 'nor is a hand-added record email');
      } finally {
        await store.close();
      }
    });
  });
});
