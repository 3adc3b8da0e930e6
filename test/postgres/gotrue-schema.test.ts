import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  GOTRUE_VERSIONS,
  NEWEST_KNOWN_GOTRUE_VERSION,
  SchemaRefusedError,
} from '../../src/stores/postgres/gotrue-schema.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { migrations, type SchemaNames } from '../../src/stores/postgres/migrations.js';
import { dropDatabase, testPostgres } from '../support/postgres.js';
import { runRestauth } from '../support/process.js';

const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'anon',
  authenticatedRole: 'authenticated',
};
const SECRET = 'test-secret-0123456789abcdef-0123456789';

/**
 * The part of a database GoTrue made that restauth looks at before migrating:
 * `auth.schema_migrations` with pop's versions (docs/postgres-schema.md) and
 * GoTrue's `auth.users`, with one user.
 */
async function createGoTrueDatabase(pool: pg.Pool, versions: readonly string[]): Promise<void> {
  await pool.query(`
    CREATE SCHEMA auth;
    CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
    CREATE TABLE auth.users (
      instance_id uuid, id uuid PRIMARY KEY, aud varchar(255), role varchar(255), email varchar(255),
      encrypted_password varchar(255), email_confirmed_at timestamptz, raw_app_meta_data jsonb,
      raw_user_meta_data jsonb, created_at timestamptz, updated_at timestamptz, banned_until timestamptz,
      is_anonymous boolean NOT NULL DEFAULT false);
  `);
  await pool.query('INSERT INTO auth.schema_migrations (version) SELECT unnest($1::text[])', [versions]);
  await pool.query(
    `INSERT INTO auth.users (id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data)
     VALUES ($1, 'authenticated', 'authenticated', 'gail@example.com', $2, '{"provider":"email"}', '{}')`,
    [randomUUID(), '$2a$10$abcdefghijklmnopqrstuuJ0m3kK3i3xv1N2cQk7XkE1u2v3w4x5y'],
  );
}

/** What a refused migration must have left alone: GoTrue's tables only, with their columns. */
async function schemaShape(pool: pg.Pool): Promise<{ tables: string[]; userColumns: string[] }> {
  const tables = await pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'auth' ORDER BY 1`,
  );
  const columns = await pool.query<{ name: string }>(
    `SELECT column_name AS name FROM information_schema.columns
     WHERE table_schema = 'auth' AND table_name = 'users' ORDER BY 1`,
  );
  return { tables: tables.rows.map((row) => row.name), userColumns: columns.rows.map((row) => row.name) };
}

/**
 * A database GoTrue made is not restauth's to migrate: its migrations would
 * alter GoTrue's users table (migration 1 failed half-way there, after
 * creating restauth's bookkeeping table in GoTrue's schema). It is refused
 * before anything is written, naming GoTrue's newest migration, and saying
 * when that one is newer than any restauth knows. `restauth migrate --status`
 * lists what is applied without changing anything.
 */
describe("a database GoTrue made, and restauth's migration status", () => {
  let serverUrl: string;
  let dir: string;
  const databases: string[] = [];

  async function database(): Promise<{ url: string; pool: pg.Pool }> {
    const url = await (await testPostgres()).createDatabase();
    databases.push(url);
    return { url, pool: new pg.Pool({ connectionString: url, max: 2 }) };
  }

  before(async () => {
    serverUrl = (await testPostgres()).url;
    dir = await mkdtemp(join(tmpdir(), 'restauth-gotrue-schema-'));
  });
  after(async () => {
    for (const url of databases) await dropDatabase(serverUrl, url);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a schema GoTrue made that lacks what restauth writes, naming it, and writes nothing', async () => {
    const { pool } = await database();
    try {
      // Hosted Supabase databases also carry older versions of the GoTrue Supabase forked.
      await createGoTrueDatabase(pool, ['20171026211738', ...GOTRUE_VERSIONS]);
      const before = await schemaShape(pool);
      await assert.rejects(migrate(pool, names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        // Every version is known, so restauth would serve it (test/postgres/gotrue-made.test.ts), but
        // this one's tables are a sketch of GoTrue's: what restauth reads and writes is named.
        assert.match(error.message, /schema auth was made by GoTrue/u);
        assert.match(
          error.message,
          /lacks what restauth writes: auth\.users\.confirmation_sent_at \(timestamp with time zone\)/u,
        );
        assert.match(error.message, /and \d+ more\. restauth wrote nothing/u);
        assert.doesNotMatch(error.message, /newer than/u);
        return true;
      });
      assert.deepEqual(await schemaShape(pool), before);
      assert.ok(!before.tables.includes('restauth_migrations'));
    } finally {
      await pool.end();
    }
  });

  it('names a GoTrue migration newer than any restauth knows', async () => {
    const { pool } = await database();
    try {
      await createGoTrueDatabase(pool, [...GOTRUE_VERSIONS, '20990101000000']);
      await assert.rejects(migrate(pool, names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        assert.match(
          error.message,
          new RegExp(
            `GoTrue migration 20990101000000 is newer than any restauth knows \\(${NEWEST_KNOWN_GOTRUE_VERSION}\\)`,
            'u',
          ),
        );
        return true;
      });
    } finally {
      await pool.end();
    }
  });

  it('restauth migrate refuses it in one line, and --status lists its GoTrue versions', async () => {
    const { url, pool } = await database();
    try {
      await createGoTrueDatabase(pool, [...GOTRUE_VERSIONS, '20990101000000']);
    } finally {
      await pool.end();
    }
    const env = { DATABASE_URL: url, RESTAUTH_JWT_SECRET: SECRET };
    const refused = await runRestauth(dir, ['migrate'], env);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /GoTrue migration 20990101000000 is newer than any restauth knows/u);
    assert.doesNotMatch(refused.output, /\n\s+at /u);

    const status = await runRestauth(dir, ['migrate', '--status'], env);
    assert.equal(status.code, 0, status.output);
    assert.match(
      status.output,
      /restauth migrations \(restauth\.restauth_migrations\):\n {2}pending {2}1 {2}/u,
    );
    assert.match(
      status.output,
      new RegExp(
        `GoTrue migrations \\(auth\\.schema_migrations\\): ${GOTRUE_VERSIONS.length + 1}, newest 20990101000000`,
        'u',
      ),
    );
    assert.match(status.output, /newer than restauth knows: 20990101000000/u);
  });

  it("--status lists restauth's applied migrations on its own database, and changes nothing", async () => {
    const { url, pool } = await database();
    const env = { DATABASE_URL: url, RESTAUTH_JWT_SECRET: SECRET };
    try {
      const fresh = await runRestauth(dir, ['migrate', '--status'], env);
      assert.equal(fresh.code, 0, fresh.output);
      const known = migrations(names);
      for (const migration of known) assert.ok(fresh.output.includes(`  pending  ${migration.version}  `));
      assert.match(fresh.output, /GoTrue migrations \(auth\.schema_migrations\): none/u);
      const { rows } = await pool.query<{ exists: boolean }>(
        `SELECT to_regnamespace('auth') IS NOT NULL AS exists`,
      );
      assert.equal(rows[0]!.exists, false, '--status created the schema');

      await migrate(pool, names);
      const migrated = await runRestauth(dir, ['migrate', '--status'], env);
      assert.equal(migrated.code, 0, migrated.output);
      for (const migration of known) {
        assert.match(
          migrated.output,
          new RegExp(`  applied {2}${migration.version} {2}.+ \\(\\d{4}-\\d\\d-\\d\\dT`, 'u'),
        );
      }
      assert.doesNotMatch(migrated.output, /pending/u);
      // The GoTrue versions restauth's migrations reproduce, recorded as GoTrue records them.
      const recorded = known.flatMap((migration) => migration.gotrue ?? []).sort();
      assert.match(
        migrated.output,
        new RegExp(
          `GoTrue migrations \\(auth\\.schema_migrations\\): ${recorded.length}, newest ${recorded.at(-1)!}\n`,
          'u',
        ),
      );
    } finally {
      await pool.end();
    }
  });
});
