import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { REPRODUCED_GOTRUE_VERSIONS } from '../../src/stores/postgres/gotrue-reproduced-versions.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { dropDatabase, testPostgres } from '../support/postgres.js';
import { createGoTrueMadeDatabase } from './gotrue-made-database.js';
import { SUPABASE_NAMES } from '../support/postgres-migrations.js';

const names = SUPABASE_NAMES;

/**
 * What the two databases may differ in, each for its reason; anything else differing fails.
 */
const KNOWN_DIFFERENCES = new Map<string, string>([
  // 20250904133000 is not recorded: restauth has no auth.oauth_clients to reference.
  ['sessions constraint sessions_oauth_client_id_fkey', 'absent'],
  // 20220114185221 drops the index without naming its schema: which definition a GoTrue database
  // ends with depends on GoTrue's search_path (lower(email) when it is `auth`, as Supabase sets
  // it). The test database GoTrue made keeps the first one; restauth's is the one GoTrue meant.
  ['users index users_instance_id_email_idx', 'lower(email)'],
]);

/** One table of `auth` as lines: columns in order, constraints and indexes by name. */
async function tableLines(pool: pg.Pool, table: string): Promise<Map<string, string>> {
  const lines = new Map<string, string>();
  const columns = await pool.query<Record<string, unknown>>(
    // Not the order: pop names every column it writes, and migration 17 put sessions.scopes before the
    // HMAC key and counter, which GoTrue added first (docs/postgres-schema.md, part 3).
    `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default,
       is_generated, generation_expression, udt_schema, udt_name
     FROM information_schema.columns WHERE table_schema = 'auth' AND table_name = $1`,
    [table],
  );
  for (const row of columns.rows)
    lines.set(`${table} column ${String(row.column_name)}`, JSON.stringify(row));
  const constraints = await pool.query<{ name: string; definition: string }>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
     WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'f', 'c')`,
    [`auth.${table}`],
  );
  for (const row of constraints.rows) lines.set(`${table} constraint ${row.name}`, row.definition);
  const indexes = await pool.query<{ name: string; definition: string }>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = 'auth' AND tablename = $1`,
    [table],
  );
  for (const row of indexes.rows) lines.set(`${table} index ${row.name}`, row.definition);
  return lines;
}

/**
 * Migrations 21 and 22 record the GoTrue versions of users, identities, Supabase's
 * SQL helpers, sessions and refresh tokens, which migrations 13-17
 * reproduced. Recording one claims its whole effect is there, so the tables
 * they build are compared, column by column, constraint by constraint and
 * index by index, with the test database built as GoTrue leaves it
 * (gotrue-made-database.ts, written apart from restauth's migrations).
 */
describe('the GoTrue versions migrations 13-17 reproduced', () => {
  let serverUrl: string;
  const urls: string[] = [];
  let restauth: pg.Pool;
  let gotrue: pg.Pool;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    const [ours, theirs] = [await server.createDatabase(), await server.createDatabase()];
    urls.push(ours, theirs);
    restauth = new pg.Pool({ connectionString: ours, max: 2 });
    gotrue = new pg.Pool({ connectionString: theirs, max: 2 });
    await migrate(restauth, names);
    await createGoTrueMadeDatabase(theirs);
  });
  after(async () => {
    await restauth.end();
    await gotrue.end();
    for (const url of urls) await dropDatabase(serverUrl, url);
  });

  for (const table of ['users', 'identities', 'sessions', 'refresh_tokens']) {
    it(`auth.${table} is the table GoTrue's migrations leave`, async () => {
      const [ours, theirs] = [await tableLines(restauth, table), await tableLines(gotrue, table)];
      for (const key of new Set([...ours.keys(), ...theirs.keys()])) {
        const known = KNOWN_DIFFERENCES.get(key);
        if (known === 'absent') {
          assert.equal(ours.get(key), undefined, key);
          assert.notEqual(theirs.get(key), undefined, key);
        } else if (known === 'lower(email)') {
          assert.match(ours.get(key) ?? '', /\(instance_id, lower\(\(email\)::text\)\)$/u, key);
        } else {
          assert.equal(ours.get(key), theirs.get(key), key);
        }
      }
    });
  }

  it('records them in auth.schema_migrations', async () => {
    const { rows } = await restauth.query<{ version: string }>(
      'SELECT version FROM auth.schema_migrations WHERE version = ANY($1::text[])',
      [REPRODUCED_GOTRUE_VERSIONS],
    );
    assert.equal(rows.length, REPRODUCED_GOTRUE_VERSIONS.length);
  });

  it("keeps Supabase's comment on the partial email index", async () => {
    const { rows } = await restauth.query<{ comment: string }>(
      `SELECT obj_description('auth.users_email_partial_key'::regclass, 'pg_class') AS comment`,
    );
    assert.equal(
      rows[0]!.comment,
      'Auth: A partial unique index that applies only when is_sso_user is false',
    );
  });
});
