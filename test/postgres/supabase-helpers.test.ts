import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { migrations, quotedNames, type SchemaNames } from '../../src/stores/postgres/migrations.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { authenticatorRoleSql, postgrestRequest, type PostgrestOptions } from '../support/postgrest.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';

const SECRET = 'supabase-helpers-secret-0123456789abcdef';
const names: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'anon',
  authenticatedRole: 'authenticated',
};

/** Runs `sql` in a transaction as `role` with the claims set the way PostgREST of `style` sets them. */
async function asClaims<T extends pg.QueryResultRow>(
  pool: pg.Pool,
  claims: Record<string, string>,
  sql: string,
  options: { style?: 'json' | 'per-claim'; role?: string } = {},
): Promise<T[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (options.role) await client.query(`SELECT set_config('role', $1, true)`, [options.role]);
    if ((options.style ?? 'json') === 'json') {
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    } else {
      for (const [claim, value] of Object.entries(claims))
        await client.query('SELECT set_config($1, $2, true)', [`request.jwt.claim.${claim}`, value]);
    }
    const { rows } = await client.query<T>(sql);
    await client.query('COMMIT');
    return rows;
  } finally {
    client.release();
  }
}

/** Migrations 1-12 applied as the restauth before migration 13 did, recorded as migrate() records them. */
async function migrateToVersion12(pool: pg.Pool): Promise<void> {
  const q = quotedNames(names);
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${q.schema}`);
  await pool.query(
    `CREATE TABLE ${q.schema}.restauth_migrations (
       version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const client = await pool.connect();
  try {
    for (const migration of migrations(names).filter((m) => m.version <= 12)) {
      if (migration.sql !== '') await client.query(migration.sql);
      await migration.run?.(client);
      await client.query('INSERT INTO auth.restauth_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
    }
  } finally {
    client.release();
  }
}

/**
 * Supabase's SQL helpers (migration 13): auth.uid() returns uuid, so the
 * policies of Supabase's guides, `(select auth.uid()) = user_id` on a uuid
 * column, work with restauth's tokens (before: "operator does not exist:
 * text = uuid"); auth.email() and auth.role() read the claims as Supabase's
 * do, from either claim setting. SQL written against the text auth.uid() of
 * migration 2 keeps working after the upgrade.
 */
describe("Supabase's SQL helpers on PostgreSQL", () => {
  let serverUrl: string;
  const databases: string[] = [];

  before(async () => {
    serverUrl = (await testPostgres()).url;
  });
  after(async () => {
    for (const url of databases) await dropDatabase(serverUrl, url);
  });

  async function database(): Promise<string> {
    const url = await (await testPostgres()).createDatabase();
    databases.push(url);
    return url;
  }

  it('auth.uid() is the sub as a uuid, auth.email() and auth.role() its claims, from either setting', async () => {
    const pool = new pg.Pool({ connectionString: await database(), max: 2 });
    try {
      await migrate(pool, names);
      const sub = randomUUID();
      const claims = { sub, email: 'ada@example.com', role: 'authenticated' };
      const sql = `SELECT auth.uid() AS uid, pg_typeof(auth.uid())::text AS type, auth.email() AS email,
                          auth.role() AS role`;
      for (const style of ['json', 'per-claim'] as const) {
        assert.deepEqual(await asClaims(pool, claims, sql, { style }), [
          { uid: sub, type: 'uuid', email: 'ada@example.com', role: 'authenticated' },
        ]);
      }
      // No claims, or a sub that is not a uuid: NULL, never an error inside a policy.
      assert.deepEqual(await asClaims(pool, {}, 'SELECT auth.uid() AS uid, auth.email() AS email'), [
        { uid: null, email: null },
      ]);
      assert.deepEqual(await asClaims(pool, { sub: '42' }, 'SELECT auth.uid() AS uid'), [{ uid: null }]);
    } finally {
      await pool.end();
    }
  });

  describe("a Supabase-style policy with restauth's tokens", () => {
    let url: string;
    let t: TestApp;
    let pool: pg.Pool;
    const authenticator = `authenticator_${randomBytes(3).toString('hex')}`;
    const rest: PostgrestOptions = { secret: SECRET, anonRole: 'anon', preRequest: 'auth.check_token_count' };

    before(async () => {
      url = await database();
      t = await createTestApp({
        format: 'restauth',
        config: {
          store: testStoreConfig(url),
          roles: { anonymous: 'anon', authenticated: 'authenticated' },
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
        },
        env: { RESTAUTH_JWT_SECRET: SECRET },
      });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        // As Supabase's guides write it: a uuid owner column, the policy comparing it with auth.uid().
        await admin.query(`
          ${authenticatorRoleSql(authenticator, ['anon', 'authenticated'])}
          CREATE TABLE public.todos (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            user_id uuid NOT NULL DEFAULT auth.uid(),
            task text NOT NULL);
          ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
          CREATE POLICY "Individuals can view their own todos." ON public.todos FOR SELECT
            USING ((SELECT auth.uid()) = user_id);
          CREATE POLICY "Individuals can create todos." ON public.todos FOR INSERT
            WITH CHECK ((SELECT auth.uid()) = user_id);
          GRANT SELECT, INSERT ON public.todos TO authenticated;
          GRANT SELECT ON public.todos TO anon;
        `);
      } finally {
        await admin.end();
      }
      const target = new URL(url);
      target.username = authenticator;
      pool = new pg.Pool({ connectionString: target.toString(), max: 4 });
    });
    after(async () => {
      await pool?.end();
      await t?.close();
    });

    async function signUp(username: string): Promise<{ token: string; id: string }> {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username, password: 'a passphrase' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const user = await t.services.store.findUserByUsername(username);
      return { token: (res.json() as { access_token: string }).access_token, id: user!.id };
    }

    it('each user inserts under its own id and reads only its own rows', async () => {
      const ada = await signUp('ada');
      const bob = await signUp('bob');
      await postgrestRequest(pool, rest, ada.token, `INSERT INTO public.todos (task) VALUES ('ada''s task')`);
      await postgrestRequest(pool, rest, bob.token, `INSERT INTO public.todos (task) VALUES ('bob''s task')`);
      assert.deepEqual(
        await postgrestRequest(
          pool,
          rest,
          ada.token,
          'SELECT user_id::text AS user_id, task FROM public.todos',
        ),
        [{ user_id: ada.id, task: "ada's task" }],
      );
      await assert.rejects(
        postgrestRequest(pool, rest, ada.token, 'INSERT INTO public.todos (user_id, task) VALUES ($1, $2)', [
          bob.id,
          'planted',
        ]),
        /row-level security/u,
      );
      assert.deepEqual(
        await postgrestRequest(pool, rest, null, 'SELECT count(*)::int AS n FROM public.todos'),
        [{ n: 0 }],
      );
    });
  });

  it('upgrading keeps SQL written against the text auth.uid() working, and gives new SQL the uuid one', async () => {
    const pool = new pg.Pool({ connectionString: await database(), max: 2 });
    try {
      await migrateToVersion12(pool);
      // What docs/postgrest.md said to write before: a text owner compared with auth.uid().
      await pool.query(`
        CREATE TABLE public.notes (id serial PRIMARY KEY, owner text NOT NULL DEFAULT auth.uid(), body text);
        ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
        CREATE POLICY own_notes ON public.notes USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
        GRANT SELECT, INSERT ON public.notes TO authenticated;
        GRANT USAGE ON SEQUENCE public.notes_id_seq TO authenticated;
      `);
      const owner = randomUUID();
      const asOwner = { sub: owner, role: 'authenticated' };
      await asClaims(pool, asOwner, `INSERT INTO public.notes (body) VALUES ('before')`, {
        role: 'authenticated',
      });

      assert.ok((await migrate(pool, names)).includes(13));

      await asClaims(pool, asOwner, `INSERT INTO public.notes (body) VALUES ('after')`, {
        role: 'authenticated',
      });
      assert.deepEqual(
        await asClaims(pool, asOwner, 'SELECT owner, body FROM public.notes ORDER BY id', {
          role: 'authenticated',
        }),
        [
          { owner, body: 'before' },
          { owner, body: 'after' },
        ],
      );
      const other = { sub: randomUUID(), role: 'authenticated' };
      assert.deepEqual(
        await asClaims(pool, other, 'SELECT body FROM public.notes', { role: 'authenticated' }),
        [],
      );
      const { rows } = await pool.query<{ policy: string }>(
        `SELECT pg_get_expr(polqual, polrelid) AS policy FROM pg_policy WHERE polname = 'own_notes'`,
      );
      assert.match(
        rows[0]!.policy,
        /auth\.uid_text\(\)/u,
        'the policy keeps the function it was written with',
      );
      assert.deepEqual(await asClaims(pool, asOwner, 'SELECT pg_typeof(auth.uid())::text AS type'), [
        { type: 'uuid' },
      ]);
    } finally {
      await pool.end();
    }
  });
});
