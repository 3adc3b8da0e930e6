import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROTATED_TOKENS_KEPT } from '../../src/stores/postgres/upkeep.js';
import type pg from 'pg';
import { openPostgresPool, PostgresStore, schemaNames } from '../../src/stores/postgres/index.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../support/postgres.js';

const HOUR = 3_600_000;

describe('PostgreSQL session tables stay bounded', () => {
  let store: PostgresStore;
  let pool: pg.Pool;
  let serverUrl: string;
  let url: string;
  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    const config = { ...testStoreConfig(url), poolMax: 4 };
    pool = await openPostgresPool(config, testRoles);
    store = new PostgresStore(pool, schemaNames(config, testRoles), {
      preparedStatements: config.preparedStatements,
    });
  });
  after(async () => {
    await store.close();
    await dropDatabase(serverUrl, url);
  });

  const count = async (sql: string, params: unknown[] = []) =>
    Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);

  async function session(id: string, userId: string, createdAt: Date, notAfter: Date) {
    await store.createSession({
      id,
      userId,
      createdAt,
      notAfter,
      refreshSecret: 'secret',
      firstRefreshTokenHash: `${id}-0`,
      maxPerUser: 0,
    });
  }

  it('keeps the newest rotated tokens of each session, the live one, and live sessions', async () => {
    const user = await store.createUser(
      { username: 'prune', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
      null,
    );
    const start = new Date('2030-01-01T00:00:00Z');
    const live = '00000000-0000-4000-8000-000000000001';
    await session(live, user.id, start, new Date(start.getTime() + 720 * HOUR));
    for (let i = 1; i <= 30; i++) {
      const at = new Date(start.getTime() + i * 60_000);
      assert.equal(await store.rotateRefreshToken(`${live}-${i - 1}`, `${live}-${i}`, at), true);
    }
    const ended = '00000000-0000-4000-8000-000000000002';
    await session(ended, user.id, start, new Date(start.getTime() + HOUR));
    const revoked = '00000000-0000-4000-8000-000000000003';
    await session(revoked, user.id, start, new Date(start.getTime() + 720 * HOUR));
    await store.revokeSession(revoked, 'logout', start);

    const pruned = await store.pruneSessions(new Date(start.getTime() + 24 * HOUR));
    assert.deepEqual(pruned, { sessions: 2, refreshTokens: 30 - ROTATED_TOKENS_KEPT });
    const left = await count(`SELECT count(*) AS n FROM auth.refresh_tokens WHERE session_id = $1`, [live]);
    assert.equal(left, ROTATED_TOKENS_KEPT + 1);
    // The newest rotated token is still known: replaying it is reuse, not an unknown token.
    const replayed = await store.findRefreshToken(`${live}-29`);
    assert.ok(replayed?.token.rotatedAt);
    assert.equal(await store.findRefreshToken(`${live}-0`), null, 'the oldest is gone');
    assert.equal((await store.findRefreshToken(`${live}-30`))?.token.rotatedAt, null, 'the live token stays');
    assert.equal(await store.findSession(ended), null);
    assert.equal(await store.findSession(revoked), null);
    assert.deepEqual(await store.pruneSessions(new Date(start.getTime() + 24 * HOUR)), {
      sessions: 0,
      refreshTokens: 0,
    });
  });
});
