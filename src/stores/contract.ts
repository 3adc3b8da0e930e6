/**
 * The behaviour every Store must have (src/core/store.ts), as one test suite
 * each store's test file runs: `runStoreContract('file', makeStore)`.
 * A store that cannot support a test says why next to the call.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { NewUser, Store } from '../core/store.js';

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
            appMetadata: { plan: 'pro' },
          }),
          'hash-1',
        );
        assert.equal(created.username, 'Alice');
        assert.equal(created.email, 'alice@example.com');
        assert.equal(created.tokenVersion, 0);
        assert.deepEqual(created.profile, { city: 'Nantes' });
        assert.deepEqual(created.appMetadata, { plan: 'pro' });
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

      it('creates an email-only user and a user without password', async () => {
        const emailOnly = await store.createUser(newUser({ username: null, email: 'only@example.com' }), 'h');
        assert.equal(emailOnly.username, null);
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

      it('deletes a user with its credentials, sessions and one-time tokens', async () => {
        const user = await store.createUser(newUser({ username: 'frank' }), 'h');
        const session = await store.createSession(newSession(user.id, { tokenHash: 'rt-frank' }));
        await store.createOneTimeToken({
          hash: 'ott-frank',
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
        assert.equal(await store.deleteUser(user.id), false);
        // The name is free again.
        await store.createUser(newUser({ username: 'frank' }), 'h');
      });
    });

    describe('credentials', () => {
      it('replaces a hash without touching sessions or the token version', async () => {
        const user = await store.createUser(newUser(), 'old');
        const session = await store.createSession(newSession(user.id));
        await store.replacePasswordHash(user.id, 'new');
        assert.equal(await store.getPasswordHash(user.id), 'new');
        assert.equal((await store.findUserById(user.id))?.tokenVersion, 0);
        assert.equal((await store.findSession(session.id))?.revokedAt, null);
      });

      it('changes a password atomically: new hash, token version bumped, every other session revoked', async () => {
        const user = await store.createUser(newUser(), 'old');
        const kept = await store.createSession(newSession(user.id));
        const other = await store.createSession(newSession(user.id));
        const stranger = await store.createUser(newUser(), 'x');
        const strangers = await store.createSession(newSession(stranger.id));
        const changed = await store.changePassword(user.id, 'new', kept.id, NOW);
        assert.equal(changed.tokenVersion, 1);
        assert.equal(await store.getPasswordHash(user.id), 'new');
        assert.equal((await store.findSession(kept.id))?.revokedAt, null);
        assert.ok((await store.findSession(other.id))?.revokedAt instanceof Date);
        assert.equal((await store.findSession(strangers.id))?.revokedAt, null);
        const all = await store.changePassword(user.id, 'newer', null, NOW);
        assert.equal(all.tokenVersion, 2);
        assert.ok((await store.findSession(kept.id))?.revokedAt instanceof Date);
        await assert.rejects(store.changePassword('missing', 'h', null, NOW), { code: 'user_not_found' });
      });

      it('bumps the token version alone', async () => {
        const user = await store.createUser(newUser(), 'h');
        assert.equal(await store.bumpTokenVersion(user.id), 1);
        assert.equal(await store.bumpTokenVersion(user.id), 2);
        assert.equal((await store.findUserById(user.id))?.tokenVersion, 2);
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
        overrides: Partial<{ purpose: string; expiresAt: Date }> = {},
      ) => ({
        hash,
        userId,
        purpose: overrides.purpose ?? 'recovery',
        createdAt: NOW,
        expiresAt: overrides.expiresAt ?? later(3600),
        data: { newEmail: 'x@example.com' },
      });

      it('consumes a token once, returning its data', async () => {
        const user = await store.createUser(newUser(), 'h');
        await store.createOneTimeToken(token(user.id, 'ott-1'));
        const consumed = await store.consumeOneTimeToken('ott-1', 'recovery', later(10));
        assert.equal(consumed?.userId, user.id);
        assert.deepEqual(consumed?.data, { newEmail: 'x@example.com' });
        assert.equal(await store.consumeOneTimeToken('ott-1', 'recovery', later(11)), null);
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
    });
  });
}
