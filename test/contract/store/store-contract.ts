/**
 * The behaviour every Store must have (src/core/ports/store.ts), as one test suite
 * each store's test file runs: `runStoreContract('file', makeStore)`.
 * A store that cannot support a test says why next to the call.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  CodeHashInUseError,
  UserDataChangedError,
  type AuditEvent,
  type NewUser,
  type Store,
} from '../../../src/core/ports/store.js';
import { identityContract } from './identity-contract.js';
import { isAuthError } from '../../../src/core/errors.js';

export interface ContractSubject {
  store: Store;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** Skip the tests that need true parallelism, with the reason (e.g. a single-connection in-process database). */
  concurrencySkipReason?: string;
  /** Skip the whole suite, with the reason (no server for this store on this machine). */
  skipReason?: string | null;
}

const NOW = new Date('2026-06-01T12:00:00.000Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const later = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

function newUser(overrides: Partial<NewUser> = {}): NewUser {
  return {
    username: `user${randomUUID().slice(0, 8)}`,
    email: null,
    emailConfirmedAt: null,
    role: null,
    profile: {},
    appMetadata: {},
    ...overrides,
  };
}

function newSession(
  userId: string,
  overrides: { id?: string; tokenHash?: string; maxPerUser?: number; createdAt?: Date } = {},
) {
  return {
    id: overrides.id ?? randomUUID(),
    userId,
    createdAt: overrides.createdAt ?? NOW,
    notAfter: later(86400),
    refreshSecret: 'secret-' + randomUUID(),
    firstRefreshTokenHash: overrides.tokenHash ?? 'rt-' + randomUUID(),
    maxPerUser: overrides.maxPerUser ?? 0,
  };
}

export function runStoreContract(
  name: string,
  makeStore: () => Promise<ContractSubject>,
  options: ContractOptions = {},
): void {
  describe(`Store contract: ${name}`, { skip: options.skipReason ?? false }, () => {
    let subject: ContractSubject;
    let store: Store;
    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    describe('users', () => {
      it('creates a user with its password hash, and finds it by id, username and email, case-insensitively', async () => {
        const created = await store.createUser(
          newUser({
            username: 'Alice',
            email: 'Alice@Example.com',
            profile: { city: 'Nantes' },
            // As core makes it (a store may show providers made from identities where none are stored).
            appMetadata: { plan: 'pro', provider: 'email', providers: ['email'] },
          }),
          'hash-1',
        );
        assert.equal(created.username, 'Alice');
        assert.equal(created.email, 'alice@example.com');
        assert.equal(created.tokenVersion, 0);
        assert.deepEqual(created.profile, { city: 'Nantes' });
        assert.deepEqual(created.appMetadata, { plan: 'pro', provider: 'email', providers: ['email'] });
        assert.ok(created.createdAt instanceof Date);
        assert.equal((await store.findUserById(created.id))?.username, 'Alice');
        assert.equal((await store.findUserByUsername('aLiCe'))?.id, created.id);
        assert.equal((await store.findUserByEmail('ALICE@example.COM'))?.id, created.id);
        assert.equal(await store.getPasswordHash(created.id), 'hash-1');
        assert.equal(await store.findUserById('missing'), null);
        assert.equal(await store.findUserByUsername('bob'), null);
        assert.equal(await store.findUserByEmail('bob@example.com'), null);
      });

      it('refuses a taken username (any case) or email with registered error codes', async () => {
        await store.createUser(newUser({ username: 'carol', email: 'carol@example.com' }), 'h');
        await assert.rejects(store.createUser(newUser({ username: 'CAROL' }), 'h'), {
          code: 'user_already_exists',
        });
        await assert.rejects(store.createUser(newUser({ email: 'Carol@Example.com' }), 'h'), {
          code: 'email_exists',
        });
      });

      it('creates a user with its first session in one step, or neither', async () => {
        const first = newSession('ignored', { tokenHash: 'rt-first' });
        const { userId: _ignored, maxPerUser: _max, ...session } = first;
        const user = await store.createUser(newUser({ username: 'firstsession' }), 'h', { session });
        const found = await store.findSession(session.id);
        assert.equal(found?.userId, user.id);
        assert.equal(found?.revokedAt, null);
        assert.equal(found?.notAfter.toISOString(), session.notAfter.toISOString());
        assert.equal(found?.refreshedAt.toISOString(), session.createdAt.toISOString());
        assert.equal(found?.refreshSecret, session.refreshSecret);
        const token = await store.findRefreshToken('rt-first');
        assert.equal(token?.session.id, session.id);
        assert.equal(token?.user?.id, user.id);
        assert.equal(token?.token.rotatedAt, null);
        // A refused user (its name is taken) leaves no session behind either.
        const refused = { ...session, id: randomUUID(), firstRefreshTokenHash: 'rt-refused' };
        await assert.rejects(
          store.createUser(newUser({ username: 'FirstSession' }), 'h', { session: refused }),
          (error: { code?: string }) => error.code === 'user_already_exists',
        );
        assert.equal(await store.findSession(refused.id), null);
        assert.equal(await store.findRefreshToken('rt-refused'), null);
      });

      it('creates an email-only user and a user without password', async () => {
        const emailOnly = await store.createUser(newUser({ username: null, email: 'only@example.com' }), 'h');
        assert.equal(emailOnly.username, null);
        // Supabase clients (auth-js) refuse user ids that are not UUIDs. (The file store names a user with
        // a username by it, for json-data-server's credentials format; PostgreSQL always uses a UUID.)
        assert.match(emailOnly.id, UUID);
        assert.equal((await store.findUserByEmail('only@example.com'))?.id, emailOnly.id);
        const noPassword = await store.createUser(newUser(), null);
        assert.equal(await store.getPasswordHash(noPassword.id), null);
      });

      it('updates users and keeps uniqueness', async () => {
        const dave = await store.createUser(newUser({ username: 'dave', email: 'dave@example.com' }), 'h');
        await store.createUser(newUser({ username: 'erin', email: 'erin@example.com' }), 'h');
        const updated = await store.updateUser(dave.id, {
          email: 'Dave2@Example.com',
          emailConfirmedAt: NOW,
          profile: { nick: 'D' },
          lastSignInAt: NOW,
        });
        assert.equal(updated.email, 'dave2@example.com');
        assert.equal(updated.emailConfirmedAt?.toISOString(), NOW.toISOString());
        assert.deepEqual(updated.profile, { nick: 'D' });
        assert.equal((await store.findUserByEmail('dave2@example.com'))?.id, dave.id);
        assert.equal(await store.findUserByEmail('dave@example.com'), null);
        await assert.rejects(store.updateUser(dave.id, { email: 'erin@example.com' }), {
          code: 'email_exists',
        });
        await assert.rejects(store.updateUser('missing', { profile: {} }), { code: 'user_not_found' });
      });

      it("stores when a user was invited (GoTrue's invited_at), read back by every lookup", async () => {
        const user = await store.createUser(newUser({ email: 'ivy-invited@example.com' }), null);
        assert.equal(user.invitedAt, null);
        const invited = await store.updateUser(user.id, { invitedAt: later(60) });
        assert.equal(invited.invitedAt?.toISOString(), later(60).toISOString());
        assert.equal((await store.findUserById(user.id))?.invitedAt?.toISOString(), later(60).toISOString());
        const again = await store.updateUser(user.id, { invitedAt: later(120) });
        assert.equal(again.invitedAt?.toISOString(), later(120).toISOString());
        assert.equal(
          (await store.findUserByEmail('ivy-invited@example.com'))?.invitedAt?.toISOString(),
          later(120).toISOString(),
        );
        await store.createSession(newSession(user.id, { tokenHash: 'rt-invited' }));
        assert.equal(
          (await store.findRefreshToken('rt-invited'))?.user?.invitedAt?.toISOString(),
          later(120).toISOString(),
          'a refresh reads it too',
        );
      });

      it('stores a ban (bannedUntil) and lifts it', async () => {
        const user = await store.createUser(newUser(), 'h');
        assert.equal(user.bannedUntil, null);
        const banned = await store.updateUser(user.id, { bannedUntil: later(3600) });
        assert.equal(banned.bannedUntil?.toISOString(), later(3600).toISOString());
        assert.equal(
          (await store.findUserById(user.id))?.bannedUntil?.toISOString(),
          later(3600).toISOString(),
        );
        // Opened for when the ban has ended: none opens while it lasts (see the next test).
        const session = await store.createSession(
          newSession(user.id, { tokenHash: 'rt-banned', createdAt: later(7200) }),
        );
        assert.equal(
          (await store.findRefreshToken('rt-banned'))?.user?.bannedUntil?.toISOString(),
          later(3600).toISOString(),
          'a refresh sees the ban',
        );
        assert.ok(session);
        assert.equal((await store.updateUser(user.id, { bannedUntil: null })).bannedUntil, null);
        assert.equal((await store.findUserById(user.id))?.bannedUntil, null);
      });

      it('refuses in the write itself a banned user’s session, password, identity and moved address', async () => {
        const user = await store.createUser(
          newUser({ email: `b${randomUUID().slice(0, 8)}@example.com` }),
          'h',
        );
        await store.updateUser(user.id, { bannedUntil: later(3600) });
        const banned = (error: unknown) => isAuthError(error) && error.code === 'user_banned';
        for (const maxPerUser of [0, 5]) {
          await assert.rejects(store.createSession(newSession(user.id, { maxPerUser })), banned);
        }
        if (store.openSignIn) {
          await assert.rejects(
            store.openSignIn({
              lastSignInAt: NOW,
              session: newSession(user.id, { maxPerUser: 5 }),
              audit: null,
              provenHash: 'h',
            }),
            banned,
          );
        }
        assert.deepEqual(await store.listSessions(user.id), []);
        await assert.rejects(store.changePassword(user.id, 'h2', null, NOW), banned);
        assert.equal(await store.getPasswordHash(user.id), 'h');
        const github = {
          userId: user.id,
          provider: 'github',
          providerId: `gh-${user.id}`,
          identityData: {},
          now: NOW,
        };
        await assert.rejects(store.linkIdentity(github), banned);
        assert.equal(await store.findIdentity('github', github.providerId), null);
        await assert.rejects(
          store.updateUser(user.id, { email: 'moved@example.com' }, { unlessBannedAt: NOW }),
          banned,
        );
        assert.equal((await store.findUserById(user.id))?.email, user.email);
        assert.equal((await store.findUserById(user.id))?.lastSignInAt, null);

        // An administrator's password change goes through; once the ban has ended, everything does.
        await store.changePassword(user.id, 'h3', null, NOW, undefined, { evenIfBanned: true });
        assert.equal(await store.getPasswordHash(user.id), 'h3');
        const after = later(7200);
        await store.createSession(newSession(user.id, { createdAt: after }));
        await store.changePassword(user.id, 'h4', null, after);
        await store.linkIdentity({ ...github, now: after });
        const moved = await store.updateUser(
          user.id,
          { email: 'moved@example.com' },
          { unlessBannedAt: after },
        );
        assert.equal(moved.email, 'moved@example.com');
        await assert.rejects(
          store.updateUser(randomUUID(), { email: 'x@example.com' }, { unlessBannedAt: NOW }),
          (error) => isAuthError(error) && error.code === 'user_not_found',
        );
      });

      it('whileProfileIs / whileAppMetadataIs: written only while that data is as read, else UserDataChangedError and nothing changes', async () => {
        const made = await store.createUser(
          newUser({ profile: { a: 1 }, appMetadata: { plan: 'free' } }),
          'h',
        );
        const read = (await store.findUserById(made.id))!;
        // Another write since the read: the conditional one changes nothing, name and address included.
        await store.updateUser(made.id, {
          profile: { a: 1, b: 2 },
          appMetadata: { ...read.appMetadata, x: 1 },
        });
        for (const condition of [
          { whileProfileIs: read.profile },
          { whileAppMetadataIs: read.appMetadata },
        ]) {
          await assert.rejects(
            store.updateUser(made.id, { profile: { a: 1, c: 3 }, email: 'c@example.com' }, condition),
            UserDataChangedError,
          );
        }
        const now = (await store.findUserById(made.id))!;
        assert.deepEqual(now.profile, { a: 1, b: 2 });
        assert.equal(now.appMetadata['x'], 1);
        assert.equal(now.email, null);
        // As read now, it is written; a user gone is still user_not_found.
        const written = await store.updateUser(
          made.id,
          { profile: { ...now.profile, c: 3 }, appMetadata: { ...now.appMetadata, y: 2 } },
          { whileProfileIs: now.profile, whileAppMetadataIs: now.appMetadata, unlessBannedAt: NOW },
        );
        assert.deepEqual(written.profile, { a: 1, b: 2, c: 3 });
        assert.equal(written.appMetadata['y'], 2);
        await assert.rejects(
          store.updateUser(randomUUID(), { profile: {} }, { whileProfileIs: {} }),
          (error) => isAuthError(error) && error.code === 'user_not_found',
        );
      });

      it('finds nobody by an id it never gave, without an error: malformed, numeric, or an unknown UUID', async () => {
        const user = await store.createUser(newUser(), 'h');
        const session = await store.createSession(newSession(user.id));
        const strangers = [
          'missing',
          '',
          "1' OR '1'='1",
          '42',
          '99999999999999999999',
          `{${randomUUID()}}`,
          `${user.id}x`,
          randomUUID(),
        ];
        for (const id of strangers) {
          assert.equal(await store.findUserById(id), null, id);
          assert.equal(await store.getPasswordHash(id), null, id);
          assert.equal(await store.findOneTimeToken(id, 'recovery', NOW), null, id);
          assert.equal(await store.revokeUserSessions(id, null, 'logout', NOW), 0, id);
          assert.equal(await store.deleteUser(id), false, id);
          await assert.rejects(store.updateUser(id, { profile: {} }), { code: 'user_not_found' }, id);
          await assert.rejects(store.changePassword(id, 'h2', null, NOW), { code: 'user_not_found' }, id);
        }
        // The real user was not touched.
        assert.equal(await store.getPasswordHash(user.id), 'h');
        assert.equal((await store.findUserById(user.id))?.tokenVersion, 0);
        assert.equal((await store.findSession(session.id))?.revokedAt, null);
      });

      it('lists users by page with the total', async () => {
        for (let i = 0; i < 5; i++) await store.createUser(newUser(), 'h');
        const first = await store.listUsers({ page: 1, perPage: 2 });
        const third = await store.listUsers({ page: 3, perPage: 2 });
        assert.equal(first.total, 5);
        assert.equal(first.users.length, 2);
        assert.equal(third.users.length, 1);
        const ids = new Set([...first.users, ...third.users].map((u) => u.id));
        assert.equal(ids.size, 3);
      });

      it('lists users newest first when asked, creation order otherwise', async () => {
        const created = [];
        for (let i = 0; i < 5; i++) created.push((await store.createUser(newUser(), 'h')).id);
        const oldest = await store.listUsers({ page: 1, perPage: 2 });
        assert.deepEqual(
          oldest.users.map((u) => u.id),
          created.slice(0, 2),
        );
        const newest = await store.listUsers({ page: 1, perPage: 2, newestFirst: true });
        assert.deepEqual(
          newest.users.map((u) => u.id),
          [created[4], created[3]],
        );
        const last = await store.listUsers({ page: 3, perPage: 2, newestFirst: true });
        assert.deepEqual(
          last.users.map((u) => u.id),
          [created[0]],
        );
        assert.equal(last.total, 5);
      });

      it('deletes a user with its credentials, sessions and one-time tokens', async () => {
        const user = await store.createUser(newUser({ username: 'frank' }), 'h');
        const session = await store.createSession(newSession(user.id, { tokenHash: 'rt-frank' }));
        await store.createOneTimeToken({
          hash: 'ott-frank',
          codeHash: 'code-frank',
          recipient: 'frank@example.com',
          userId: user.id,
          purpose: 'recovery',
          createdAt: NOW,
          expiresAt: later(3600),
          data: {},
        });
        assert.equal(await store.deleteUser(user.id), true);
        assert.equal(await store.findUserById(user.id), null);
        assert.equal(await store.findUserByUsername('frank'), null);
        assert.equal(await store.getPasswordHash(user.id), null);
        assert.equal(await store.findSession(session.id), null);
        assert.equal(await store.findRefreshToken('rt-frank'), null);
        assert.equal(await store.consumeOneTimeToken('ott-frank', 'recovery', NOW), null);
        const frankCode = { purpose: 'recovery', codeHash: 'code-frank' };
        assert.equal(
          await store.consumeOneTimeCode({
            recipient: 'frank@example.com',
            candidates: [frankCode],
            now: NOW,
            maxFailures: 3,
          }),
          null,
        );
        assert.equal(await store.deleteUser(user.id), false);
        // The name is free again.
        await store.createUser(newUser({ username: 'frank' }), 'h');
      });
    });

    describe('credentials', () => {
      it('replaces a hash without touching sessions or the token version', async () => {
        const user = await store.createUser(newUser(), 'old');
        const session = await store.createSession(newSession(user.id));
        assert.equal(await store.replacePasswordHash(user.id, 'new', 'old'), true);
        assert.equal(await store.getPasswordHash(user.id), 'new');
        assert.equal((await store.findUserById(user.id))?.tokenVersion, 0);
        assert.equal((await store.findSession(session.id))?.revokedAt, null);
      });

      it('replaces a hash only over the expected one: a rehash of the old password never undoes a change', async () => {
        const user = await store.createUser(newUser(), 'old');
        await store.changePassword(user.id, 'changed', null, NOW);
        assert.equal(await store.replacePasswordHash(user.id, 'old-rehashed', 'old'), false);
        assert.equal(await store.getPasswordHash(user.id), 'changed');
        const passwordless = await store.createUser(newUser(), null);
        assert.equal(await store.replacePasswordHash(passwordless.id, 'first', null), true);
        assert.equal(await store.getPasswordHash(passwordless.id), 'first');
        assert.equal(await store.replacePasswordHash('missing', 'h', null), false);
      });

      it('changes a password as a compare-and-set: proven with a hash another change replaced, it fails and changes nothing', async () => {
        const user = await store.createUser(newUser(), 'old');
        const winner = await store.changePassword(user.id, 'first', null, NOW, 'old');
        const winnersSession = await store.createSession(newSession(user.id));
        await assert.rejects(store.changePassword(user.id, 'second', null, later(1), 'old'), {
          code: 'invalid_credentials',
        });
        assert.equal(await store.getPasswordHash(user.id), 'first');
        assert.equal((await store.findUserById(user.id))?.tokenVersion, winner.tokenVersion);
        assert.equal((await store.findSession(winnersSession.id))?.revokedAt, null, 'nothing was revoked');
        // Proven with the current hash it goes through; without a proof it is unconditional.
        await store.changePassword(user.id, 'third', null, later(2), 'first');
        await store.changePassword(user.id, 'fourth', null, later(3));
        assert.equal(await store.getPasswordHash(user.id), 'fourth');
      });

      it('changes a password keeping a session only while that session is live', async () => {
        const user = await store.createUser(newUser(), 'old');
        const first = await store.createSession(newSession(user.id));
        const second = await store.createSession(newSession(user.id));
        // The first session's change ends the second: the second's own change, proven by it, fails.
        await store.changePassword(user.id, 'by-first', first.id, NOW);
        await assert.rejects(store.changePassword(user.id, 'by-second', second.id, later(1)), {
          code: 'session_not_found',
        });
        assert.equal(await store.getPasswordHash(user.id), 'by-first');
        assert.equal((await store.findSession(first.id))?.revokedAt, null);
        const stranger = await store.createUser(newUser(), 'x');
        const strangers = await store.createSession(newSession(stranger.id));
        await assert.rejects(store.changePassword(user.id, 'h', strangers.id, later(2)), {
          code: 'session_not_found',
        });
        await assert.rejects(store.changePassword(user.id, 'h', randomUUID(), later(2)), {
          code: 'session_not_found',
        });
        assert.equal(await store.getPasswordHash(user.id), 'by-first');
      });

      it(
        'of 20 racing password changes proven with the same hash, exactly one wins',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'old');
          const results = await Promise.allSettled(
            Array.from({ length: 20 }, (_, i) => store.changePassword(user.id, `new-${i}`, null, NOW, 'old')),
          );
          const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
          assert.equal(won.length, 1, 'one change wins');
          for (const result of results) {
            if (result.status === 'rejected')
              assert.equal((result.reason as { code?: string }).code, 'invalid_credentials');
          }
          assert.equal(await store.getPasswordHash(user.id), `new-${won[0]}`, 'the winner’s password stands');
          assert.equal((await store.findUserById(user.id))?.tokenVersion, 1, 'bumped once');
        },
      );

      it('changes a password keeping one session: new hash, every other session revoked, token version kept', async () => {
        const user = await store.createUser(newUser(), 'old');
        const kept = await store.createSession(newSession(user.id));
        const other = await store.createSession(newSession(user.id));
        const stranger = await store.createUser(newUser(), 'x');
        const strangers = await store.createSession(newSession(stranger.id));
        const changed = await store.changePassword(user.id, 'new', kept.id, later(5));
        assert.equal(changed.tokenVersion, 0, 'the kept session’s access token goes on working');
        assert.equal(changed.updatedAt.toISOString(), later(5).toISOString());
        assert.equal((await store.findUserById(user.id))?.tokenVersion, 0);
        assert.equal(await store.getPasswordHash(user.id), 'new');
        assert.equal((await store.findSession(kept.id))?.revokedAt, null);
        const revoked = await store.findSession(other.id);
        assert.equal(revoked?.revokedAt?.toISOString(), later(5).toISOString());
        assert.equal(revoked?.revokedReason, 'password_changed');
        assert.equal((await store.findSession(strangers.id))?.revokedAt, null);
        assert.equal((await store.findUserById(stranger.id))?.tokenVersion, 0);
      });

      it('changes a password keeping no session: every session revoked and the token version bumped', async () => {
        const user = await store.createUser(newUser(), 'old');
        const first = await store.createSession(newSession(user.id));
        const second = await store.createSession(newSession(user.id));
        const stranger = await store.createUser(newUser(), 'x');
        const strangers = await store.createSession(newSession(stranger.id));
        const all = await store.changePassword(user.id, 'new', null, NOW);
        assert.equal(all.tokenVersion, 1);
        assert.equal((await store.findUserById(user.id))?.tokenVersion, 1);
        assert.equal(await store.getPasswordHash(user.id), 'new');
        assert.ok((await store.findSession(first.id))?.revokedAt instanceof Date);
        assert.ok((await store.findSession(second.id))?.revokedAt instanceof Date);
        assert.equal((await store.findSession(strangers.id))?.revokedAt, null);
        assert.equal((await store.findUserById(stranger.id))?.tokenVersion, 0);
        // Keeping a (live) session afterwards leaves the bumped version as it is.
        const third = await store.createSession(newSession(user.id));
        assert.equal((await store.changePassword(user.id, 'newer', third.id, NOW)).tokenVersion, 1);
        assert.equal((await store.changePassword(user.id, 'newest', null, NOW)).tokenVersion, 2);
        await assert.rejects(store.changePassword('missing', 'h', null, NOW), { code: 'user_not_found' });
        await assert.rejects(store.changePassword('missing', 'h', first.id, NOW), {
          code: 'user_not_found',
        });
      });
    });

    describe('sessions and refresh tokens', () => {
      it('creates and finds a session and its first refresh token', async () => {
        const user = await store.createUser(newUser(), 'h');
        const session = await store.createSession(newSession(user.id, { tokenHash: 'rt-1' }));
        const found = await store.findSession(session.id);
        assert.equal(found?.userId, user.id);
        assert.equal(found?.notAfter.toISOString(), later(86400).toISOString());
        assert.equal(found?.refreshedAt.toISOString(), NOW.toISOString());
        assert.equal(found?.revokedAt, null);
        const token = await store.findRefreshToken('rt-1');
        assert.equal(token?.token.sessionId, session.id);
        assert.equal(token?.token.rotatedAt, null);
        assert.equal(token?.session.refreshSecret, session.refreshSecret);
        assert.equal(token?.user?.id, user.id, 'the session’s user comes with it');
        assert.equal(token?.user?.createdAt instanceof Date, true);
        assert.equal(await store.findSession(randomUUID()), null);
        assert.equal(await store.findRefreshToken('nope'), null);
      });

      it('findTokenStanding answers what findSession and findUserById say, as copies', async () => {
        const standingOf = store.findTokenStanding.bind(store);
        const user = await store.createUser(newUser({ email: 'standing@acme.test' }), 'h');
        const session = await store.createSession(newSession(user.id));
        const expected = async () => {
          const [s, u] = await Promise.all([store.findSession(session.id), store.findUserById(user.id)]);
          return {
            session: s && { userId: s.userId, notAfter: s.notAfter, revokedAt: s.revokedAt },
            user: u && {
              id: u.id,
              username: u.username,
              email: u.email,
              bannedUntil: u.bannedUntil,
              tokenVersion: u.tokenVersion,
              aud: u.aud,
              isAnonymous: u.isAnonymous,
            },
          };
        };
        assert.deepEqual(await standingOf(session.id, user.id), await expected());
        // What the caller gets is its own: changing it changes nothing the next check reads.
        const first = await standingOf(session.id, user.id);
        first.session!.notAfter.setTime(0);
        first.user!.tokenVersion = 99;
        assert.deepEqual(await standingOf(session.id, user.id), await expected());
        await store.updateUser(user.id, { bannedUntil: later(3600) });
        await store.revokeSession(session.id, 'logout', later(5));
        const revoked = await standingOf(session.id, user.id);
        assert.equal(revoked.user?.bannedUntil?.toISOString(), later(3600).toISOString());
        assert.equal(revoked.session?.revokedAt?.toISOString(), later(5).toISOString());
        assert.deepEqual(revoked, await expected());
        assert.deepEqual(await standingOf(randomUUID(), randomUUID()), { session: null, user: null });
        await store.deleteUser(user.id);
        assert.equal((await standingOf(session.id, user.id)).user, null);
        // An anonymous user says so (the data API's rules tell it from a signed-up user), until made permanent.
        const anonymous = await store.createUser(newUser({ username: null, isAnonymous: true }), null);
        const itsSession = await store.createSession(newSession(anonymous.id));
        assert.equal((await standingOf(itsSession.id, anonymous.id)).user?.isAnonymous, true);
        await store.updateUser(anonymous.id, { email: 'permanent@acme.test', isAnonymous: false });
        assert.equal((await standingOf(itsSession.id, anonymous.id)).user?.isAnonymous, false);
      });

      it("keeps how a session was authenticated (GoTrue's amr) through rotations, and none when not told", async () => {
        const user = await store.createUser(newUser(), 'h');
        const amr = [{ method: 'magiclink', at: NOW }];
        const session = await store.createSession({
          ...newSession(user.id, { tokenHash: 'rt-amr-1' }),
          authMethod: 'magiclink',
        });
        assert.deepEqual(session.amr, amr);
        assert.deepEqual((await store.findSession(session.id))?.amr, amr);
        assert.deepEqual((await store.findRefreshToken('rt-amr-1'))?.session.amr, amr);
        assert.equal(await store.rotateRefreshToken('rt-amr-1', 'rt-amr-2', later(60)), true);
        assert.deepEqual((await store.findRefreshToken('rt-amr-2'))?.session.amr, amr, 'a rotation keeps it');
        assert.deepEqual(
          (await store.listSessions(user.id)).map((listed) => listed.amr),
          [amr],
        );
        // A new user's first session, written with it.
        const { userId: _u, maxPerUser: _m, ...first } = newSession('ignored', { tokenHash: 'rt-amr-first' });
        await store.createUser(newUser(), 'h', { session: { ...first, authMethod: 'password' } });
        assert.deepEqual((await store.findRefreshToken('rt-amr-first'))?.session.amr, [
          { method: 'password', at: NOW },
        ]);
        const untold = await store.createSession(newSession(user.id, { tokenHash: 'rt-amr-none' }));
        assert.deepEqual(untold.amr, []);
        assert.deepEqual((await store.findSession(untold.id))?.amr, []);
      });

      it('rotates a refresh token once; a second rotation of it fails; the successor is live', async () => {
        const user = await store.createUser(newUser(), 'h');
        const session = await store.createSession(newSession(user.id, { tokenHash: 'rt-a' }));
        assert.equal(await store.rotateRefreshToken('rt-a', 'rt-b', later(60)), true);
        assert.equal(await store.rotateRefreshToken('rt-a', 'rt-c', later(61)), false);
        const old = await store.findRefreshToken('rt-a');
        assert.equal(old?.token.rotatedAt?.toISOString(), later(60).toISOString());
        const successor = await store.findRefreshToken('rt-b');
        assert.equal(successor?.token.rotatedAt, null);
        assert.equal(successor?.token.sessionId, session.id);
        assert.equal(
          (await store.findSession(session.id))?.refreshedAt.toISOString(),
          later(60).toISOString(),
        );
        assert.equal(await store.findRefreshToken('rt-c'), null);
        assert.equal(await store.rotateRefreshToken('missing', 'rt-d', NOW), false);
      });

      it('does not rotate a token of a revoked session', async () => {
        const user = await store.createUser(newUser(), 'h');
        const session = await store.createSession(newSession(user.id, { tokenHash: 'rt-r' }));
        await store.revokeSession(session.id, 'logout', NOW);
        await store.revokeSession(session.id, 'again', later(5)); // idempotent: first reason stays
        const revoked = await store.findSession(session.id);
        assert.equal(revoked?.revokedReason, 'logout');
        assert.equal(revoked?.revokedAt?.toISOString(), NOW.toISOString());
        assert.equal(await store.rotateRefreshToken('rt-r', 'rt-s', NOW), false);
      });

      it('records activity on a live session only: not an idle one, nor a revoked or an ended one', async () => {
        const user = await store.createUser(newUser(), 'h');
        const live = await store.createSession(newSession(user.id));
        assert.equal(await store.recordSessionActivity(live.id, later(60), NOW), false, 'idle since NOW');
        assert.equal(await store.recordSessionActivity(live.id, later(60), later(-1)), true);
        assert.equal((await store.findSession(live.id))?.refreshedAt.toISOString(), later(60).toISOString());
        assert.equal(
          await store.recordSessionActivity(live.id, later(86400), later(100)),
          false,
          'past its end',
        );
        await store.revokeSession(live.id, 'logout', later(61));
        assert.equal(await store.recordSessionActivity(live.id, later(62), later(-1)), false);
        assert.equal(await store.recordSessionActivity(randomUUID(), later(62), later(-1)), false);
      });

      it("lists a user's sessions not revoked, newest first, and no one else's", async () => {
        const user = await store.createUser(newUser(), 'h');
        const stranger = await store.createUser(newUser(), 'h');
        const older = await store.createSession(newSession(user.id, { createdAt: later(-60) }));
        const revoked = await store.createSession(newSession(user.id, { createdAt: later(-30) }));
        const newer = await store.createSession(newSession(user.id));
        await store.createSession(newSession(stranger.id));
        await store.revokeSession(revoked.id, 'logout', NOW);
        assert.deepEqual(
          (await store.listSessions(user.id)).map((session) => session.id),
          [newer.id, older.id],
        );
        const [listed] = await store.listSessions(user.id);
        assert.equal(listed?.userId, user.id);
        assert.equal(listed?.createdAt.getTime(), NOW.getTime());
        assert.deepEqual(await store.listSessions(randomUUID()), []);
        assert.deepEqual(await store.listSessions('not-an-id'), []);
      });

      it('revokes every session of a user but one, and counts them', async () => {
        const user = await store.createUser(newUser(), 'h');
        const a = await store.createSession(newSession(user.id));
        const b = await store.createSession(newSession(user.id));
        const c = await store.createSession(newSession(user.id));
        assert.equal(await store.revokeUserSessions(user.id, b.id, 'logout_others', NOW), 2);
        assert.ok((await store.findSession(a.id))?.revokedAt);
        assert.equal((await store.findSession(b.id))?.revokedAt, null);
        assert.ok((await store.findSession(c.id))?.revokedAt);
        assert.equal(await store.revokeUserSessions(user.id, null, 'logout_all', NOW), 1);
        assert.ok((await store.findSession(b.id))?.revokedAt);
      });

      it('keeps at most maxPerUser live sessions per user, ending the oldest with its refresh token', async () => {
        const user = await store.createUser(newUser(), 'h');
        const other = await store.createUser(newUser(), 'h');
        const othersSession = await store.createSession(newSession(other.id));
        const ids: string[] = [];
        for (let i = 0; i < 4; i++) {
          const created = await store.createSession(
            newSession(user.id, { tokenHash: `rt-cap-${i}`, maxPerUser: 3, createdAt: later(i) }),
          );
          ids.push(created.id);
        }
        assert.equal(await store.findSession(ids[0]!), null, 'the oldest is gone');
        assert.equal(await store.findRefreshToken('rt-cap-0'), null);
        for (const id of ids.slice(1)) assert.ok(await store.findSession(id));
        assert.ok(await store.findSession(othersSession.id), 'other users are untouched');
      });

      it('ends the oldest sessions by creation date whatever order they were opened in, one or several', async () => {
        const user = await store.createUser(newUser(), 'h');
        const opened = new Map<number, string>();
        // Opened out of creation order (clients' clocks, imported sessions): the cap goes by createdAt.
        for (const [i, at] of [2, 0, 3, 1].entries()) {
          const created = await store.createSession(
            newSession(user.id, { tokenHash: `rt-order-${i}`, maxPerUser: 3, createdAt: later(at) }),
          );
          opened.set(at, created.id);
        }
        assert.equal(await store.findSession(opened.get(0)!), null, 'the first created is gone');
        for (const at of [1, 2, 3])
          assert.ok(await store.findSession(opened.get(at)!), `created at ${at} stays`);
        // A lower cap ends several at once: the newest other one stays beside the new one.
        const newest = await store.createSession(
          newSession(user.id, { tokenHash: 'rt-order-4', maxPerUser: 2, createdAt: later(4) }),
        );
        assert.ok(await store.findSession(newest.id));
        assert.ok(await store.findSession(opened.get(3)!));
        for (const at of [1, 2])
          assert.equal(await store.findSession(opened.get(at)!), null, `created at ${at} went`);
      });

      it('prunes the sessions that ended before a date with their refresh tokens; the others stay', async () => {
        const user = await store.createUser(newUser(), 'h');
        const revokedLongAgo = await store.createSession(
          newSession(user.id, { tokenHash: 'rt-prune-revoked' }),
        );
        await store.revokeSession(revokedLongAgo.id, 'logout', NOW);
        const expired = await store.createSession({
          ...newSession(user.id, { tokenHash: 'rt-prune-expired' }),
          notAfter: later(60),
        });
        const revokedLater = await store.createSession(newSession(user.id, { tokenHash: 'rt-prune-later' }));
        await store.revokeSession(revokedLater.id, 'logout', later(7200));
        const live = await store.createSession(newSession(user.id, { tokenHash: 'rt-prune-live' }));
        assert.equal(await store.rotateRefreshToken('rt-prune-live', 'rt-prune-live-2', later(30)), true);

        const pruned = await store.pruneSessions(later(3600));
        // Other tests' sessions on a shared database may go too: at least these two did.
        assert.ok(pruned.sessions >= 2 && pruned.refreshTokens >= 0, JSON.stringify(pruned));
        assert.equal(await store.findSession(revokedLongAgo.id), null);
        assert.equal(await store.findRefreshToken('rt-prune-revoked'), null);
        assert.equal(await store.findSession(expired.id), null);
        assert.equal(await store.findRefreshToken('rt-prune-expired'), null);
        assert.ok(await store.findSession(revokedLater.id), 'ended after the date: kept');
        assert.ok(await store.findRefreshToken('rt-prune-later'));
        assert.ok(await store.findSession(live.id), 'live: kept');
        assert.ok((await store.findRefreshToken('rt-prune-live'))?.token.rotatedAt, 'its rotated token too');
        assert.equal((await store.findRefreshToken('rt-prune-live-2'))?.token.rotatedAt, null);
      });

      it(
        'rotates exactly once when 50 callers race on one token',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'h');
          await store.createSession(newSession(user.id, { tokenHash: 'rt-race' }));
          const results = await Promise.all(
            Array.from({ length: 50 }, (_, i) => store.rotateRefreshToken('rt-race', `rt-next-${i}`, NOW)),
          );
          assert.equal(results.filter(Boolean).length, 1);
          const live = await Promise.all(
            Array.from({ length: 50 }, (_, i) => store.findRefreshToken(`rt-next-${i}`)),
          );
          assert.equal(live.filter((found) => found !== null).length, 1);
        },
      );
    });

    describe('one-time tokens', () => {
      const token = (
        userId: string,
        hash: string,
        overrides: Partial<{ purpose: string; expiresAt: Date; codeHash: string | null }> = {},
      ) => ({
        hash,
        codeHash: overrides.codeHash ?? null,
        // A code is mailed to an address; the tests' codes all go to this one.
        recipient: overrides.codeHash ? 'to@example.com' : null,
        userId,
        purpose: overrides.purpose ?? 'recovery',
        createdAt: NOW,
        expiresAt: overrides.expiresAt ?? later(3600),
        data: { newEmail: 'x@example.com' },
      });
      /** A code typed for to@example.com, for one purpose. */
      const typed = (codeHash: string, purpose = 'recovery', now = NOW, recipient = 'to@example.com') =>
        store.consumeOneTimeCode({ recipient, candidates: [{ purpose, codeHash }], now, maxFailures: 3 });

      it('consumes a token once, returning its data', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-1'));
        const consumed = await store.consumeOneTimeToken('ott-1', 'recovery', later(10));
        assert.equal(consumed?.hash, 'ott-1');
        assert.equal(consumed?.codeHash, null);
        assert.equal(consumed?.userId, user.id);
        assert.equal(consumed?.purpose, 'recovery');
        assert.equal(consumed?.createdAt.toISOString(), NOW.toISOString());
        assert.equal(consumed?.expiresAt.toISOString(), later(3600).toISOString());
        assert.deepEqual(consumed?.data, { newEmail: 'x@example.com' });
        assert.equal(await store.consumeOneTimeToken('ott-1', 'recovery', later(11)), null);
      });

      it('spends no live link or code of a user banned, or moved from its recipient, under SpendConditions', async () => {
        const banned = (error: unknown) => isAuthError(error) && error.code === 'user_banned';
        const user = await store.createUser(newUser({ email: 'to@example.com' }), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-b', { codeHash: 'code-b' }));
        await store.updateUser(user.id, { bannedUntil: later(600) });
        const conditions = { unlessBannedAt: NOW, whileAddressedFor: ['recovery'] };
        await assert.rejects(store.consumeOneTimeToken('ott-b', 'recovery', NOW, conditions), banned);
        const byCode = {
          recipient: 'to@example.com',
          candidates: [{ purpose: 'recovery', codeHash: 'code-b' }],
        };
        await assert.rejects(
          store.consumeOneTimeCode({ ...byCode, now: NOW, maxFailures: 1, conditions }),
          banned,
        );
        // Refused, not a miss: the code was not retired by the one failure allowed.
        await store.updateUser(user.id, { bannedUntil: null, email: 'elsewhere@example.com' });
        assert.equal(await store.consumeOneTimeToken('ott-b', 'recovery', NOW, conditions), null);
        await store.updateUser(user.id, { email: 'to@example.com' });
        const spent = await store.consumeOneTimeCode({ ...byCode, now: NOW, maxFailures: 1, conditions });
        assert.equal(spent?.hash, 'ott-b');
      });

      it('refuses a token of another purpose, an expired one, and an older one replaced by a newer', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-p', { purpose: 'confirmation' }));
        assert.equal(await store.consumeOneTimeToken('ott-p', 'recovery', NOW), null);
        await store.createOneTimeToken(token(user.id, 'ott-e', { expiresAt: later(60) }));
        assert.equal(await store.consumeOneTimeToken('ott-e', 'recovery', later(61)), null);
        await store.createOneTimeToken(token(user.id, 'ott-old'));
        await store.createOneTimeToken(token(user.id, 'ott-new'));
        assert.equal(await store.consumeOneTimeToken('ott-old', 'recovery', NOW), null);
        assert.equal((await store.consumeOneTimeToken('ott-new', 'recovery', NOW))?.userId, user.id);
        // The other purpose was not replaced by the recovery tokens.
        assert.equal((await store.consumeOneTimeToken('ott-p', 'confirmation', NOW))?.userId, user.id);
      });

      it('consumes a token by its code with its recipient, returning the same record; a code is no link', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-link', { codeHash: 'code-1' }));
        assert.equal(
          await store.consumeOneTimeToken('code-1', 'recovery', NOW),
          null,
          'a code hash as a link',
        );
        assert.equal(await typed('code-1', 'recovery', NOW, 'other@example.com'), null, 'another address');
        const consumed = await typed('code-1', 'recovery', later(10));
        assert.equal(consumed?.hash, 'ott-link');
        assert.equal(consumed?.codeHash, 'code-1');
        assert.equal(consumed?.recipient, 'to@example.com');
        assert.equal(consumed?.userId, user.id);
        assert.deepEqual(consumed?.data, { newEmail: 'x@example.com' });
        await store.createOneTimeToken(token(user.id, 'ott-link-2', { codeHash: 'code-2' }));
        const byLink = await store.consumeOneTimeToken('ott-link-2', 'recovery', later(10));
        assert.equal(byLink?.codeHash, 'code-2');
      });

      it('spends link and code together: either one consumed, the other fails', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-a', { codeHash: 'code-a' }));
        assert.ok(await store.consumeOneTimeToken('ott-a', 'recovery', NOW));
        assert.equal(await typed('code-a'), null);
        await store.createOneTimeToken(token(user.id, 'ott-b', { codeHash: 'code-b' }));
        assert.ok(await typed('code-b'));
        assert.equal(await store.consumeOneTimeToken('ott-b', 'recovery', NOW), null);
      });

      it('applies purpose, expiry and replacement to a code as to a link', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(
          token(user.id, 'ott-cp', { purpose: 'confirmation', codeHash: 'code-cp' }),
        );
        assert.equal(await typed('code-cp', 'recovery'), null);
        assert.equal((await typed('code-cp', 'confirmation'))?.hash, 'ott-cp');
        await store.createOneTimeToken(
          token(user.id, 'ott-ce', { codeHash: 'code-ce', expiresAt: later(60) }),
        );
        assert.equal(await typed('code-ce', 'recovery', later(60)), null);
        assert.equal(
          await store.consumeOneTimeToken('ott-ce', 'recovery', NOW),
          null,
          'spent by the expired try',
        );
        await store.createOneTimeToken(token(user.id, 'ott-c1', { codeHash: 'code-c1' }));
        await store.createOneTimeToken(token(user.id, 'ott-c2', { codeHash: 'code-c2' }));
        assert.equal(await typed('code-c1'), null);
        assert.equal((await typed('code-c2'))?.hash, 'ott-c2');
      });

      it('tries each candidate purpose of a code, spending the one token that matches', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-m', { purpose: 'magiclink', codeHash: 'code-m' }));
        const consumed = await store.consumeOneTimeCode({
          recipient: 'to@example.com',
          candidates: [
            { purpose: 'confirmation', codeHash: 'code-x' },
            { purpose: 'magiclink', codeHash: 'code-m' },
          ],
          now: NOW,
          maxFailures: 3,
        });
        assert.equal(consumed?.hash, 'ott-m');
      });

      it('counts wrong codes against the recipient’s live codes: the maxFailures-th kills the code, not the link', async () => {
        const user = await store.createUser(newUser(), 'h');
        const other = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-g', { codeHash: 'code-g' }));
        await store.createOneTimeToken(
          token(user.id, 'ott-g-other-purpose', { purpose: 'confirmation', codeHash: 'code-gc' }),
        );
        await store.createOneTimeToken({
          ...token(other.id, 'ott-g-other-address', { codeHash: 'code-go' }),
          recipient: 'other@example.com',
        });
        assert.equal(await typed('wrong-1'), null);
        assert.equal(await typed('wrong-2'), null);
        assert.equal(
          (await store.findOneTimeToken(user.id, 'recovery', NOW))?.hash,
          'ott-g',
          'two misses: alive',
        );
        assert.equal(await typed('wrong-3'), null);
        assert.equal(await typed('code-g'), null, 'the third miss killed it: the right code fails');
        assert.equal(
          (await store.consumeOneTimeToken('ott-g', 'recovery', NOW))?.hash,
          'ott-g',
          'its link lives on',
        );
        // Misses for one purpose and address count against no other token.
        assert.equal((await typed('code-gc', 'confirmation'))?.hash, 'ott-g-other-purpose');
        assert.equal(
          (await typed('code-go', 'recovery', NOW, 'other@example.com'))?.hash,
          'ott-g-other-address',
        );
      });

      it('unlessBannedAt: nothing stored for a user banned then, the earlier token kept; stored once the ban ended', async () => {
        const user = await store.createUser(newUser(), 'h');
        assert.equal((await store.createOneTimeToken(token(user.id, 'ott-b1'))).stored, true);
        await store.updateUser(user.id, { bannedUntil: later(120) });
        const banned = await store.createOneTimeToken(token(user.id, 'ott-b2'), [], { unlessBannedAt: NOW });
        assert.deepEqual(banned, { stored: false });
        assert.equal((await store.findOneTimeToken(user.id, 'recovery', NOW))?.hash, 'ott-b1');
        const after = await store.createOneTimeToken(token(user.id, 'ott-b3'), [], {
          unlessBannedAt: later(120),
        });
        assert.equal(after.stored, true, 'the ban ends at banned_until');
        assert.equal((await store.findOneTimeToken(user.id, 'recovery', NOW))?.hash, 'ott-b3');
      });

      it('whileAddressIs: nothing stored for a user at another address now (any case), the earlier token kept', async () => {
        const user = await store.createUser(newUser({ email: 'first@example.com' }), 'h');
        const atFirst = { whileAddressIs: 'First@Example.com' };
        assert.equal((await store.createOneTimeToken(token(user.id, 'ott-a1'), [], atFirst)).stored, true);
        await store.updateUser(user.id, { email: 'second@example.com' });
        assert.deepEqual(await store.createOneTimeToken(token(user.id, 'ott-a2'), [], atFirst), {
          stored: false,
        });
        assert.equal((await store.findOneTimeToken(user.id, 'recovery', NOW))?.hash, 'ott-a1');
        await store.updateUser(user.id, { email: null });
        assert.deepEqual(await store.createOneTimeToken(token(user.id, 'ott-a3'), [], atFirst), {
          stored: false,
        });
      });

      it('nothing is stored for a user deleted since the caller read it (its mails come only with it)', async () => {
        const user = await store.createUser(newUser(), 'h');
        assert.equal(await store.deleteUser(user.id), true);
        assert.deepEqual(await store.createOneTimeToken(token(user.id, 'ott-gone')), { stored: false });
        const banCondition = { unlessBannedAt: NOW };
        assert.deepEqual(await store.createOneTimeToken(token(user.id, 'ott-gone-2'), [], banCondition), {
          stored: false,
        });
        assert.equal(await store.consumeOneTimeToken('ott-gone', 'recovery', NOW), null);
      });

      it('throttles: a live token newer than unlessIssuedAfter stays and nothing is stored; older or expired, it is replaced', async () => {
        const user = await store.createUser(newUser(), 'h');
        const at = (seconds: number, hash: string, expiresIn = 3600) => ({
          ...token(user.id, hash, { expiresAt: later(seconds + expiresIn) }),
          createdAt: later(seconds),
        });
        assert.deepEqual(
          (await store.createOneTimeToken(at(0, 'ott-t1'), [], { unlessIssuedAfter: later(-60) })).stored,
          true,
          'none before',
        );
        const throttled = await store.createOneTimeToken(at(30, 'ott-t2'), [], {
          unlessIssuedAfter: later(-30),
        });
        assert.deepEqual(throttled, { stored: false });
        assert.equal((await store.findOneTimeToken(user.id, 'recovery', later(30)))?.hash, 'ott-t1');
        const replaced = await store.createOneTimeToken(at(60, 'ott-t3', 10), [], {
          unlessIssuedAfter: later(0),
        });
        assert.equal(replaced.stored, true, 'the earlier one is old enough');
        // ott-t3 expired at 70 s: an expired token throttles nothing, however recent.
        const afterExpiry = await store.createOneTimeToken(at(80, 'ott-t4'), [], {
          unlessIssuedAfter: later(20),
        });
        assert.equal(afterExpiry.stored, true);
        assert.equal(await store.consumeOneTimeToken('ott-t1', 'recovery', later(80)), null);
        assert.equal(await store.consumeOneTimeToken('ott-t2', 'recovery', later(80)), null);
        assert.equal((await store.consumeOneTimeToken('ott-t4', 'recovery', later(80)))?.hash, 'ott-t4');
      });

      it('lets a replacement reuse the code hash of the token it replaces', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-r1', { codeHash: 'code-same' }));
        await store.createOneTimeToken(token(user.id, 'ott-r2', { codeHash: 'code-same' }));
        assert.equal((await typed('code-same'))?.hash, 'ott-r2');
        assert.equal(await store.consumeOneTimeToken('ott-r1', 'recovery', NOW), null);
      });

      it('refuses a code hash that another token holds (one code names one token), storing nothing', async () => {
        const user = await store.createUser(newUser(), 'h');
        const other = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-held', { codeHash: 'code-held' }));
        await store.createOneTimeToken(token(other.id, 'ott-others-old'));
        await assert.rejects(
          store.createOneTimeToken(token(other.id, 'ott-thief', { codeHash: 'code-held' })),
          CodeHashInUseError,
        );
        await assert.rejects(
          store.createOneTimeToken(
            token(user.id, 'ott-other-purpose', { codeHash: 'code-held', purpose: 'confirmation' }),
          ),
          CodeHashInUseError,
        );
        assert.equal(await store.consumeOneTimeToken('ott-thief', 'recovery', NOW), null);
        assert.equal(await store.consumeOneTimeToken('ott-other-purpose', 'confirmation', NOW), null);
        assert.equal(
          (await store.consumeOneTimeToken('ott-others-old', 'recovery', NOW))?.hash,
          'ott-others-old',
          'the refused token replaced nothing',
        );
        assert.equal((await typed('code-held'))?.hash, 'ott-held');
        // Once spent, the code is free again.
        await store.createOneTimeToken(token(other.id, 'ott-next', { codeHash: 'code-held' }));
        assert.equal((await typed('code-held'))?.hash, 'ott-next');
      });

      it('finds the live token of a user and purpose without consuming it', async () => {
        const user = await store.createUser(newUser(), 'h');
        const other = await store.createUser(newUser(), 'h');
        assert.equal(await store.findOneTimeToken(user.id, 'recovery', NOW), null);
        await store.createOneTimeToken(token(user.id, 'ott-f', { codeHash: 'code-f', expiresAt: later(60) }));
        await store.createOneTimeToken(token(other.id, 'ott-other-user'));
        const found = await store.findOneTimeToken(user.id, 'recovery', later(59));
        assert.equal(found?.hash, 'ott-f');
        assert.equal(found?.codeHash, 'code-f');
        assert.equal(found?.userId, user.id);
        assert.equal(found?.purpose, 'recovery');
        assert.equal(found?.createdAt.toISOString(), NOW.toISOString());
        assert.equal(found?.expiresAt.toISOString(), later(60).toISOString());
        assert.deepEqual(found?.data, { newEmail: 'x@example.com' });
        assert.equal(await store.findOneTimeToken(user.id, 'confirmation', NOW), null, 'another purpose');
        assert.equal(await store.findOneTimeToken(user.id, 'recovery', later(60)), null, 'expired');
        assert.equal(await store.findOneTimeToken('missing', 'recovery', NOW), null);
        // Finding did not consume it.
        assert.equal((await store.consumeOneTimeToken('ott-f', 'recovery', NOW))?.userId, user.id);
        assert.equal(await store.findOneTimeToken(user.id, 'recovery', NOW), null, 'consumed');
        // After a replacement, the newer one is found.
        await store.createOneTimeToken(token(user.id, 'ott-g1'));
        await store.createOneTimeToken(token(user.id, 'ott-g2'));
        assert.equal((await store.findOneTimeToken(user.id, 'recovery', NOW))?.hash, 'ott-g2');
      });

      it(
        'hands a token to exactly one of 50 racing consumers',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'h');
          await store.createOneTimeToken(token(user.id, 'ott-race'));
          const results = await Promise.all(
            Array.from({ length: 50 }, () => store.consumeOneTimeToken('ott-race', 'recovery', NOW)),
          );
          assert.equal(results.filter((result) => result !== null).length, 1);
        },
      );

      it(
        'hands a token to exactly one of 50 consumers racing by link and by code',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'h');
          await store.createOneTimeToken(token(user.id, 'ott-race-link', { codeHash: 'code-race' }));
          const results = await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              i % 2 ? store.consumeOneTimeToken('ott-race-link', 'recovery', NOW) : typed('code-race'),
            ),
          );
          const winners = results.filter((result) => result !== null);
          assert.equal(winners.length, 1);
          assert.equal(winners[0]?.hash, 'ott-race-link');
        },
      );

      it(
        'stores one of 50 racing throttled tokens of a user and purpose; the others store nothing',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'h');
          const writes = await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              store.createOneTimeToken(token(user.id, `ott-throttle-${i}`), [], {
                unlessIssuedAfter: later(-60),
              }),
            ),
          );
          const stored = writes.flatMap((write, i) => (write.stored ? [i] : []));
          assert.equal(stored.length, 1, 'one stored');
          const live = await store.findOneTimeToken(user.id, 'recovery', NOW);
          assert.equal(live?.hash, `ott-throttle-${stored[0]}`);
        },
      );

      it(
        'leaves one live token after 50 racing unthrottled replacements',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'h');
          await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              store.createOneTimeToken(token(user.id, `ott-replace-${i}`)),
            ),
          );
          const spent = await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              store.consumeOneTimeToken(`ott-replace-${i}`, 'recovery', NOW),
            ),
          );
          assert.equal(spent.filter((one) => one !== null).length, 1);
        },
      );

      it(
        'counts 50 racing wrong codes without losing one: the token is dead, the right code fails',
        { skip: options.concurrencySkipReason },
        async () => {
          const user = await store.createUser(newUser(), 'h');
          await store.createOneTimeToken(token(user.id, 'ott-race-guess', { codeHash: 'code-right' }));
          const attempt = (codeHash: string) =>
            store.consumeOneTimeCode({
              recipient: 'to@example.com',
              candidates: [{ purpose: 'recovery', codeHash }],
              now: NOW,
              maxFailures: 50,
            });
          const misses = await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(`wrong-${i}`)));
          assert.ok(misses.every((miss) => miss === null));
          assert.equal(await attempt('code-right'), null, 'exactly 50 misses were counted: it died');
        },
      );
    });

    identityContract(() => store, options);

    describe('audit log', () => {
      let sequence = 0;
      const event = (overrides: Partial<AuditEvent> = {}): AuditEvent => ({
        id: randomUUID(),
        at: later(sequence++),
        action: 'sign_in',
        actorId: null,
        userId: null,
        ip: '203.0.113.7',
        data: {},
        ...overrides,
      });

      it('records an event and lists it back, every field intact', async () => {
        assert.deepEqual(await store.listAuditEvents({ page: 1, perPage: 10 }), { events: [], total: 0 });
        const recorded = event({
          action: 'admin_user_deleted',
          actorId: 'admin-1',
          userId: 'user-1',
          ip: '2001:db8::1',
          data: { reason: 'spam', nested: { count: 2 } },
        });
        await store.recordAuditEvent(recorded);
        const anonymous = event({ action: 'sign_in_failed', ip: null, data: { login: 'nobody' } });
        await store.recordAuditEvent(anonymous);
        const listed = await store.listAuditEvents({ page: 1, perPage: 10 });
        assert.equal(listed.total, 2);
        assert.deepEqual(listed.events, [anonymous, recorded]);
        assert.ok(listed.events[0]!.at instanceof Date);
      });

      it('lists newest first by time, events of the same instant in insertion order, then pages', async () => {
        const base = NOW.getTime() + 10_000_000;
        // Recorded out of time order: the listing follows `at`, not the recording order.
        const late = event({ action: 'late', at: new Date(base + 2000) });
        const early = event({ action: 'early', at: new Date(base) });
        const tieFirst = event({ action: 'tie_first', at: new Date(base + 1000) });
        const tieSecond = event({ action: 'tie_second', at: new Date(base + 1000) });
        for (const recorded of [late, early, tieFirst, tieSecond]) await store.recordAuditEvent(recorded);
        const all = await store.listAuditEvents({ page: 1, perPage: 10 });
        assert.deepEqual(
          all.events.map((e) => e.action),
          ['late', 'tie_first', 'tie_second', 'early'],
        );
        const first = await store.listAuditEvents({ page: 1, perPage: 3 });
        const second = await store.listAuditEvents({ page: 2, perPage: 3 });
        const third = await store.listAuditEvents({ page: 3, perPage: 3 });
        assert.deepEqual(
          first.events.map((e) => e.action),
          ['late', 'tie_first', 'tie_second'],
        );
        assert.deepEqual(
          second.events.map((e) => e.action),
          ['early'],
        );
        assert.deepEqual(third.events, []);
        assert.equal(first.total, 4);
        assert.equal(second.total, 4);
        assert.equal(third.total, 4);
      });

      it('narrows to the events concerning one user, counting only those', async () => {
        const mine = [event({ userId: 'u-1' }), event({ userId: 'u-1', actorId: 'admin' })];
        await store.recordAuditEvent(mine[0]!);
        await store.recordAuditEvent(event({ userId: 'u-2' }));
        await store.recordAuditEvent(event({ userId: null, actorId: 'u-1' }));
        await store.recordAuditEvent(mine[1]!);
        const page = await store.listAuditEvents({ page: 1, perPage: 1, userId: 'u-1' });
        assert.equal(page.total, 2);
        assert.deepEqual(page.events, [mine[1]]);
        const next = await store.listAuditEvents({ page: 2, perPage: 1, userId: 'u-1' });
        assert.deepEqual(next.events, [mine[0]]);
        assert.deepEqual(await store.listAuditEvents({ page: 1, perPage: 5, userId: 'nobody' }), {
          events: [],
          total: 0,
        });
        assert.equal((await store.listAuditEvents({ page: 1, perPage: 10 })).total, 4);
      });

      it('keeps every event recorded concurrently', async () => {
        const events = Array.from({ length: 40 }, (_, i) => event({ action: `concurrent_${i}` }));
        await Promise.all(events.map((recorded) => store.recordAuditEvent(recorded)));
        const listed = await store.listAuditEvents({ page: 1, perPage: 100 });
        assert.equal(listed.total, 40);
        assert.deepEqual(new Set(listed.events.map((e) => e.id)), new Set(events.map((e) => e.id)));
      });

      it('prunes the events older than a date, returning how many', async () => {
        const old = [event({ at: later(-7200) }), event({ at: later(-3601) })];
        const boundary = event({ at: later(-3600) });
        const recent = event({ at: later(0) });
        for (const recorded of [old[0]!, recent, old[1]!, boundary]) await store.recordAuditEvent(recorded);
        assert.equal(await store.pruneAuditEvents(later(-3600)), 2);
        const left = await store.listAuditEvents({ page: 1, perPage: 10 });
        assert.deepEqual(left, { events: [recent, boundary], total: 2 });
        assert.equal(await store.pruneAuditEvents(later(-3600)), 0);
        // Recording goes on after a prune.
        const after = event({ at: later(10) });
        await store.recordAuditEvent(after);
        assert.deepEqual((await store.listAuditEvents({ page: 1, perPage: 10 })).events, [
          after,
          recent,
          boundary,
        ]);
      });

      it('keeps a user’s events when the user is deleted', async () => {
        const user = await store.createUser(newUser(), 'h');
        const signedIn = event({ userId: user.id, actorId: user.id });
        const deleted = event({ action: 'admin_user_deleted', userId: user.id, actorId: 'admin' });
        await store.recordAuditEvent(signedIn);
        await store.recordAuditEvent(deleted);
        assert.equal(await store.deleteUser(user.id), true);
        const listed = await store.listAuditEvents({ page: 1, perPage: 10, userId: user.id });
        assert.deepEqual(listed, { events: [deleted, signedIn], total: 2 });
      });
    });
  });
}
