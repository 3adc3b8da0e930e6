import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { GOTRUE_VERSIONS } from '../../src/stores/postgres/gotrue-schema.js';
import { migrate, migrationStatus } from '../../src/stores/postgres/migrate.js';
import { migrations } from '../../src/stores/postgres/migrations.js';
import { dropDatabase, testPostgres } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';
import { createGoTrueMadeDatabase } from './gotrue-made-database.js';
import { SUPABASE_NAMES } from '../support/postgres-migrations.js';

const names = SUPABASE_NAMES;

/** A column as information_schema shows it: name, type (an enum as schema.name), NOT NULL, default. */
type Column = [name: string, type: string, notNull: boolean, defaultValue: string | null];

interface TableFacts {
  /** In GoTrue's order: its first migration's columns, then each later one's. */
  columns: Column[];
  /** Primary keys, unique constraints and foreign keys, by name, as pg_get_constraintdef shows them. */
  constraints: Record<string, string>;
  /** Every index (constraints' too), by name, as pg_indexes shows it. */
  indexes: Record<string, string>;
  comment: string;
}

const TZ = 'timestamp with time zone';

/**
 * The facts, read from supabase/auth's migrations (newest 20260625000000; the
 * files each table's doc comment in gotrue-unfilled-tables.ts names), written
 * here independently of restauth's SQL so that a typo there fails here.
 */
const FACTS: Record<string, TableFacts> = {
  instances: {
    columns: [
      ['id', 'uuid', true, null],
      ['uuid', 'uuid', false, null],
      ['raw_base_config', 'text', false, null],
      ['created_at', TZ, false, null],
      ['updated_at', TZ, false, null],
    ],
    constraints: { instances_pkey: 'PRIMARY KEY (id)' },
    indexes: { instances_pkey: 'CREATE UNIQUE INDEX instances_pkey ON auth.instances USING btree (id)' },
    comment: 'Auth: Manages users across multiple sites.',
  },
  audit_log_entries: {
    columns: [
      ['instance_id', 'uuid', false, null],
      ['id', 'uuid', true, null],
      ['payload', 'json', false, null],
      ['created_at', TZ, false, null],
      ['ip_address', 'character varying(64)', true, "''::character varying"],
    ],
    constraints: { audit_log_entries_pkey: 'PRIMARY KEY (id)' },
    indexes: {
      audit_log_entries_pkey:
        'CREATE UNIQUE INDEX audit_log_entries_pkey ON auth.audit_log_entries USING btree (id)',
      audit_logs_instance_id_idx:
        'CREATE INDEX audit_logs_instance_id_idx ON auth.audit_log_entries USING btree (instance_id)',
    },
    comment: 'Auth: Audit trail for user actions.',
  },
  schema_migrations: {
    columns: [['version', 'character varying(255)', true, null]],
    constraints: { schema_migrations_pkey: 'PRIMARY KEY (version)' },
    indexes: {
      schema_migrations_pkey:
        'CREATE UNIQUE INDEX schema_migrations_pkey ON auth.schema_migrations USING btree (version)',
    },
    comment: 'Auth: Manages updates to the auth system.',
  },
  mfa_factors: {
    columns: [
      ['id', 'uuid', true, null],
      ['user_id', 'uuid', true, null],
      ['friendly_name', 'text', false, null],
      ['factor_type', 'auth.factor_type', true, null],
      ['status', 'auth.factor_status', true, null],
      ['created_at', TZ, true, null],
      ['updated_at', TZ, true, null],
      ['secret', 'text', false, null],
      ['phone', 'text', false, null],
      ['last_challenged_at', TZ, false, null],
      ['web_authn_credential', 'jsonb', false, null],
      ['web_authn_aaguid', 'uuid', false, null],
      ['last_webauthn_challenge_data', 'jsonb', false, null],
    ],
    constraints: {
      mfa_factors_pkey: 'PRIMARY KEY (id)',
      mfa_factors_user_id_fkey: 'FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE',
      mfa_factors_last_challenged_at_key: 'UNIQUE (last_challenged_at)',
    },
    indexes: {
      mfa_factors_pkey: 'CREATE UNIQUE INDEX mfa_factors_pkey ON auth.mfa_factors USING btree (id)',
      mfa_factors_last_challenged_at_key:
        'CREATE UNIQUE INDEX mfa_factors_last_challenged_at_key ON auth.mfa_factors USING btree (last_challenged_at)',
      mfa_factors_user_friendly_name_unique:
        "CREATE UNIQUE INDEX mfa_factors_user_friendly_name_unique ON auth.mfa_factors USING btree (friendly_name, user_id) WHERE (TRIM(BOTH FROM friendly_name) <> ''::text)",
      factor_id_created_at_idx:
        'CREATE INDEX factor_id_created_at_idx ON auth.mfa_factors USING btree (user_id, created_at)',
      mfa_factors_user_id_idx:
        'CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors USING btree (user_id)',
      unique_phone_factor_per_user:
        'CREATE UNIQUE INDEX unique_phone_factor_per_user ON auth.mfa_factors USING btree (user_id, phone)',
    },
    comment: 'auth: stores metadata about factors',
  },
  mfa_challenges: {
    columns: [
      ['id', 'uuid', true, null],
      ['factor_id', 'uuid', true, null],
      ['created_at', TZ, true, null],
      ['verified_at', TZ, false, null],
      ['ip_address', 'inet', true, null],
      ['otp_code', 'text', false, null],
      ['web_authn_session_data', 'jsonb', false, null],
    ],
    constraints: {
      mfa_challenges_pkey: 'PRIMARY KEY (id)',
      mfa_challenges_auth_factor_id_fkey:
        'FOREIGN KEY (factor_id) REFERENCES auth.mfa_factors(id) ON DELETE CASCADE',
    },
    indexes: {
      mfa_challenges_pkey: 'CREATE UNIQUE INDEX mfa_challenges_pkey ON auth.mfa_challenges USING btree (id)',
      mfa_challenge_created_at_idx:
        'CREATE INDEX mfa_challenge_created_at_idx ON auth.mfa_challenges USING btree (created_at DESC)',
    },
    comment: 'auth: stores metadata about challenge requests made',
  },
  mfa_amr_claims: {
    columns: [
      ['session_id', 'uuid', true, null],
      ['created_at', TZ, true, null],
      ['updated_at', TZ, true, null],
      ['authentication_method', 'text', true, null],
      ['id', 'uuid', true, null],
    ],
    constraints: {
      mfa_amr_claims_session_id_authentication_method_pkey: 'UNIQUE (session_id, authentication_method)',
      mfa_amr_claims_session_id_fkey:
        'FOREIGN KEY (session_id) REFERENCES auth.sessions(id) ON DELETE CASCADE',
      amr_id_pk: 'PRIMARY KEY (id)',
    },
    indexes: {
      mfa_amr_claims_session_id_authentication_method_pkey:
        'CREATE UNIQUE INDEX mfa_amr_claims_session_id_authentication_method_pkey ON auth.mfa_amr_claims USING btree (session_id, authentication_method)',
      amr_id_pk: 'CREATE UNIQUE INDEX amr_id_pk ON auth.mfa_amr_claims USING btree (id)',
    },
    comment: 'auth: stores authenticator method reference claims for multi factor authentication',
  },
};

const ENUMS: Record<string, string[]> = {
  factor_type: ['totp', 'webauthn', 'phone'],
  factor_status: ['unverified', 'verified'],
  aal_level: ['aal1', 'aal2', 'aal3'],
};

/** What the database says of one table of `auth`, in the shape of the facts. */
async function describeTable(pool: pg.Pool, table: string): Promise<TableFacts & { rls: boolean }> {
  const columns = await pool.query<{
    name: string;
    data_type: string;
    udt_schema: string;
    udt_name: string;
    length: number | null;
    nullable: 'YES' | 'NO';
    default_value: string | null;
  }>(
    `SELECT column_name AS name, data_type, udt_schema, udt_name, character_maximum_length AS length,
       is_nullable AS nullable, column_default AS default_value
     FROM information_schema.columns WHERE table_schema = 'auth' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  const constraints = await pool.query<{ name: string; definition: string }>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
     WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'f', 'c')`,
    [`auth.${table}`],
  );
  const indexes = await pool.query<{ name: string; definition: string }>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = 'auth' AND tablename = $1`,
    [table],
  );
  const about = await pool.query<{ comment: string; rls: boolean }>(
    `SELECT obj_description(c.oid, 'pg_class') AS comment, c.relrowsecurity AS rls FROM pg_class c
     WHERE c.oid = $1::regclass`,
    [`auth.${table}`],
  );
  return {
    columns: columns.rows.map((c) => [
      c.name,
      c.data_type === 'USER-DEFINED'
        ? `${c.udt_schema}.${c.udt_name}`
        : c.length === null
          ? c.data_type
          : `${c.data_type}(${c.length})`,
      c.nullable === 'NO',
      c.default_value,
    ]),
    constraints: Object.fromEntries(constraints.rows.map((c) => [c.name, c.definition])),
    indexes: Object.fromEntries(indexes.rows.map((i) => [i.name, i.definition])),
    comment: about.rows[0]!.comment,
    rls: about.rows[0]!.rls,
  };
}

/**
 * GoTrue's tables restauth creates without filling them yet (migration 18),
 * compared table by table with GoTrue's facts, and the GoTrue versions
 * restauth records in `auth.schema_migrations` for what it reproduces.
 */
describe("GoTrue's MFA, audit, instances and schema_migrations tables", () => {
  const db = useTestDatabase({ max: 2, migrateThrough: 0 });
  let pool: pg.Pool;

  before(async () => {
    ({ pool } = db);
    await migrate(pool, names);
  });

  for (const [table, facts] of Object.entries(FACTS)) {
    it(`auth.${table} has GoTrue's columns, constraints, indexes and comment, and row-level security`, async () => {
      const actual = await describeTable(pool, table);
      assert.deepEqual(actual.columns, facts.columns);
      assert.deepEqual(actual.constraints, facts.constraints);
      assert.deepEqual(actual.indexes, facts.indexes);
      assert.equal(actual.comment, facts.comment);
      assert.equal(actual.rls, true, 'row-level security is off');
    });
  }

  it('has the same tables as the database GoTrue made of the fixture (written apart from the same facts)', async () => {
    const server = await testPostgres();
    const gotrueUrl = await server.createDatabase();
    const gotrue = new pg.Pool({ connectionString: gotrueUrl, max: 2 });
    try {
      await createGoTrueMadeDatabase(gotrueUrl);
      for (const table of Object.keys(FACTS)) {
        const [ours, theirs] = [await describeTable(pool, table), await describeTable(gotrue, table)];
        assert.deepEqual(ours.columns, theirs.columns, table);
        assert.deepEqual(ours.constraints, theirs.constraints, table);
        assert.deepEqual(ours.indexes, theirs.indexes, table);
        assert.equal(theirs.rls, true, table);
      }
    } finally {
      await gotrue.end();
      await dropDatabase(server.url, gotrueUrl);
    }
  });

  it("has GoTrue's enums with their labels in order", async () => {
    for (const [name, labels] of Object.entries(ENUMS)) {
      const { rows } = await pool.query<{ labels: string[] }>(
        `SELECT array_agg(enumlabel::text ORDER BY enumsortorder) AS labels FROM pg_enum WHERE enumtypid = $1::regtype`,
        [`auth.${name}`],
      );
      assert.deepEqual(rows[0]!.labels, labels, name);
    }
  });

  it("PostgREST's roles read none of them", async () => {
    for (const role of ['anon', 'authenticated']) {
      for (const table of Object.keys(FACTS)) {
        const { rows } = await pool.query<{ granted: boolean }>(
          `SELECT has_table_privilege($1, $2, 'SELECT, INSERT, UPDATE, DELETE') AS granted`,
          [role, `auth.${table}`],
        );
        assert.equal(rows[0]!.granted, false, `${role} may use auth.${table}`);
      }
    }
  });

  it("a user's factors and their challenges go with the user", async () => {
    const user = randomUUID();
    const factor = randomUUID();
    await pool.query(`INSERT INTO auth.users (id, aud, role) VALUES ($1, 'authenticated', 'authenticated')`, [
      user,
    ]);
    await pool.query(
      `INSERT INTO auth.mfa_factors (id, user_id, factor_type, status, created_at, updated_at)
       VALUES ($1, $2, 'totp', 'unverified', now(), now())`,
      [factor, user],
    );
    await pool.query(
      `INSERT INTO auth.mfa_challenges (id, factor_id, created_at, ip_address) VALUES ($1, $2, now(), '192.0.2.1')`,
      [randomUUID(), factor],
    );
    await pool.query('DELETE FROM auth.users WHERE id = $1', [user]);
    const { rows } = await pool.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM auth.mfa_factors) + (SELECT count(*) FROM auth.mfa_challenges) AS n`,
    );
    assert.equal(Number(rows[0]!.n), 0);
  });

  it("records the GoTrue versions its migrations list, each one GoTrue has, and stays restauth's to migrate", async () => {
    const listed = migrations(names).flatMap((migration) => migration.gotrue ?? []);
    assert.ok(listed.length > 0);
    for (const version of listed)
      assert.ok(GOTRUE_VERSIONS.includes(version), `${version} is no GoTrue version`);
    assert.equal(new Set(listed).size, listed.length, 'a version is listed twice');
    const { rows } = await pool.query<{ version: string }>(
      'SELECT version FROM auth.schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      rows.map((row) => row.version),
      [...listed].sort(),
    );
    // The database now has GoTrue versions: restauth's bookkeeping keeps it from looking GoTrue-made.
    assert.deepEqual(await migrate(pool, names), []);
    const status = await migrationStatus(pool, names);
    assert.equal(status.gotrue.length, listed.length);
    assert.deepEqual(status.gotrueUnknown, []);
  });
});
