import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { durableCredentials } from '../support/durable.js';

/** The file store's identities: files from before them, and the journal recording them. */
describe('file store identities', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'restauth-file-identities-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const at = '2025-01-02T03:04:05.000Z';
  /** db.json and credentials.json as restauth wrote them before identities: an email user and a named one. */
  const oldFiles = async () => {
    const dir = await mkdtemp(join(root, 'store-'));
    const account = (username: string | null, email: string | null) => ({
      username,
      email,
      emailConfirmedAt: email === null ? null : at,
      role: null,
      tokenVersion: 0,
      appMetadata: {},
      createdAt: at,
      updatedAt: at,
      lastSignInAt: null,
    });
    const mail = '0b9f8a7e-1111-4222-8333-444455556666';
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [{ id: mail }, { id: 'bob' }] }));
    await writeFile(
      join(dir, 'credentials.json'),
      JSON.stringify({
        passwords: [
          { sub: mail, password: 'hash' },
          { sub: 'bob', password: 'hash' },
        ],
        accounts: { [mail]: account(null, 'old@example.com'), bob: account('bob', null) },
      }),
      { mode: 0o600 },
    );
    return { dir, dataFile: join(dir, 'db.json'), credentialsFile: join(dir, 'credentials.json'), mail };
  };
  const open = async (f: Awaited<ReturnType<typeof oldFiles>>) => {
    const db = await FileDatabase.open({ ...f, logger: { info() {}, warn() {} } });
    const store = new FileStore(db, {
      usersProp: 'users',
      userIdProp: 'id',
    });
    return { db, store };
  };
  const fileIdentity = async (path: string) => {
    const { ino, mtimeMs, size } = await stat(path);
    return { ino, mtimeMs, size };
  };

  it('gives the users of a file from before identities their email identity, the same at every open, converting nothing', async () => {
    const f = await oldFiles();
    const untouched = await fileIdentity(f.credentialsFile);
    const first = await open(f);
    let id: string;
    try {
      const [identity, ...others] = await first.store.listIdentities(f.mail);
      assert.equal(others.length, 0);
      id = identity!.id;
      assert.equal(identity!.provider, 'email');
      assert.equal(identity!.providerId, f.mail);
      assert.deepEqual(identity!.identityData, {
        sub: f.mail,
        email: 'old@example.com',
        email_verified: true,
        phone_verified: false,
      });
      assert.equal(identity!.createdAt.toISOString(), at);
      assert.deepEqual(await first.store.listIdentities('bob'), []);
      assert.deepEqual(await fileIdentity(f.credentialsFile), untouched, 'reading wrote nothing');
    } finally {
      await first.db.close();
    }
    const second = await open(f);
    try {
      assert.equal((await second.store.findIdentity('email', f.mail))?.id, id, 'the same id after a restart');
    } finally {
      await second.db.close();
    }
  });

  it("a provider's user keeps only its provider's identity across restarts: none is derived for its address", async () => {
    const f = await oldFiles();
    const first = await open(f);
    let userId: string;
    try {
      const user = await first.store.createUser(
        {
          username: null,
          email: 'octo@github.example',
          emailConfirmedAt: new Date(at),
          role: null,
          profile: {},
          appMetadata: {},
          emailIdentity: false,
        },
        null,
      );
      userId = user.id;
      await first.store.linkIdentity({
        userId,
        provider: 'github',
        providerId: '77',
        identityData: { sub: '77', email: 'octo@github.example' },
        now: new Date(at),
      });
      await first.store.updateUser(userId, { emailConfirmedAt: new Date(at) });
      const providers = (await first.store.listIdentities(userId)).map((identity) => identity.provider);
      assert.deepEqual(providers, ['github']);
    } finally {
      await first.db.close();
    }
    const reopened = await open(f);
    try {
      const providers = (await reopened.store.listIdentities(userId)).map((identity) => identity.provider);
      assert.deepEqual(providers, ['github'], 'no email identity derived at the open');
      assert.equal(await reopened.store.findIdentity('email', userId), null);
      // The users from before identities still get theirs.
      assert.equal((await reopened.store.findIdentity('email', f.mail))?.email, 'old@example.com');
    } finally {
      await reopened.db.close();
    }
  });

  it("gives the accounts of a file from before providers were stored app_metadata's provider and providers from their identities", async () => {
    const f = await oldFiles();
    const github = '6c0a1f2e-7777-4888-9999-aaaabbbbcccc';
    const anonymous = 'a0a0a0a0-7777-4888-9999-aaaabbbbcccc';
    const credentials = JSON.parse(await readFile(f.credentialsFile, 'utf8')) as {
      accounts: Record<string, Record<string, unknown>>;
      identities?: Record<string, unknown>;
    };
    const account = credentials.accounts[f.mail]!;
    credentials.accounts[github] = { ...account, email: 'octo@github.example', appMetadata: { plan: 'pro' } };
    credentials.accounts[anonymous] = { ...account, email: null, isAnonymous: true };
    credentials.identities = {
      '0d0d0d0d-7777-4888-9999-aaaabbbbcccc': {
        userId: github,
        provider: 'github',
        providerId: '78',
        identityData: { sub: '78' },
        lastSignInAt: null,
        createdAt: at,
        updatedAt: at,
      },
    };
    await writeFile(f.credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
    await writeFile(
      f.dataFile,
      JSON.stringify({ users: [{ id: f.mail }, { id: 'bob' }, { id: github }, { id: anonymous }] }),
    );
    for (let open_ = 0; open_ < 2; open_++) {
      const { db, store } = await open(f);
      try {
        const appMetadata = async (id: string) => (await store.findUserById(id))!.appMetadata;
        assert.deepEqual(await appMetadata(github), {
          plan: 'pro',
          provider: 'github',
          providers: ['github'],
        });
        assert.deepEqual(await appMetadata(f.mail), { provider: 'email', providers: ['email'] });
        assert.deepEqual(
          await appMetadata('bob'),
          { provider: 'email', providers: ['email'] },
          'no identity: email',
        );
        assert.deepEqual(await appMetadata(anonymous), {}, "an anonymous user's none, as GoTrue's");
      } finally {
        await db.close();
      }
    }
  });

  it('journals links, address changes and removals: what a restart reads has them', async () => {
    const f = await oldFiles();
    const { db, store } = await open(f);
    try {
      const written = await fileIdentity(f.credentialsFile);
      const linked = await store.linkIdentity({
        userId: 'bob',
        provider: 'github',
        providerId: '4242',
        identityData: { sub: '4242', email: 'bob@github.example' },
        now: new Date(at),
      });
      await store.updateUser(f.mail, { email: 'new@example.com', emailConfirmedAt: null });
      const [email] = await store.listIdentities(f.mail);
      assert.deepEqual(await fileIdentity(f.credentialsFile), written, 'appended, not rewritten');
      const durable = (await durableCredentials(f.credentialsFile)) as {
        identities: Record<
          string,
          { userId: string; provider: string; identityData: Record<string, unknown> }
        >;
      };
      assert.equal(durable.identities[linked.id]?.userId, 'bob');
      assert.equal(durable.identities[linked.id]?.provider, 'github');
      assert.deepEqual(durable.identities[email!.id]?.identityData, {
        sub: f.mail,
        email: 'new@example.com',
        email_verified: false,
        phone_verified: false,
      });
      await store.deleteUser('bob');
      const afterDelete = (await durableCredentials(f.credentialsFile)) as {
        identities: Record<string, unknown>;
      };
      assert.equal(afterDelete.identities[linked.id], undefined);
    } finally {
      await db.close();
    }
    const reopened = await open(f);
    try {
      assert.equal(await reopened.store.findIdentity('github', '4242'), null);
      assert.equal((await reopened.store.listIdentities(f.mail))[0]?.email, 'new@example.com');
    } finally {
      await reopened.db.close();
    }
  });
});
