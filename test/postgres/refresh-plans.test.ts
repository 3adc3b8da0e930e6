import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { hashSecret, randomSecret } from '../../src/core/secrets.js';
import { openServerKeySession } from '../support/server-key-session.js';
import { namedUser } from '../support/named-user.js';
import { useTestDatabase } from '../support/test-database.js';

const OTHER_USERS = 300;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/** Rows every scan of `relations` in the plan read, over all its loops (not the rows it writes). */
function rowsRead(node: PlanNode, relations: string[]): number {
  const own =
    node['Node Type'].endsWith('Scan') &&
    node['Relation Name'] !== undefined &&
    relations.includes(node['Relation Name'])
      ? node['Actual Rows'] * node['Actual Loops']
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, relations), 0);
}

/**
 * A refresh reads its one user by key, whatever the planner knows of the users table: with users
 * never analysed (a new database, or many users added since autovacuum last analysed), the user
 * looked up by a LEFT JOIN LATERAL was hash-joined, every user and account read at every refresh, in
 * the generic plan a pool's prepared statement keeps as in a custom one. Autovacuum is off for
 * those tables here, so their statistics stay missing whatever the machine's pace.
 */
describe('the refresh statements read one user, not every user', () => {
  const database = useTestDatabase();
  let pool: pg.Pool;
  const sent: pg.QueryConfig[] = [];
  let token: string;

  before(async () => {
    pool = database.pool;
    const { store } = database;
    await pool.query(`ALTER TABLE auth.users SET (autovacuum_enabled = false)`);
    await pool.query(`ALTER TABLE restauth.accounts SET (autovacuum_enabled = false)`);
    await pool.query(
      `INSERT INTO auth.users (id, aud, role, email, created_at, updated_at)
       SELECT gen_random_uuid(), 'authenticated', 'authenticated', 'other' || n || '@example.com', now(), now()
       FROM generate_series(1, $1::int) n`,
      [OTHER_USERS],
    );
    const user = await store.createUser(namedUser('refreshing'), null);
    const now = new Date();
    ({ token } = await openServerKeySession(store, user.id, now));
    const second = await openServerKeySession(store, user.id, now);
    // Other sessions, each with a token: a batch's join must not read them all.
    await pool.query(
      `WITH s AS (
         INSERT INTO auth.sessions (id, user_id, created_at, updated_at)
         SELECT gen_random_uuid(), $1, now(), now() FROM generate_series(1, $2::int) RETURNING id
       ) INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, session_id, created_at, updated_at)
       SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid()::text, $1, false, id, now(), now() FROM s`,
      [user.id, OTHER_USERS],
    );
    // The statements as the store sends them, each then explained on its own.
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    pool.query = ((config: unknown, ...rest: unknown[]) => {
      if (typeof config === 'object' && config !== null) sent.push(config as pg.QueryConfig);
      return query(config, ...rest);
    }) as typeof pool.query;
    await store.findRefreshToken(hashSecret(token));
    await store.refreshInOneStatement!(hashSecret(token), hashSecret(randomSecret()), now, new Date(0));
    // Two at once: one statement for both (refresh-batch.ts).
    await Promise.all(
      [token, second.token].map((presented) =>
        store.refreshInOneStatement!(hashSecret(presented), hashSecret(randomSecret()), now, new Date(0)),
      ),
    );
    pool.query = query as typeof pool.query;
    assert.equal(sent.length, 3, 'one statement each');
    // The refreshes above rotated the tokens: put them back, so each explained run rotates them again.
    const presented = [hashSecret(token), hashSecret(second.token)];
    await pool.query('DELETE FROM auth.refresh_tokens WHERE parent = ANY ($1)', [presented]);
    await pool.query('UPDATE auth.refresh_tokens SET revoked = false WHERE token = ANY ($1)', [presented]);
  });

  /** The statement `sent[index]` explained (run, then rolled back) under `planCacheMode`. */
  async function usersRead(
    index: number,
    planCacheMode: string,
    relations = ['users', 'accounts'],
  ): Promise<number> {
    const { text, values = [] } = sent[index]!;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL plan_cache_mode = ${planCacheMode}`);
      await client.query(`PREPARE explained AS ${text}`);
      // EXPLAIN takes no bind parameters: the values go as literals.
      const literal = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value));
      const literals = values.map((value) =>
        client.escapeLiteral(
          Array.isArray(value) ? `{${value.map((item) => `"${literal(item)}"`).join(',')}}` : literal(value),
        ),
      );
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE explained(${literals.join(', ')})`,
      );
      return rowsRead(rows[0]!['QUERY PLAN'][0].Plan, relations);
    } finally {
      await client.query('ROLLBACK');
      // A prepared statement outlives the transaction.
      await client.query('DEALLOCATE ALL');
      client.release();
    }
  }

  for (const planCacheMode of ['force_generic_plan', 'force_custom_plan']) {
    it(`finding a refresh token reads its user alone (${planCacheMode})`, async () => {
      assert.equal(await usersRead(0, planCacheMode), 2, 'the user and its account');
    });

    it(`a refresh in one statement reads its user alone (${planCacheMode})`, async () => {
      assert.equal(await usersRead(1, planCacheMode), 2, 'the user and its account');
    });

    it(`refreshes in one batch read their own rows alone (${planCacheMode})`, async () => {
      assert.equal(await usersRead(2, planCacheMode), 4, 'the user and its account, once per refresh');
      assert.ok(
        (await usersRead(2, planCacheMode, ['refresh_tokens', 'sessions'])) <= 8,
        'the two tokens and their sessions (found, then updated by key), not every one',
      );
    });
  }
});
