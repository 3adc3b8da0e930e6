import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { schemaNames } from '../../src/stores/postgres/index.js';
import { runAsOwner } from '../support/postgrest.js';
import { testRoles } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

const PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];

/**
 * restauth with `store.schema: "public"` (a postgrest-auth.json may say so) in a database whose public
 * schema grants every new table to PostgREST's roles, as Supabase's does. Migrations 1-13 made
 * restauth's tables in the configured schema and later ones moved them to `public_restauth`, grants
 * and all: the anonymous role read the mail outbox (sign-in and recovery links) and rewrote rate
 * limits, user roles and token counts, in a schema it has USAGE on.
 */
describe("restauth's own tables under a public schema's default privileges", () => {
  const db = useTestDatabase({ migrateThrough: 0 });

  before(async () => {
    await runAsOwner(
      db.url,
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_anon') THEN CREATE ROLE web_anon NOLOGIN; END IF;
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'normal_user') THEN CREATE ROLE normal_user NOLOGIN; END IF;
       EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
       END $$;
       ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO PUBLIC, web_anon, normal_user;
       ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO PUBLIC, web_anon, normal_user;
       CREATE TABLE public.notes (id serial PRIMARY KEY, body text);`,
    );
    await migrate(db.pool, schemaNames({ ...db.config, schema: 'public' }, testRoles));
  });

  it('gives PUBLIC and the API roles nothing on them but the user-name column grant', async () => {
    const { rows } = await db.pool.query<{ role: string; relation: string; privilege: string }>(
      `SELECT r.role, c.relname AS relation, p.privilege
         FROM pg_class c
         CROSS JOIN unnest(ARRAY['public', 'web_anon', 'normal_user']) AS r(role)
         CROSS JOIN unnest($1::text[]) AS p(privilege)
        WHERE c.relnamespace = 'public_restauth'::regnamespace AND c.relkind IN ('r', 'S', 'v')
          AND CASE c.relkind WHEN 'S' THEN p.privilege IN ('SELECT', 'UPDATE')
                AND has_sequence_privilege(r.role, c.oid, p.privilege)
              ELSE has_table_privilege(r.role, c.oid, p.privilege) END
        ORDER BY 1, 2, 3`,
      [PRIVILEGES],
    );
    assert.deepEqual(rows, []);
    const columns = await db.pool.query(
      `SELECT grantee, table_name, column_name, privilege_type FROM information_schema.column_privileges
        WHERE table_schema = 'public_restauth' AND grantee IN ('PUBLIC', 'web_anon', 'normal_user')
        ORDER BY 1, 2, 3`,
    );
    assert.deepEqual(columns.rows, [
      { grantee: 'web_anon', table_name: 'accounts', column_name: 'token_count', privilege_type: 'SELECT' },
      {
        grantee: 'web_anon',
        table_name: 'accounts',
        column_name: 'username_lowercase',
        privilege_type: 'SELECT',
      },
    ]);
  });

  /** Runs `sql` as the anonymous role, in a transaction rolled back: refused for want of a privilege? */
  async function refusedToAnonymous(sql: string): Promise<void> {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE web_anon');
      await assert.rejects(client.query(sql), { code: '42501' }, sql);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('the anonymous role cannot read the mail outbox', async () => {
    await refusedToAnonymous('SELECT message FROM public_restauth.mail_outbox');
  });

  it("the anonymous role cannot put a trigger on GoTrue's users, truncate its tables or reset a sequence", async () => {
    // Before PostgreSQL 15 every role may create in public: the attacker's function, the trigger's body.
    await runAsOwner(
      db.url,
      `CREATE SCHEMA attacker AUTHORIZATION web_anon;
       CREATE FUNCTION attacker.runs_as_restauth() RETURNS trigger LANGUAGE plpgsql AS $f$
       BEGIN RETURN NEW; END $f$;
       ALTER FUNCTION attacker.runs_as_restauth() OWNER TO web_anon;`,
    );
    await refusedToAnonymous(
      'CREATE TRIGGER loot BEFORE INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION attacker.runs_as_restauth()',
    );
    await refusedToAnonymous('TRUNCATE public.refresh_tokens');
    await refusedToAnonymous("SELECT setval('public.refresh_tokens_id_seq', 1)");
    const { rows } = await db.pool.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND (has_table_privilege('web_anon', c.oid, 'TRIGGER') OR has_table_privilege('public', c.oid, 'TRUNCATE'))`,
    );
    assert.deepEqual(
      rows,
      [{ relname: 'notes' }],
      "no table restauth made in public; the application's own keeps what its schema gave it",
    );
  });
});

/**
 * Migration 57 revoked once: default privileges set after it (here for the role restauth migrates as,
 * in every schema) grant the API roles every table, sequence and function a later migration creates.
 * Each migration after 57 closes restauth's schema in its own transaction. The table made there before
 * the next migration stands for a later migration's (it is closed as one would be).
 */
describe('objects of migrations after 57 under default privileges set after it', () => {
  const db = useTestDatabase({ migrateThrough: 57 });
  const { anonymous, authenticated } = testRoles;

  before(async () => {
    await db.pool.query(
      `ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO ${anonymous}, ${authenticated};
       ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO ${anonymous}, ${authenticated};
       ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO ${anonymous}, ${authenticated};
       CREATE TABLE restauth.made_later (id serial);`,
    );
    await migrate(db.pool, db.names);
  });

  it("gives the API roles nothing on restauth's tables, sequences and SECURITY DEFINER functions", async () => {
    const { rows } = await db.pool.query<{ role: string; object: string; privilege: string }>(
      `SELECT r.role, o.object, p.privilege
         FROM unnest($1::text[]) AS r(role)
         CROSS JOIN unnest(ARRAY['restauth.made_later']) AS o(object)
         CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) AS p(privilege)
        WHERE has_table_privilege(r.role, o.object, p.privilege)
       UNION ALL
       SELECT r.role, 'restauth.made_later_id_seq', 'UPDATE' FROM unnest($1::text[]) AS r(role)
        WHERE has_sequence_privilege(r.role, 'restauth.made_later_id_seq', 'UPDATE')
       UNION ALL
       SELECT r.role, f.oid::regprocedure::text, 'EXECUTE' FROM unnest($1::text[]) AS r(role)
         CROSS JOIN pg_proc f
        WHERE f.pronamespace = 'restauth'::regnamespace AND f.prosecdef
          AND has_function_privilege(r.role, f.oid, 'EXECUTE')
        ORDER BY 1, 2, 3`,
      [[anonymous, authenticated]],
    );
    assert.deepEqual(rows, []);
  });
});

/**
 * The same under `store.schema: "public"`: GoTrue's tables restauth made live in public beside the
 * application's. Migration 57 closed them once; a later migration creating one there, or a grant of
 * everything in public since (Supabase's set-up grants ALL ON ALL TABLES IN SCHEMA public to its API
 * roles), gave the API roles TRUNCATE and TRIGGER on them again. Each migration after 57 closes them by
 * name. A table made again before the next migration stands for a later migration's.
 */
describe("GoTrue's tables in public under grants made after migration 57", () => {
  const db = useTestDatabase({ migrateThrough: 0 });
  const names = () => schemaNames({ ...db.config, schema: 'public' }, testRoles);

  before(async () => {
    await migrate(db.pool, names(), { through: 57 });
    await runAsOwner(
      db.url,
      `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO PUBLIC, web_anon, normal_user;
       DROP TABLE public.instances;
       CREATE TABLE public.instances (id uuid NOT NULL PRIMARY KEY, uuid uuid, raw_base_config text,
         created_at timestamptz, updated_at timestamptz);
       CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
       GRANT ALL ON ALL TABLES IN SCHEMA public TO web_anon, normal_user;
       GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO web_anon, normal_user;`,
    );
    await migrate(db.pool, names());
  });

  it("takes TRUNCATE, TRIGGER and REFERENCES on them from the API roles, and leaves the application's tables", async () => {
    const { rows } = await db.pool.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c CROSS JOIN unnest(ARRAY['public', 'web_anon', 'normal_user']) AS r(role)
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND (has_table_privilege(r.role, c.oid, 'TRUNCATE') OR has_table_privilege(r.role, c.oid, 'TRIGGER')
            OR has_table_privilege(r.role, c.oid, 'REFERENCES'))
        GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(rows, [{ relname: 'notes' }]);
    const sequence = await db.pool.query<{ granted: boolean }>(
      `SELECT has_sequence_privilege('web_anon', 'public.refresh_tokens_id_seq', 'UPDATE') AS granted`,
    );
    assert.equal(sequence.rows[0]!.granted, false, 'setval on the refresh tokens is refused');
  });
});
