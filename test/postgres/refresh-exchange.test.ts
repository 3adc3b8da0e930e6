import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { deriveSecret, hashSecret, randomSecret } from '../../src/core/secrets.js';
import { SessionManager } from '../../src/core/sessions.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { PostgresStore, schemaNames } from '../../src/stores/postgres/index.js';
import {
  dropDatabase,
  realServerOnly,
  testPostgres,
  testRoles,
  testStoreConfig,
} from '../support/postgres.js';

const DAY_SECONDS = 86_400;
const settings = {
  absoluteLifetime: 30 * DAY_SECONDS,
  inactivityTimeout: DAY_SECONDS,
  reuseGrace: 10,
  maxPerUser: 0,
  endedRetention: DAY_SECONDS,
};

/**
 * A refresh in one statement (migration 23): the successor is derived in SQL from the key blocks kept
 * beside each session's secret, exactly as core derives it, and a database upgraded from migration 22
 * keeps its signed-in users signed in, their chains going on.
 */
describe('a refresh in one round trip on PostgreSQL', () => {
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;
  let store: PostgresStore;
  let statements = 0;
  // Signed in while the database was at migration 22.
  let userId: string;
  const sessionId = randomUUID();
  const secret = randomSecret();
  const token = randomSecret();

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    const config = testStoreConfig(url);
    const names = schemaNames(config, testRoles);
    pool = new pg.Pool({ connectionString: url, max: 8 });
    await migrate(pool, names, { through: 22 });
    const older = new PostgresStore(pool, names, { preparedStatements: config.preparedStatements });
    const user = await older.createUser(
      {
        username: 'kept',
        email: null,
        emailConfirmedAt: null,
        role: null,
        profile: {},
        appMetadata: {},
      },
      null,
    );
    userId = user.id;
    await older.createSession({
      id: sessionId,
      userId,
      createdAt: new Date(),
      notAfter: new Date(Date.now() + 30 * DAY_SECONDS * 1000),
      refreshSecret: secret,
      firstRefreshTokenHash: hashSecret(token),
      maxPerUser: 0,
    });
    assert.equal((await migrate(pool, names))[0], 23, 'migration 23 is the upgrade under test');
    // Every statement the store sends, counted: a refresh's round trips.
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    pool.query = ((...args: unknown[]) => {
      statements++;
      return query(...args);
    }) as typeof pool.query;
    store = new PostgresStore(pool, names, { preparedStatements: config.preparedStatements });
  });
  after(async () => {
    await pool?.end();
    await dropDatabase(serverUrl, url);
  });

  it('derives in SQL what Node derives, for any key length and any text', async () => {
    for (const key of ['', 'k', secret, 'x'.repeat(64), 'y'.repeat(65), 'ключ-🔑'.repeat(12)]) {
      const message = `${randomSecret()}-é`;
      const { rows } = await pool.query<{ mac: string }>(
        `SELECT encode(sha256(restauth.hmac_sha256_key_block($1, '5c')
           || sha256(restauth.hmac_sha256_key_block($1, '36') || convert_to($2, 'UTF8'))), 'hex') AS mac`,
        [key, message],
      );
      assert.equal(
        rows[0]!.mac,
        createHmac('sha256', key).update(message).digest('hex'),
        `key of ${key.length}`,
      );
    }
  });

  it("rotates an upgraded session's token in one statement, to the successor of its chain", async () => {
    const sessions = new SessionManager(store, settings);
    const before = statements;
    const rotated = await sessions.rotate(token, new Date());
    assert.equal(statements - before, 1, 'one round trip');
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

  it('rotates nothing core would refuse: an idle, an expired or an ended session, a spent token', async () => {
    const now = new Date();
    const open = async (notAfter: Date) => {
      const first = randomSecret();
      const session = await store.createSession({
        id: randomUUID(),
        userId,
        createdAt: now,
        notAfter,
        refreshSecret: randomSecret(),
        firstRefreshTokenHash: hashSecret(first),
        maxPerUser: 0,
      });
      return { session, first };
    };
    const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
    const exchange = (first: string, at: Date) =>
      store.exchangeRefreshToken(first, hashSecret(first), at, settings.inactivityTimeout);

    const idle = await open(later(30 * DAY_SECONDS));
    const idleFound = await exchange(idle.first, later(DAY_SECONDS));
    assert.equal(idleFound?.successor, null, 'idle for the whole timeout');
    assert.equal(idleFound?.token.rotatedAt, null);
    assert.ok(await exchange(idle.first, later(DAY_SECONDS - 1)).then((found) => found?.successor));

    const expiring = await open(later(60));
    assert.equal((await exchange(expiring.first, later(60)))?.successor, null, 'at its not_after');

    const ended = await open(later(DAY_SECONDS));
    await store.revokeSession(ended.session.id, 'logout', now);
    const endedFound = await exchange(ended.first, now);
    assert.equal(endedFound?.successor, null);
    assert.equal(endedFound?.session.revokedReason, 'logout', 'found as findRefreshToken finds it');

    const spent = await open(later(DAY_SECONDS));
    assert.ok((await exchange(spent.first, now))?.successor);
    const again = await exchange(spent.first, now);
    assert.equal(again?.successor, null, 'rotated once');
    assert.ok(again?.token.rotatedAt);
    assert.equal(await exchange(randomSecret(), now), null, 'an unknown token');
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
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.exchangeRefreshToken(first, hashSecret(first), now, settings.inactivityTimeout),
        ),
      );
      const successors = answers.flatMap((answer) => (answer?.successor ? [answer.successor] : []));
      assert.equal(successors.length, 1, 'one winner');
      const found = await store.findRefreshToken(hashSecret(successors[0]!));
      assert.equal(found?.token.rotatedAt, null, 'its successor is the live token');
    },
  );
});
