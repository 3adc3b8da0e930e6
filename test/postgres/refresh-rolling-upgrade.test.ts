import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { FoundRefreshToken, Session, Store } from '../../src/core/ports/store.js';
import { deriveSecret, hashSecret, randomSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { useTestDatabase } from '../support/test-database.js';

const DAY_SECONDS = 86_400;
const GRACE_SECONDS = 10;
const settings = {
  absoluteLifetime: 30 * DAY_SECONDS,
  inactivityTimeout: DAY_SECONDS,
  reuseGrace: GRACE_SECONDS,
  maxPerUser: 0,
  endedRetention: DAY_SECONDS,
};

/**
 * The store as an instance from before migration 28 (d304789^) sees it: no one-statement refresh,
 * and sessions without a chain (its SQL read no chain column), so its SessionManager takes the
 * path it still takes for a chain-1 session: found, then rotated to HMAC(refresh_secret, token),
 * and a repeat walked along the secret's successors, the session ended when one is missing. That
 * path is today's chain-1 path unchanged (rotate, successor, answerRepeat without a 'server-key'
 * chain), so the old instance runs here as the old code ran.
 */
function olderInstance(store: PostgresStore): Store {
  const withoutChain = (session: Session): Session => {
    const { chain: _chain, ...rest } = session;
    return rest;
  };
  const older: Store = Object.create(store) as Store;
  return Object.assign(older, {
    refreshInOneStatement: undefined,
    findRefreshToken: async (hash: string): Promise<FoundRefreshToken | null> => {
      const found = await store.findRefreshToken(hash);
      return found && { ...found, session: withoutChain(found.session) };
    },
    findSession: async (id: string): Promise<Session | null> => {
      const session = await store.findSession(id);
      return session && withoutChain(session);
    },
  });
}

/**
 * A rolling upgrade across migration 28: instances from before it (knowing only secret chains) and
 * after it share the database, and a session a new instance opened (chain 2, its secret kept) is
 * refreshed by either. docs/operations.md, Upgrades, says what each mix does.
 */
describe('refresh during a rolling upgrade across migration 28 (PostgreSQL)', () => {
  const database = useTestDatabase();
  let store: PostgresStore;
  let userId: string;
  const keys = { imported: randomBytes(32), successors: randomBytes(32) };
  const newer = () => new SessionManager(store, settings, keys);
  const older = () => new SessionManager(olderInstance(store), settings, keys);
  const serverKeySuccessor = (token: string) =>
    createHmac('sha256', keys.successors).update(token).digest('base64url');

  /** A session a new instance opens (chain 2): its id, first token and secret. */
  async function open(): Promise<{ id: string; token: string; secret: string }> {
    const now = new Date();
    const token = randomSecret();
    const secret = randomSecret();
    const session = await store.createSession({
      id: randomUUID(),
      userId,
      createdAt: now,
      notAfter: new Date(now.getTime() + settings.absoluteLifetime * 1000),
      refreshSecret: secret,
      firstRefreshTokenHash: hashSecret(token),
      maxPerUser: 0,
    });
    assert.equal(session.chain, 'server-key');
    return { id: session.id, token, secret };
  }
  const code = (answer: Promise<unknown>) =>
    answer.then(
      () => 'ok',
      (error: { code?: string }) => error.code,
    );
  const liveTokens = async (id: string) =>
    (
      await database.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE session_id = $1 AND NOT revoked',
        [id],
      )
    ).rows[0]!.n;

  before(async () => {
    store = database.store;
    const user = await store.createUser(
      { username: 'rolling', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
      null,
    );
    userId = user.id;
  });

  it("answers a new instance's repeat of a token an old instance rotated with the old one's successor", async () => {
    const { id, token, secret } = await open();
    const now = new Date();
    const rotated = await older().rotate(token, now);
    assert.equal(rotated.refreshToken, deriveSecret(secret, token), "the old instance's successor");
    // The other tab's repeat reaches a new instance inside the grace: the same successor.
    assert.equal((await newer().rotate(token, now)).refreshToken, rotated.refreshToken);
    assert.equal((await older().rotate(token, now)).refreshToken, rotated.refreshToken);
    assert.equal(await liveTokens(id), 1, 'no token added by the repeats');
    // The live token goes on at a new instance, in one statement, under the server key.
    const next = await newer().rotate(rotated.refreshToken, now);
    assert.equal(next.refreshToken, serverKeySuccessor(rotated.refreshToken));
    assert.equal((await store.findSession(id))?.revokedAt, null);
  });

  it('walks a chain rotated by both to its live token, from a new instance', async () => {
    const { id, token } = await open();
    const now = new Date();
    const second = (await newer().rotate(token, now)).refreshToken;
    const third = (await older().rotate(second, now)).refreshToken;
    const fourth = (await newer().rotate(third, now)).refreshToken;
    const fifth = (await older().rotate(fourth, now)).refreshToken;
    for (const repeated of [token, second, third, fourth])
      assert.equal((await newer().rotate(repeated, now)).refreshToken, fifth);
    assert.equal(await liveTokens(id), 1);
    assert.equal((await store.findSession(id))?.revokedAt, null);
  });

  it('ends the session at a reuse after the grace, whichever instance rotated or sees it', async () => {
    const later = (now: Date) => new Date(now.getTime() + (GRACE_SECONDS + 1) * 1000);
    for (const [rotator, judge] of [
      [older, newer],
      [newer, older],
      [older, older],
      [newer, newer],
    ] as const) {
      const { id, token } = await open();
      const now = new Date();
      const live = (await rotator().rotate(token, now)).refreshToken;
      assert.equal(await code(judge().rotate(token, later(now))), 'refresh_token_reused');
      assert.equal((await store.findSession(id))?.revokedReason, 'refresh_token_reused');
      assert.equal(await code(newer().rotate(live, later(now))), 'session_not_found');
      assert.equal(await code(older().rotate(live, later(now))), 'session_not_found');
    }
  });

  it("ends the session when an old instance sees a repeat of a token a new instance rotated (the old code's limit)", async () => {
    // The old code looks only for the secret's successor; the new instance stored the server key's.
    // It cannot be made to find it, so docs/operations.md tells what this costs during the upgrade:
    // the user signs in again.
    const now = new Date();
    const rotatedByNew = await open();
    await newer().rotate(rotatedByNew.token, now);
    const rotatedByBoth = await open();
    const second = (await older().rotate(rotatedByBoth.token, now)).refreshToken;
    await newer().rotate(second, now);
    for (const { id, token } of [rotatedByNew, rotatedByBoth]) {
      assert.equal(await code(older().rotate(token, now)), 'refresh_token_reused');
      assert.equal((await store.findSession(id))?.revokedReason, 'refresh_token_reused');
    }
  });
});
