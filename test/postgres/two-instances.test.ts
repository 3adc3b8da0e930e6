import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrations as allMigrations } from '../../src/stores/postgres/migrations.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredSession } from '../support/json-data-server.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';

/**
 * Two restauth instances on one database (true concurrency: separate pools).
 * 100 concurrent refreshes of one refresh token, spread over both, rotate it
 * once: every answer inside the grace period carries the same successor, and
 * exactly one live refresh token remains for the session.
 */
describe('two instances on one PostgreSQL database', { skip: realServerOnly() ?? false }, () => {
  let serverUrl: string;
  let url: string;
  let first: TestApp;
  let second: TestApp;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    const config = { store: testStoreConfig(url), passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } };
    // Both start together: the migrations run once, under the advisory lock.
    [first, second] = await Promise.all([
      createTestApp({ format: 'restauth', config }),
      createTestApp({ format: 'restauth', config }),
    ]);
  });
  after(async () => {
    await first.close();
    await second.close();
    await dropDatabase(serverUrl, url);
  });

  it('100 concurrent refreshes of one token leave exactly one live successor', async () => {
    const token = (await registeredSession(first, 'racer', 'a passphrase')).refresh_token;
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (i % 2 ? first : second).app.inject({
          method: 'POST',
          url: '/auth/refresh',
          payload: { refresh_token: token },
        }),
      ),
    );
    const statuses = answers.map((a) => a.statusCode);
    assert.deepEqual([...new Set(statuses)], [200], answers.find((a) => a.statusCode !== 200)?.body);
    const successors = new Set(answers.map((a) => a.json().refresh_token as string));
    assert.equal(successors.size, 1, 'every caller got the same successor');

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT count(*) FILTER (WHERE NOT t.revoked)::int AS live, count(*)::int AS total
         FROM auth.refresh_tokens t JOIN auth.sessions s ON s.id = t.session_id
         JOIN restauth.accounts u ON u.uid = s.user_id WHERE u.username = 'racer'`,
      );
      assert.deepEqual(rows[0], { live: 1, total: 2 });
      const { rows: migrations } = await client.query(
        'SELECT count(*)::int AS n FROM restauth.restauth_migrations',
      );
      const expected = allMigrations({
        schema: 'auth',
        table: 'users',
        anonymousRole: 'a',
        authenticatedRole: 'b',
      });
      assert.equal(migrations[0].n, expected.length, 'each migration applied once');
    } finally {
      await client.end();
    }
    // The successor works, on either instance.
    const next = await second.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: [...successors][0] },
    });
    assert.equal(next.statusCode, 200, next.body);
  });
});
