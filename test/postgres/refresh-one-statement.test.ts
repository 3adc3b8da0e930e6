import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { hashSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { realServerOnly } from '../support/postgres.js';
import { openServerKeySession, refreshSettings } from '../support/server-key-session.js';
import { useTestDatabase } from '../support/test-database.js';

const DAY_SECONDS = 86_400;
const GRACE_SECONDS = refreshSettings.reuseGrace;
const settings = refreshSettings;

/**
 * A session restauth opens since migration 28 derives its successors under the server key
 * (session_secrets.chain 2): Node computes the successor and both hashes before any query, and one
 * statement finds, judges and rotates (Store.refreshInOneStatement). Counted here: every statement
 * the store sends.
 */
describe('a refresh in one statement on PostgreSQL (server-key chain)', () => {
  const database = useTestDatabase();
  let pool: pg.Pool;
  let store: PostgresStore;
  let statements = 0;
  let userId: string;
  const keys = { imported: randomBytes(32), successors: randomBytes(32) };
  const sessions = () => new SessionManager(store, settings, keys);
  const successorOf = (token: string, key = keys.successors) =>
    createHmac('sha256', key).update(token).digest('base64url');

  /** A new session, as sign-ins open them: its first token. */
  const open = (now = new Date()) => openServerKeySession(store, userId, now);
  const code = (answer: Promise<unknown>) =>
    answer.then(
      () => 'ok',
      (error: { code?: string }) => error.code,
    );

  before(async () => {
    ({ pool, store } = database);
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    pool.query = ((...args: unknown[]) => {
      statements++;
      return query(...args);
    }) as typeof pool.query;
    const user = await store.createUser(
      { username: 'chained', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
      null,
    );
    userId = user.id;
  });

  it('rotates a new session in one statement, to HMAC(server key, token)', async () => {
    const { id, token } = await open();
    const { rows: chains } = await pool.query(
      'SELECT chain FROM restauth.session_secrets WHERE session_id = $1',
      [id],
    );
    assert.deepEqual(chains, [{ chain: 2 }]);
    const before = statements;
    const rotated = await sessions().rotate(token, new Date());
    assert.equal(statements - before, 1, 'one statement');
    assert.equal(rotated.refreshToken, successorOf(token));
    assert.equal(rotated.session.id, id);
    assert.equal(rotated.session.chain, 'server-key');
    assert.equal(rotated.user?.id, userId, 'the user comes with it');
    const { rows } = await pool.query(
      'SELECT token, revoked, parent FROM auth.refresh_tokens WHERE session_id = $1 ORDER BY id',
      [id],
    );
    assert.deepEqual(rows, [
      { token: hashSecret(token), revoked: true, parent: null },
      { token: hashSecret(rotated.refreshToken), revoked: false, parent: hashSecret(token) },
    ]);
  });

  it('answers a repeat inside the grace period with the very successor, and ends the session after it', async () => {
    const { id, token } = await open();
    const now = new Date();
    const second = (await sessions().rotate(token, now)).refreshToken;
    const third = (await sessions().rotate(second, now)).refreshToken;
    // As GoTrue answers the parent of the live token: the live token, no new one.
    assert.equal((await sessions().rotate(second, now)).refreshToken, third);
    assert.equal((await sessions().rotate(token, now)).refreshToken, third, 'two hops');
    const { rows } = await pool.query(
      'SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE session_id = $1',
      [id],
    );
    assert.equal(rows[0].n, 3, 'no token added by the repeats');
    const later = new Date(now.getTime() + (GRACE_SECONDS + 1) * 1000);
    assert.equal(await code(sessions().rotate(token, later)), 'refresh_token_reused');
    assert.equal((await store.findSession(id))?.revokedReason, 'refresh_token_reused');
    assert.equal(await code(sessions().rotate(third, later)), 'session_not_found');
  });

  it('ends an idle session and refuses an expired one without rotating', async () => {
    const idle = await open();
    const idleAt = new Date(Date.now() + (DAY_SECONDS + 1) * 1000);
    assert.equal(await code(sessions().rotate(idle.token, idleAt)), 'session_expired');
    assert.equal((await store.findSession(idle.id))?.revokedReason, 'inactivity_timeout');
    const old = await open(new Date(Date.now() - (settings.absoluteLifetime + 1) * 1000));
    assert.equal(await code(sessions().rotate(old.token, new Date())), 'session_expired');
    const { rows } = await pool.query('SELECT revoked FROM auth.refresh_tokens WHERE token = $1', [
      hashSecret(old.token),
    ]);
    assert.deepEqual(rows, [{ revoked: false }], 'not rotated');
  });

  it('goes on after the server key changed (a new JWT secret or signing key)', async () => {
    const { id, token } = await open();
    const now = new Date();
    const second = (await sessions().rotate(token, now)).refreshToken;
    const renewed = new SessionManager(store, settings, {
      imported: keys.imported,
      successors: randomBytes(32),
    });
    // The repeat's successor under the new key was never stored: refused, the session kept.
    assert.equal(await code(renewed.rotate(token, now)), 'refresh_token_not_found');
    assert.equal((await store.findSession(id))?.revokedAt, null);
    // The live token is found by its hash whatever the key; its successor takes the new one.
    const third = await renewed.rotate(second, now);
    assert.equal(third.session.id, id);
    assert.equal((await renewed.rotate(third.refreshToken, now)).session.id, id);
  });

  it(
    'answers racing refreshes of one token with the one successor',
    { skip: realServerOnly() ?? false },
    async () => {
      const { id, token } = await open();
      const now = new Date();
      const answers = await Promise.all(Array.from({ length: 12 }, () => sessions().rotate(token, now)));
      assert.deepEqual(new Set(answers.map((answer) => answer.refreshToken)), new Set([successorOf(token)]));
      const { rows } = await pool.query(
        'SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE session_id = $1 AND NOT revoked',
        [id],
      );
      assert.equal(rows[0].n, 1, 'one live token');
    },
  );
});
