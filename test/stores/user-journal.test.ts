import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isAuthError } from '../../src/core/errors.js';
import { hashSecret } from '../../src/core/secrets.js';
import type { NewUser } from '../../src/core/ports/store.js';
import { FileDatabase, FileStore } from '../../src/stores/file/index.js';
import { changeLines } from '../support/journal-lines.js';

/**
 * The file store's user writes (sign-up, profile edit, password change,
 * removal ...) are journaled: a few lines in db.json's and credentials.json's
 * journals, neither file rewritten, the store's lookup maps kept up to date
 * instead of rebuilt. A reopen (a crash: the folder as the process left it)
 * must find what memory held.
 */

const quiet = { info() {}, warn() {} };

function newUser(name: string | null, email: string | null, profile: Record<string, unknown> = {}): NewUser {
  return { username: name, email, emailConfirmedAt: null, role: null, profile, appMetadata: {} };
}

describe('FileStore journal of user writes', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'restauth-user-journal-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /**
   * A folder with `count` users, each with an account and a password (and an address, unless
   * `withoutAddresses`: an address's email identity is then derived at each open, see
   * credentials-identities.ts, with the account's updatedAt of that moment).
   */
  const folder = async (count: number, withoutAddresses = false) => {
    const dir = await mkdtemp(join(root, 'store-'));
    const at = new Date(0).toISOString();
    const users = Array.from({ length: count }, (_, i) => ({ id: `user${i}`, bio: `bio ${i}` }));
    const accounts: Record<string, unknown> = {};
    for (const { id } of users)
      accounts[id] = {
        username: id,
        email: withoutAddresses ? null : `${id}@example.com`,
        emailConfirmedAt: at,
        role: null,
        tokenVersion: 0,
        appMetadata: {},
        createdAt: at,
        updatedAt: at,
        lastSignInAt: null,
      };
    await writeFile(join(dir, 'db.json'), JSON.stringify({ users }));
    await writeFile(
      join(dir, 'credentials.json'),
      JSON.stringify({ passwords: users.map(({ id }) => ({ sub: id, password: 'hash' })), accounts }),
      { mode: 0o600 },
    );
    return dir;
  };

  const open = async (dir: string, compactAtBytes?: number) => {
    const db = await FileDatabase.open({
      dataFile: join(dir, 'db.json'),
      credentialsFile: join(dir, 'credentials.json'),
      logger: quiet,
      // No timed compaction of db.json during a test: a rewrite is then the commit's own.
      compactAfterMs: 3_600_000,
      ...(compactAtBytes === undefined ? {} : { compactAtBytes }),
    });
    const store = new FileStore(db, {
      usersProp: 'users',
      userIdProp: 'id',
    });
    return { db, store };
  };

  /** What a SIGKILL leaves now: a copy of the folder, the instance lock aside. */
  const crashImage = async (dir: string) => {
    const image = await mkdtemp(join(root, 'image-'));
    for (const name of await readdir(dir))
      if (!name.endsWith('.lock')) await copyFile(join(dir, name), join(image, name));
    return image;
  };

  const identity = async (path: string) => {
    const { ino, mtimeMs, size } = await stat(path);
    return { ino, mtimeMs, size };
  };
  const lineCount = async (path: string) => changeLines(await readFile(path, 'utf8').catch(() => '')).length;

  it('a sign-up, a profile edit, a password change and a removal append the same lines at 10 users as at 5,000, and rewrite neither file', async () => {
    const appended: number[][] = [];
    for (const count of [10, 5000]) {
      const dir = await folder(count);
      const { db, store } = await open(dir);
      try {
        const files = [join(dir, 'db.json'), join(dir, 'credentials.json')];
        const before = await Promise.all(files.map(identity));
        const journals = [join(dir, '.db.json.journal'), join(dir, '.credentials.json.journal')];
        const lines = async () => (await Promise.all(journals.map(lineCount))).reduce((a, b) => a + b, 0);
        const counts: number[] = [];
        const step = async (write: () => Promise<unknown>) => {
          const start = await lines();
          await write();
          counts.push((await lines()) - start);
        };
        const now = new Date();
        await step(() =>
          store.createUser(newUser('newcomer', 'newcomer@example.com', { bio: 'new' }), 'hash', {
            session: {
              id: 'newcomer-session',
              createdAt: now,
              notAfter: new Date(now.getTime() + 3_600_000),
              refreshSecret: 'secret',
              firstRefreshTokenHash: hashSecret('first'),
            },
          }),
        );
        await step(() =>
          store.updateUser('user3', { profile: { bio: 'edited' }, email: 'moved@example.com' }),
        );
        await step(() => store.changePassword('user4', 'new-hash', null, now));
        await step(() => store.deleteUser('user5'));
        appended.push(counts);
        assert.deepEqual(await Promise.all(files.map(identity)), before, 'a file was rewritten');
        // Each user's logins are found through the maps the writes kept, not rebuilt.
        assert.equal((await store.findUserByEmail('newcomer@example.com'))?.id, 'newcomer');
        assert.equal((await store.findUserByEmail('moved@example.com'))?.id, 'user3');
        assert.equal(await store.findUserByEmail('user3@example.com'), null);
        assert.equal(await store.getPasswordHash('user4'), 'new-hash');
        assert.equal(await store.findUserById('user5'), null);
        assert.equal(await store.getPasswordHash('user5'), null);
      } finally {
        await db.close();
      }
    }
    // sign-up: the record, account, email identity, password, session and its token; profile and address:
    // the record, account and identity; password: the account and password; removal: the record, then the
    // password, account and identity.
    assert.deepEqual(appended, [
      [6, 3, 2, 4],
      [6, 3, 2, 4],
    ]);
  });

  it('concurrent sign-ups of one address or user name: exactly one wins, the others are refused', async () => {
    const dir = await folder(3);
    const { db, store } = await open(dir);
    try {
      const byEmail = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => store.createUser(newUser(`racer${i}`, 'Same@Example.com'), 'h')),
      );
      const byName = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => store.createUser(newUser('samename', `n${i}@example.com`), 'h')),
      );
      for (const [settled, code] of [
        [byEmail, 'email_exists'],
        [byName, 'user_already_exists'],
      ] as const) {
        assert.equal(settled.filter((result) => result.status === 'fulfilled').length, 1);
        for (const result of settled)
          if (result.status === 'rejected')
            assert.ok(isAuthError(result.reason) && result.reason.code === code);
      }
      const image = await crashImage(dir);
      const reopened = await open(image);
      try {
        const users = (reopened.db.data.users as Array<{ id: string }>).map((user) => user.id);
        assert.equal(users.filter((id) => id.startsWith('racer')).length, 1);
        assert.equal(users.filter((id) => id === 'samename').length, 1);
      } finally {
        await reopened.db.close();
      }
    } finally {
      await db.close();
    }
  });

  it('an audit event pruned while its sign-in is still journaled stays pruned after a crash', async () => {
    // Written into the audit file before the prune, or still only in the journal: both cases.
    for (const writtenFirst of [true, false]) {
      const dir = await folder(1);
      const { db, store } = await open(dir);
      try {
        const signIn = (n: number, at: Date) =>
          store.openSignIn({
            lastSignInAt: at,
            session: {
              id: `s${n}`,
              userId: 'user0',
              createdAt: at,
              notAfter: new Date(at.getTime() + 3_600_000),
              refreshSecret: `secret${n}`,
              firstRefreshTokenHash: hashSecret(`t${n}`),
              maxPerUser: 5,
            },
            audit: {
              id: `event${n}`,
              at,
              action: 'sign_in',
              userId: 'user0',
              actorId: 'user0',
              ip: null,
              data: {},
            },
            provenHash: 'hash',
          });
        await signIn(1, new Date(Date.UTC(2026, 0, 1)));
        await signIn(2, new Date(Date.UTC(2026, 2, 1)));
        if (writtenFirst) await db.auditLog.sync();
        assert.equal(await store.pruneAuditEvents(new Date(Date.UTC(2026, 1, 1))), 1);
        // The journal still holds both sign-ins (never compacted here): a crash now, then a start.
        assert.equal((await lineCount(join(dir, '.credentials.json.journal'))) > 0, true);
        const image = await crashImage(dir);
        const reopened = await open(image);
        try {
          const listed = await reopened.store.listAuditEvents({ page: 1, perPage: 10 });
          assert.deepEqual(
            listed.events.map((event) => event.id),
            ['event2'],
            `written first: ${writtenFirst}`,
          );
          // The next prune, with nothing older, leaves the file as it is.
          assert.equal(await reopened.store.pruneAuditEvents(new Date(Date.UTC(2026, 1, 1))), 0);
        } finally {
          await reopened.db.close();
        }
      } finally {
        await db.close();
      }
    }
  });

  /** A user write the property test draws: names and addresses from small pools, so they collide. */
  const NAMES = ['ann', 'bob', 'cy', 'user0', 'user1'];
  const EMAILS = ['a@x.test', 'b@x.test', 'C@X.test', 'A@x.test', null];
  const who = fc.constantFrom(...NAMES);
  const signUp = fc.record({
    op: fc.constant('signUp' as const),
    name: fc.option(who, { nil: null, freq: 4 }),
    email: fc.constantFrom(...EMAILS),
    password: fc.option(fc.constantFrom('p1', 'p2'), { nil: null }),
    session: fc.boolean(),
    bio: fc.string({ maxLength: 4 }),
  });
  // Sign-ups weigh more: most other writes need a user to act on.
  const command = fc.oneof(
    { arbitrary: signUp, weight: 5 },
    fc.record({ op: fc.constant('profile' as const), who, bio: fc.string({ maxLength: 4 }) }),
    fc.record({ op: fc.constant('email' as const), who, email: fc.constantFrom(...EMAILS) }),
    fc.record({ op: fc.constant('rename' as const), who, name: who }),
    fc.record({ op: fc.constant('ban' as const), who }),
    fc.record({ op: fc.constant('password' as const), who, hash: fc.constantFrom('h1', 'h2') }),
    fc.record({ op: fc.constant('replaceHash' as const), who, hash: fc.constantFrom('h1', 'h2') }),
    fc.record({
      op: fc.constant('token' as const),
      who,
      purpose: fc.constantFrom('recovery', 'confirmation'),
    }),
    { arbitrary: fc.record({ op: fc.constant('remove' as const), who }), weight: 2 },
    // A password sign-in: its session and audit event in one journaled commit (openSignIn).
    { arbitrary: fc.record({ op: fc.constant('signIn' as const), who }), weight: 3 },
    // The audit log writes the journaled events into its own file (its timer, or a compaction).
    fc.record({ op: fc.constant('auditWritten' as const) }),
    // The retention prune, of the events of the commands before this one (some still only journaled).
    fc.record({ op: fc.constant('auditPruned' as const) }),
  );
  type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

  const run = async (db: FileDatabase, store: FileStore, c: Command, n: number) => {
    const now = new Date(Date.UTC(2026, 0, 1, 0, 0, n));
    // A user created without a user name gets a random id: it is found again by its address.
    const id = async (name: string) =>
      (await store.findUserByUsername(name))?.id ?? (await store.findUserById(name))?.id ?? name;
    switch (c.op) {
      case 'signUp':
        return store.createUser(newUser(c.name, c.email, { bio: c.bio }), c.password, {
          ...(c.session && {
            session: {
              id: `s${n}`,
              createdAt: now,
              notAfter: new Date(now.getTime() + 3_600_000),
              refreshSecret: `secret${n}`,
              firstRefreshTokenHash: hashSecret(`t${n}`),
            },
          }),
        });
      case 'profile':
        return store.updateUser(await id(c.who), { profile: { bio: c.bio } });
      case 'email':
        return store.updateUser(await id(c.who), { email: c.email, emailConfirmedAt: null });
      case 'rename':
        return store.updateUser(await id(c.who), { username: c.name });
      case 'ban':
        return store.updateUser(await id(c.who), { bannedUntil: now });
      case 'password':
        return store.changePassword(await id(c.who), c.hash, null, now);
      case 'replaceHash': {
        const user = await id(c.who);
        return store.replacePasswordHash(user, c.hash, await store.getPasswordHash(user));
      }
      case 'token':
        return store.createOneTimeToken({
          hash: hashSecret(`ott${n}`),
          codeHash: hashSecret(`code${n}`),
          recipient: null,
          userId: await id(c.who),
          purpose: c.purpose,
          createdAt: now,
          expiresAt: new Date(now.getTime() + 3_600_000),
          data: {},
        });
      case 'remove':
        return store.deleteUser(await id(c.who));
      case 'signIn': {
        const user = await id(c.who);
        return store.openSignIn({
          lastSignInAt: now,
          session: {
            id: `in${n}`,
            userId: user,
            createdAt: now,
            notAfter: new Date(now.getTime() + 3_600_000),
            refreshSecret: `secret${n}`,
            firstRefreshTokenHash: hashSecret(`in${n}`),
            maxPerUser: 2,
          },
          audit: {
            id: `event${n}`,
            at: now,
            action: 'sign_in',
            userId: user,
            actorId: user,
            ip: null,
            data: { via: 'password' },
          },
          // The hash it would have verified: none (no password) refuses it, as a sign-in would be.
          provenHash: (await store.getPasswordHash(user)) ?? '',
        });
      }
      case 'auditWritten':
        return db.auditLog.sync();
      case 'auditPruned':
        return store.pruneAuditEvents(now);
    }
  };

  /** What the store answers for every name and address of the pools, and each user's secrets. */
  const answers = async (store: FileStore) => {
    const { users } = await store.listUsers({ page: 1, perPage: 1000 });
    const now = new Date(Date.UTC(2026, 0, 1));
    return {
      users: await Promise.all(
        users.map(async (user) => ({
          user,
          password: await store.getPasswordHash(user.id),
          sessions: (await store.listSessions(user.id)).map((session) => session.id),
          identities: (await store.listIdentities(user.id)).map((identity) => identity.provider),
          lastSignInAt: user.lastSignInAt,
          tokens: await Promise.all(
            ['recovery', 'confirmation'].map(
              async (purpose) => (await store.findOneTimeToken(user.id, purpose, now))?.hash ?? null,
            ),
          ),
        })),
      ),
      byName: await Promise.all(
        NAMES.map(async (name) => (await store.findUserByUsername(name))?.id ?? null),
      ),
      byEmail: await Promise.all(
        EMAILS.map(async (email) =>
          email === null ? null : ((await store.findUserByEmail(email))?.id ?? null),
        ),
      ),
      // Each event once, whether still only in the credentials journal or written into the audit file.
      audit: (await store.listAuditEvents({ page: 1, perPage: 1000 })).events.map((event) => event.id),
    };
  };

  it('property: any sequence of user writes, then a crash and a reopen, gives what memory held', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { minLength: 8, maxLength: 40 }),
        // Compacted only at the end, or every few commits (the journal emptied once its events are written).
        fc.constantFrom(undefined, 1500),
        async (commands, compactAtBytes) => {
          const dir = await folder(2, true);
          const { db, store } = await open(dir, compactAtBytes);
          try {
            for (const [n, c] of commands.entries()) {
              await run(db, store, c, n).catch((error: unknown) => {
                // Refusals (a taken login, a missing user) are answers; anything else fails the property.
                if (!isAuthError(error)) throw error;
              });
            }
            const memory = await answers(store);
            const documents = JSON.parse(
              JSON.stringify({ data: db.data, credentials: db.credentials }),
            ) as unknown;
            const image = await crashImage(dir);
            const reopened = await open(image);
            try {
              // The lookup maps the writes kept agree with those built from the replayed files.
              assert.deepEqual(await answers(reopened.store), memory);
              assert.deepEqual(
                JSON.parse(JSON.stringify({ data: reopened.db.data, credentials: reopened.db.credentials })),
                documents,
              );
            } finally {
              await reopened.db.close();
              await rm(image, { recursive: true, force: true });
            }
          } finally {
            await db.close();
            await rm(dir, { recursive: true, force: true });
          }
          runs++;
        },
      ),
      { numRuns: 40 },
    );
    assert.equal(runs, 40);
  });
});
