import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openPostgresBackend } from '../../src/stores/postgres/backend.js';
import { warnOfOtherAudiences } from '../../src/stores/postgres/audience-check.js';
import type { Backend } from '../../src/stores/backend.js';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { dropDatabase, testPostgres, testRoles, testStoreConfig } from '../support/postgres.js';

/**
 * Access tokens carry their user's own audience (auth.users.aud), so setting jwt.audience on a database
 * whose users were made under another leaves them with tokens nothing accepts: the start says so, and how
 * to move them.
 */
describe('users of another audience than jwt.audience', () => {
  let serverUrl: string;
  let url: string;
  let backend: Backend;
  let sql: pg.Pool;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    // Migrates the database; no audience set, so no check yet.
    backend = await openPostgresBackend(
      { roles: testRoles, store: testStoreConfig(url) },
      { info() {}, warn() {} },
    );
    sql = new pg.Pool({ connectionString: url, max: 2 });
  });
  after(async () => {
    await sql?.end();
    await backend?.close();
    await dropDatabase(serverUrl, url);
  });

  const insertUser = (aud: string | null) =>
    sql.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, $2, 'authenticated', $3, '{}', '{}', now(), now())`,
      [randomUUID(), aud, `${randomUUID()}@example.com`],
    );

  const warnings = async (audience: string) => {
    const lines: string[] = [];
    await warnOfOtherAudiences(sql, schemaNames(testStoreConfig(url), testRoles), audience, {
      info() {},
      warn: (line) => lines.push(line),
    });
    return lines;
  };

  it('says nothing while every user has the configured audience, and counts nothing then', async () => {
    await insertUser('my-app');
    await insertUser('my-app');
    // The statements the check sends, seen on the real pool it is given.
    const sent: string[] = [];
    const query = sql.query.bind(sql) as (...args: unknown[]) => unknown;
    sql.query = ((config: string, ...rest: unknown[]) => {
      sent.push(config);
      return query(config, ...rest);
    }) as typeof sql.query;
    try {
      assert.deepEqual(await warnings('my-app'), []);
    } finally {
      sql.query = query as typeof sql.query;
    }
    // One EXISTS, which stops at the first user of another audience; no GROUP BY over every user.
    assert.equal(sent.length, 1, sent.join('\n'));
    assert.match(sent[0] ?? '', /SELECT EXISTS \(/u);
    assert.doesNotMatch(sent[0] ?? '', /GROUP BY|count\(/u);
  });

  it('names how many users have which other audience, and the update that moves them', async () => {
    await insertUser('authenticated');
    await insertUser('authenticated');
    await insertUser(null);
    const [line, ...rest] = await warnings('my-app');
    assert.deepEqual(rest, []);
    assert.match(line ?? '', /2 with "authenticated", 1 with null/);
    assert.match(line ?? '', /UPDATE "?auth"?\.users SET aud = 'my-app' WHERE aud IS DISTINCT FROM 'my-app'/);
  });

  it("quotes an audience's quote in the suggested update", async () => {
    const [line] = await warnings("o'brien");
    assert.match(line ?? '', /SET aud = 'o''brien'/);
  });
});
