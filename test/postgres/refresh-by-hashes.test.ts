import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { deriveSecret, hashSecret, randomSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import type { PostgresStore } from '../../src/stores/postgres/index.js';
import { realServerOnly, testRoles } from '../support/postgres.js';
import { insertSessionFromBefore, insertUserFromBefore } from '../support/sessions-before.js';
import { useTestDatabase } from '../support/test-database.js';

const DAY_SECONDS = 86_400;
const settings = {
  absoluteLifetime: 30 * DAY_SECONDS,
  inactivityTimeout: DAY_SECONDS,
  reuseGrace: 10,
  maxPerUser: 0,
  endedRetention: DAY_SECONDS,
};

/**
 * A refresh found, then rotated, by hashes only (migration 25 undid migration 23's one statement,
 * which took the token itself: test/postgres/statement-log.test.ts): a database upgraded from
 * migration 24 loses the key blocks and their function, and keeps its signed-in users signed in,
 * their chains going on.
 */
describe('a refresh by hashes on PostgreSQL, upgraded from the one statement', () => {
  const database = useTestDatabase({ migrateThrough: 24 });
  let pool: pg.Pool;
  let store: PostgresStore;
  let statements = 0;
  // Signed in while the database was at migration 24 (its key blocks written).
  let userId: string;
  const sessionId = randomUUID();
  const secret = randomSecret();
  const token = randomSecret();

  before(async () => {
    ({ pool, store } = database);
    // In migration 24's SQL: today's store writes columns of later migrations.
    const user = await insertUserFromBefore(pool, { username: 'kept', role: testRoles.authenticated });
    userId = user.id;
    await insertSessionFromBefore(pool, {
      id: sessionId,
      userId,
      notAfter: new Date(Date.now() + 30 * DAY_SECONDS * 1000),
      secret,
      firstTokenHash: hashSecret(token),
    });
    assert.equal((await migrate(pool, database.names))[0], 25, 'migration 25 is the upgrade under test');
    // Every statement the store sends, counted: a refresh's round trips.
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    pool.query = ((...args: unknown[]) => {
      statements++;
      return query(...args);
    }) as typeof pool.query;
  });

  it('drops the key blocks and their function', async () => {
    const { rows: columns } = await pool.query(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'restauth' AND table_name = 'session_secrets' ORDER BY 1`,
    );
    // chain: migration 28's (refresh-one-statement.test.ts).
    assert.deepEqual(columns, [
      { column_name: 'chain' },
      { column_name: 'refresh_secret' },
      { column_name: 'session_id' },
    ]);
    const { rows: functions } = await pool.query(
      `SELECT proname FROM pg_proc WHERE proname = 'hmac_sha256_key_block'`,
    );
    assert.deepEqual(functions, []);
  });

  it("rotates an upgraded session's token by hashes, to the successor of its chain", async () => {
    const sessions = new SessionManager(store, settings, {
      imported: randomBytes(32),
      successors: randomBytes(32),
    });
    const before = statements;
    const rotated = await sessions.rotate(token, new Date());
    // A session of before migration 28 keeps its secret's chain: the one statement finds it and
    // leaves it to rotateRefreshToken.
    assert.equal(statements - before, 2, 'found, then rotated');
    assert.equal(rotated.refreshToken, deriveSecret(secret, token), 'the chain of before the upgrade');
    assert.equal(rotated.session.id, sessionId);
    assert.equal(rotated.user?.id, userId, 'the user comes with it');
    const { rows } = await pool.query(
      'SELECT token, revoked, parent FROM auth.refresh_tokens WHERE session_id = $1 ORDER BY id',
      [sessionId],
    );
    assert.deepEqual(rows, [
      { token: hashSecret(token), revoked: true, parent: null },
      { token: hashSecret(rotated.refreshToken), revoked: false, parent: hashSecret(token) },
    ]);
    // The chain goes on, and the spent token inside the grace period is answered with the live one.
    const next = await sessions.rotate(rotated.refreshToken, new Date());
    assert.equal(next.refreshToken, deriveSecret(secret, rotated.refreshToken));
    assert.equal((await sessions.rotate(token, new Date())).refreshToken, next.refreshToken);
  });

  it(
    'rotates once when many present the same token at once',
    { skip: realServerOnly() ?? false },
    async () => {
      const first = randomSecret();
      await store.createSession({
        id: randomUUID(),
        userId,
        createdAt: new Date(),
        notAfter: new Date(Date.now() + DAY_SECONDS * 1000),
        refreshSecret: randomSecret(),
        firstRefreshTokenHash: hashSecret(first),
        maxPerUser: 0,
      });
      const now = new Date();
      const successors = Array.from({ length: 20 }, () => hashSecret(randomSecret()));
      const answers = await Promise.all(
        successors.map((successor) => store.rotateRefreshToken(hashSecret(first), successor, now)),
      );
      assert.equal(answers.filter(Boolean).length, 1, 'one winner');
      const winner = successors[answers.indexOf(true)]!;
      const found = await store.findRefreshToken(winner);
      assert.equal(found?.token.rotatedAt, null, 'its successor is the live token');
    },
  );
});
