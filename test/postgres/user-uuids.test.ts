import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import type { SchemaNames } from '../../src/stores/postgres/migrations.js';
import { PostgresStore } from '../../src/stores/postgres/postgres-store.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';
import { migrateUpTo } from '../support/postgres-migrations.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'web_anon',
  authenticatedRole: 'normal_user',
};

/**
 * Users are named by a uuid (migration 6), their serial id kept as the key
 * the other tables reference: an upgraded database gives every existing user
 * one, and everything the Store returns names users by it.
 */
describe('PostgreSQL users named by uuid', () => {
  let serverUrl: string;
  let url: string;
  let store: PostgresStore;
  let pool: pg.Pool;
  const session = randomUUID();

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    pool = new pg.Pool({ connectionString: url, max: 4 });
    await migrateUpTo(pool, names, 5);
    // Users, a session and a one-time token from before the upgrade.
    await pool.query(`INSERT INTO auth.users (username, username_lowercase, password) VALUES
      ('Old1', 'old1', 'hash-1'), ('Old2', 'old2', 'hash-2')`);
    await pool.query(
      `INSERT INTO auth.sessions (id, user_id, created_at, refreshed_at, not_after, refresh_secret)
       VALUES ($1, 1, now(), now(), now() + interval '1 day', 's')`,
      [session],
    );
    await pool.query(
      `INSERT INTO auth.one_time_tokens (hash, user_id, purpose, created_at, expires_at)
       VALUES ('ott-old', 2, 'recovery', now(), now() + interval '1 hour')`,
    );
    assert.ok((await migrate(pool, names)).includes(6));
    store = new PostgresStore(pool, names, { preparedStatements: testStoreConfig(url).preparedStatements });
  });
  after(async () => {
    await store.close();
    await dropDatabase(serverUrl, url);
  });

  it('gives every existing user a uuid of its own, which the store names it by', async () => {
    const { rows } = await pool.query<{ id: number; uid: string }>(
      'SELECT id, uid::text AS uid FROM restauth.accounts ORDER BY id',
    );
    assert.equal(rows.length, 2);
    assert.notEqual(rows[0]!.uid, rows[1]!.uid);
    for (const row of rows) {
      assert.match(row.uid, UUID);
      const user = await store.findUserById(row.uid);
      assert.equal(user?.id, row.uid);
      assert.equal(await store.getPasswordHash(row.uid), `hash-${row.id}`);
    }
    assert.deepEqual(
      (await store.listUsers({ page: 1, perPage: 10 })).users.map((u) => u.id),
      rows.map((row) => row.uid),
      'listed in creation order',
    );
    // Sessions and one-time tokens made before the upgrade name their user by its uuid.
    assert.equal((await store.findSession(session))?.userId, rows[0]!.uid);
    assert.equal((await store.findOneTimeToken(rows[1]!.uid, 'recovery', new Date()))?.hash, 'ott-old');
    assert.equal((await store.consumeOneTimeToken('ott-old', 'recovery', new Date()))?.userId, rows[1]!.uid);
  });

  it('finds a user by its serial id in findUserById only (access tokens issued before the upgrade)', async () => {
    const legacy = await store.findUserById('1');
    assert.equal(legacy?.username, 'Old1');
    assert.match(legacy!.id, UUID, 'named by its uuid all the same');
    // The data API's check of such a token reads its user the same way.
    const standing = await store.findTokenStanding!(session, '1');
    assert.equal(standing.user?.id, legacy!.id);
    assert.equal(standing.session?.userId, legacy!.id, 'its session is the same user’s');
    assert.equal((await store.findTokenStanding!(session, '99')).user, null);
    assert.equal(await store.getPasswordHash('1'), null);
    assert.equal(await store.revokeUserSessions('1', null, 'logout', new Date()), 0);
    assert.equal(await store.deleteUser('1'), false);
    assert.equal((await store.findSession(session))?.revokedAt, null);
  });

  it('names new users, their sessions, refresh tokens and one-time tokens by uuid', async () => {
    const user = await store.createUser(
      { username: 'New', email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} },
      'h',
    );
    assert.match(user.id, UUID);
    const now = new Date();
    const created = await store.createSession({
      id: randomUUID(),
      userId: user.id,
      createdAt: now,
      notAfter: new Date(now.getTime() + 3600_000),
      refreshSecret: 's',
      firstRefreshTokenHash: 'rt-new',
      maxPerUser: 1,
    });
    assert.equal(created.userId, user.id);
    const found = await store.findRefreshToken('rt-new');
    assert.equal(found?.session.userId, user.id);
    assert.equal(found?.user?.id, user.id);
    await store.createOneTimeToken({
      hash: 'ott-new',
      codeHash: null,
      userId: user.id,
      purpose: 'confirmation',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3600_000),
      data: {},
    });
    assert.equal((await store.findOneTimeToken(user.id, 'confirmation', now))?.userId, user.id);
    const changed = await store.changePassword(user.id, 'h2', null, now);
    assert.equal(changed.id, user.id);
    assert.ok((await store.findSession(created.id))?.revokedAt, 'its sessions revoked');
    assert.equal((await store.findSession(session))?.revokedAt, null, 'not another user’s');
    // A uuid is a uuid whatever its case.
    assert.equal((await store.findUserById(user.id.toUpperCase()))?.id, user.id);
  });
});
