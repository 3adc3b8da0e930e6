import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  GOTRUE_VERSIONS,
  NEWEST_KNOWN_GOTRUE_VERSION,
  SchemaRefusedError,
} from '../../src/stores/postgres/gotrue-schema.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import type { SchemaNames } from '../../src/stores/postgres/migrations.js';
import { dropDatabase, testPostgres } from '../support/postgres.js';
import { createGoTrueMadeDatabase } from './gotrue-made-database.js';

const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'anon',
  authenticatedRole: 'authenticated',
};

/** Everything of the database outside pg_catalog: each table's name, columns and rows, as text. */
async function snapshot(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows: tables } = await pool.query<{ name: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
     WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  const shot = new Map<string, string>();
  for (const { name } of tables) {
    const { rows } = await pool.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t ORDER BY 1`);
    shot.set(name, rows.map((row) => row.row).join('\n'));
  }
  return shot;
}

/**
 * A database GoTrue made (test/postgres/gotrue-made-database.ts: its schema as
 * its 70 migrations leave it, users with bcrypt hashes, identities, sessions
 * with v1 and v2 refresh tokens).
 */
describe('a database GoTrue made', () => {
  let serverUrl: string;
  const databases: string[] = [];

  async function database(): Promise<{ url: string; pool: pg.Pool }> {
    const url = await (await testPostgres()).createDatabase();
    databases.push(url);
    return { url, pool: new pg.Pool({ connectionString: url, max: 2 }) };
  }

  before(async () => {
    serverUrl = (await testPostgres()).url;
  });
  after(async () => {
    for (const url of databases) await dropDatabase(serverUrl, url);
  });

  it('with a GoTrue migration newer than restauth knows, is refused naming it, and nothing is written', async () => {
    const { url, pool } = await database();
    try {
      await createGoTrueMadeDatabase(url, [...GOTRUE_VERSIONS, '20270101000000']);
      const before = await snapshot(pool);
      await assert.rejects(migrate(pool, names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        assert.match(
          error.message,
          new RegExp(
            `GoTrue migration 20270101000000 is newer than any restauth knows \\(${NEWEST_KNOWN_GOTRUE_VERSION}\\)`,
            'u',
          ),
        );
        return true;
      });
      assert.deepEqual(await snapshot(pool), before);
      assert.ok(!before.has('restauth.accounts'));
    } finally {
      await pool.end();
    }
  });
});
