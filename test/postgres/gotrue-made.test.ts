import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  GOTRUE_VERSIONS,
  NEWEST_KNOWN_GOTRUE_VERSION,
  SchemaRefusedError,
} from '../../src/stores/postgres/gotrue-schema.js';
import { migrate } from '../../src/stores/postgres/migrate.js';
import { decodeJwt } from 'jose';
import { hashSecret } from '../../src/core/secrets.js';
import { isAuthError } from '../../src/core/errors.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { dropDatabase, realServerOnly, testPostgres, testStoreConfig } from '../support/postgres.js';
import {
  addGoTrueSession,
  createGoTrueMadeDatabase,
  type GoTrueMadeDatabase,
} from './gotrue-made-database.js';
import { SUPABASE_NAMES } from '../support/postgres-migrations.js';

const SECRET = 'gotrue-made-secret-0123456789abcdef-0123';

const names = SUPABASE_NAMES;

/** Each table's rows as text, of the schemas named (every schema but the system's by default). */
async function snapshot(pool: pg.Pool, schemas: string[] | null = null): Promise<Map<string, string>> {
  const { rows: tables } = await pool.query<{ name: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
     WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
       AND ($1::text[] IS NULL OR table_schema = ANY($1::text[])) ORDER BY 1`,
    [schemas],
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

  it('missing a GoTrue migration restauth knows, is refused naming it, and nothing is written', async () => {
    const { url, pool } = await database();
    try {
      const missing = '20250804100000';
      await createGoTrueMadeDatabase(
        url,
        GOTRUE_VERSIONS.filter((version) => version !== missing),
      );
      const before = await snapshot(pool);
      await assert.rejects(migrate(pool, names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        assert.match(error.message, new RegExp(`GoTrue migration ${missing} has not run on it`, 'u'));
        return true;
      });
      assert.deepEqual(await snapshot(pool), before);
    } finally {
      await pool.end();
    }
  });

  it('lacking a column restauth writes, is refused naming it once its migrations ran, and nothing is kept', async () => {
    const { url, pool } = await database();
    try {
      await createGoTrueMadeDatabase(url);
      await pool.query('ALTER TABLE auth.sessions DROP COLUMN scopes');
      const before = await snapshot(pool);
      await assert.rejects(migrate(pool, names), (error: Error) => {
        assert.ok(error instanceof SchemaRefusedError, error.stack);
        assert.match(
          error.message,
          /lacks what restauth writes: auth\.sessions\.scopes \(text\)\. restauth wrote nothing/u,
        );
        return true;
      });
      // restauth's migrations had run (the check compares with the tables they built): all rolled back.
      assert.deepEqual(await snapshot(pool), before);
      const { rows } = await pool.query<{ name: string }>(
        `SELECT nspname AS name FROM pg_namespace WHERE nspname IN ('auth', 'restauth', 'restauth_adopting_gotrue')`,
      );
      assert.deepEqual(rows, [{ name: 'auth' }]);
    } finally {
      await pool.end();
    }
  });
});

/**
 * The same database served: restauth migrates beside GoTrue's tables (gotrue-adopt.ts) and rewrites
 * none of their rows; GoTrue's users sign in with their bcrypt hashes, kept as they are, their
 * metadata and identities stay, and the refresh tokens GoTrue issued work once each and then are
 * replays. An application's table holding a foreign key and a policy on GoTrue's objects keeps them.
 */
describe('a database GoTrue made, served as it is', () => {
  let serverUrl: string;
  let url: string;
  let pool: pg.Pool;
  let made: GoTrueMadeDatabase;
  let gotrueRows: Map<string, string>;
  let t: TestApp;

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    made = await createGoTrueMadeDatabase(url);
    pool = new pg.Pool({ connectionString: url, max: 4 });
    // A Supabase application's table: a foreign key on GoTrue's users and a policy calling its auth.uid().
    await pool.query(`
      CREATE TABLE public.notes (id serial PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE, body text NOT NULL);
      ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
      CREATE POLICY own_notes ON public.notes USING ((SELECT auth.uid()) = user_id);
    `);
    await pool.query('INSERT INTO public.notes (user_id, body) VALUES ($1, $2), ($3, $4)', [
      made.users[0].id,
      'gail writes',
      made.users[1].id,
      'hugo writes',
    ]);
    gotrueRows = await snapshot(pool, ['auth']);
    t = await createTestApp({
      format: 'restauth',
      config: { store: testStoreConfig(url), passwords: { algorithm: 'argon2id' } },
      env: { RESTAUTH_JWT_SECRET: SECRET },
    });
  });
  after(async () => {
    await t?.close();
    await pool?.end();
    await dropDatabase(serverUrl, url);
  });

  const signIn = (email: string, password: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email, password },
    });
  const refresh = (token: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=refresh_token',
      payload: { refresh_token: token },
    });

  /**
   * The replay ended the session: its live restauth token is refused as GoTrue refuses the token of a
   * deleted session (400 refresh_token_not_found), and the store knows it ended for the reuse.
   */
  async function assertSessionEnded(liveToken: string): Promise<void> {
    const res = await refresh(liveToken);
    assert.equal(res.statusCode, 400, res.body);
    assert.equal((res.json() as { error_code: string }).error_code, 'refresh_token_not_found');
    const kept = await t.services.store.findRefreshToken(hashSecret(liveToken));
    assert.equal(kept?.session.revokedReason, 'refresh_token_reused');
  }

  it('migrates beside GoTrue without rewriting a row of auth, and gives each of its users an account', async () => {
    assert.deepEqual(await snapshot(pool, ['auth']), gotrueRows);
    const { rows: accounts } = await pool.query<{
      uid: string;
      username: string | null;
      token_count: number;
    }>('SELECT uid::text AS uid, username, token_count FROM restauth.accounts ORDER BY uid');
    assert.deepEqual(
      accounts,
      made.users
        .map((user) => ({ uid: user.id, username: null, token_count: 0 }))
        .sort((a, b) => (a.uid < b.uid ? -1 : 1)),
    );
    // GoTrue's helpers keep their identity (the application's policy holds it) and read the claims.
    const { rows: policy } = await pool.query<{ expr: string }>(
      `SELECT pg_get_expr(polqual, polrelid) AS expr FROM pg_policy WHERE polname = 'own_notes'`,
    );
    assert.match(policy[0]!.expr, /auth\.uid\(\)/u);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ sub: made.users[0].id }),
      ]);
      const { rows } = await client.query<{ uid: string }>('SELECT auth.uid()::text AS uid');
      assert.equal(rows[0]!.uid, made.users[0].id);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('its users sign in with their bcrypt hashes, which stay as GoTrue wrote them', async () => {
    const [gail] = made.users;
    const { rows: before } = await pool.query<{ hash: string }>(
      'SELECT encrypted_password AS hash FROM auth.users WHERE id = $1',
      [gail.id],
    );
    assert.match(before[0]!.hash, /^\$2a\$10\$/u);
    assert.equal((await signIn(gail.email, 'not her password')).statusCode, 400);
    const res = await signIn(gail.email, gail.password);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { access_token: string; user: { id: string } };
    assert.equal(body.user.id, gail.id);
    assert.equal(decodeJwt(body.access_token).sub, gail.id);
    const { rows: after } = await pool.query<{ hash: string }>(
      'SELECT encrypted_password AS hash FROM auth.users WHERE id = $1',
      [gail.id],
    );
    assert.equal(after[0]!.hash, before[0]!.hash, 'passwords.rehashOnSignIn is off by default');
  });

  it('GET /user shows their metadata; their identities stay', async () => {
    const [, hugo] = made.users;
    const signedIn = (await signIn(hugo.email, hugo.password)).json() as { access_token: string };
    const res = await t.app.inject({
      method: 'GET',
      url: '/auth/v1/user',
      headers: { authorization: `Bearer ${signedIn.access_token}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    const user = res.json() as {
      id: string;
      email: string;
      user_metadata: Record<string, unknown>;
      app_metadata: Record<string, unknown>;
    };
    assert.equal(user.id, hugo.id);
    assert.equal(user.email, hugo.email);
    assert.equal(user.user_metadata['full_name'], hugo.fullName);
    assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] });
    const { rows } = await pool.query<{ provider: string; provider_id: string; email: string }>(
      'SELECT provider, provider_id, email FROM auth.identities WHERE user_id = $1',
      [hugo.id],
    );
    assert.deepEqual(rows, [{ provider: 'email', provider_id: hugo.id, email: hugo.email }]);
  });

  it("a v1 refresh token works once, rotating into restauth's form; used again it ends the session", async () => {
    const first = await refresh(made.v1.token);
    assert.equal(first.statusCode, 200, first.body);
    const body = first.json() as { access_token: string; refresh_token: string };
    assert.equal(decodeJwt(body.access_token)['session_id'], made.v1.sessionId);
    assert.notEqual(body.refresh_token, made.v1.token);
    const { rows } = await pool.query<{ revoked: boolean }>(
      'SELECT revoked FROM auth.refresh_tokens WHERE token = $1',
      [made.v1.token],
    );
    assert.deepEqual(rows, [{ revoked: true }]);
    // Presented again inside the grace period (a second tab): the successor the first got.
    const again = await refresh(made.v1.token);
    assert.equal(again.statusCode, 200, again.body);
    assert.equal((again.json() as { refresh_token: string }).refresh_token, body.refresh_token);
    // restauth's successor works as any of its tokens.
    const next = await refresh(body.refresh_token);
    assert.equal(next.statusCode, 200, next.body);
    const latest = (next.json() as { refresh_token: string }).refresh_token;

    t.advance((t.config.sessions.reuseGrace + 1) * 1000);
    const replay = await refresh(made.v1.token);
    assert.equal(replay.statusCode, 400, replay.body);
    assert.equal((replay.json() as { error_code: string }).error_code, 'refresh_token_already_used');
    await assertSessionEnded(latest);
  });

  it('a v1 token GoTrue itself had already rotated is a replay', async () => {
    const replay = await refresh(made.v1.rotatedToken);
    assert.equal(replay.statusCode, 400, replay.body);
  });

  it("a v2 refresh token works once, rotating into restauth's form; used again it ends the session", async () => {
    // The token of the counter before the session's is one GoTrue already replaced: refused, session kept.
    const forged = made.v2.token.slice(0, -2) + (made.v2.token.endsWith('AA') ? 'AB' : 'AA');
    assert.equal((await refresh(forged)).statusCode, 400);

    const first = await refresh(made.v2.token);
    assert.equal(first.statusCode, 200, first.body);
    const body = first.json() as { access_token: string; refresh_token: string };
    assert.equal(decodeJwt(body.access_token)['session_id'], made.v2.sessionId);
    const { rows } = await pool.query<{ key: string | null; counter: string | null }>(
      'SELECT refresh_token_hmac_key AS key, refresh_token_counter::text AS counter FROM auth.sessions WHERE id = $1',
      [made.v2.sessionId],
    );
    assert.equal(rows[0]!.counter, null);
    assert.notEqual(rows[0]!.key, null);

    t.advance((t.config.sessions.reuseGrace + 1) * 1000);
    const replay = await refresh(made.v2.token);
    assert.equal(replay.statusCode, 400, replay.body);
    assert.equal((replay.json() as { error_code: string }).error_code, 'refresh_token_already_used');
    await assertSessionEnded(body.refresh_token);
  });

  for (const form of ['v1', 'v2'] as const) {
    it(
      `a ${form} token refreshed twice at once is redeemed once: both get the one successor`,
      // On PGlite one transaction runs at a time: the race would be a serial schedule.
      { skip: realServerOnly() ?? false },
      async () => {
        const client = await pool.connect();
        const fresh = await addGoTrueSession(client, made.users[0].id, form).finally(() => client.release());
        const answers = await Promise.all([refresh(fresh.token), refresh(fresh.token), refresh(fresh.token)]);
        for (const answer of answers) assert.equal(answer.statusCode, 200, answer.body);
        const successors = new Set(
          answers.map((answer) => (answer.json() as { refresh_token: string }).refresh_token),
        );
        assert.equal(successors.size, 1);
        const { rows } = await pool.query<{ tokens: number }>(
          `SELECT count(*)::int AS tokens FROM auth.refresh_tokens WHERE session_id = $1 AND length(token) = 43`,
          [fresh.sessionId],
        );
        assert.deepEqual(rows, [{ tokens: 1 }], "one restauth token: the session's successor");
      },
    );
  }

  /** `sql` written as pg_restore or logical replication's apply writes: no trigger fires (migration 56's). */
  async function asReplica(client: pg.PoolClient, sql: string, values: unknown[]): Promise<void> {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query(sql, values);
    await client.query('COMMIT');
  }

  /** Whether the GoTrue session is still GoTrue's: no restauth secret, its v1 token live or its v2 counter kept. */
  async function unspent(sessionId: string): Promise<boolean> {
    const { rows } = await pool.query<{ unspent: boolean }>(
      `SELECT NOT EXISTS (SELECT FROM restauth.session_secrets k WHERE k.session_id = s.id)
         AND (s.refresh_token_counter IS NOT NULL
           OR EXISTS (SELECT FROM auth.refresh_tokens r WHERE r.session_id = s.id AND r.revoked IS NOT TRUE))
         AS unspent FROM auth.sessions s WHERE s.id = $1`,
      [sessionId],
    );
    return rows[0]?.unspent === true;
  }

  for (const form of ['v1', 'v2'] as const) {
    it(`a ${form} GoTrue token of a banned user is refused unspent, and redeemed once the ban is lifted`, async () => {
      const gail = made.users[0];
      const client = await pool.connect();
      const fresh = await addGoTrueSession(client, gail.id, form).finally(() => client.release());
      await t.services.store.updateUser(gail.id, { bannedUntil: new Date(Date.now() + 3600_000) });
      try {
        const refused = await refresh(fresh.token);
        assert.equal(refused.statusCode, 400, refused.body);
        assert.equal((refused.json() as { error_code: string }).error_code, 'user_banned');
        assert.ok(await unspent(fresh.sessionId), 'the refusal left the session as GoTrue made it');
        // The redeeming write judges the ban itself (one written after the lookup): nothing redeemed.
        await assert.rejects(
          t.services.store.redeemImportedRefreshToken!(
            fresh.token,
            'a secret',
            hashSecret('next'),
            new Date(),
          ),
          (error) => isAuthError(error) && error.code === 'user_banned',
        );
        assert.ok(await unspent(fresh.sessionId), 'the redeeming write left the session as GoTrue made it');
      } finally {
        await t.services.store.updateUser(gail.id, { bannedUntil: null });
      }
      // Past the reuse grace: a token the refusal had spent would now be a replay.
      t.advance((t.config.sessions.reuseGrace + 1) * 1000);
      const redeemed = await refresh(fresh.token);
      assert.equal(redeemed.statusCode, 200, redeemed.body);
    });
  }

  it('a GoTrue token of a user moved to another instance by a replica-role write is refused unspent', async () => {
    const gail = made.users[0];
    const client = await pool.connect();
    try {
      const fresh = await addGoTrueSession(client, gail.id, 'v2');
      const v1 = await addGoTrueSession(client, gail.id, 'v1');
      await asReplica(client, 'UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [
        gail.id,
      ]);
      try {
        const refused = await refresh(fresh.token);
        assert.equal(refused.statusCode, 400, refused.body);
        assert.ok(await unspent(fresh.sessionId), 'the refusal left the session as GoTrue made it');
        // The redeeming write is scoped itself, not only the lookup before it (a move in between).
        const redeem = t.services.store.redeemImportedRefreshToken!.bind(t.services.store);
        for (const token of [fresh.token, v1.token]) {
          assert.equal(await redeem(token, 'a secret', hashSecret(`${token}-next`), new Date()), false);
        }
        assert.ok(await unspent(fresh.sessionId), 'the redeeming write left the v2 session as it was');
        assert.ok(await unspent(v1.sessionId), 'the redeeming write left the v1 session as it was');
      } finally {
        await asReplica(
          client,
          "UPDATE auth.users SET instance_id = '00000000-0000-0000-0000-000000000000' WHERE id = $1",
          [gail.id],
        );
      }
    } finally {
      client.release();
    }
  });

  it('a GoTrue token of a user soft-deleted by a replica-role write (no trigger fired) refreshes nothing', async () => {
    const hugo = made.users[1];
    const client = await pool.connect();
    try {
      const fresh = await addGoTrueSession(client, hugo.id, 'v1');
      await asReplica(client, 'UPDATE auth.users SET deleted_at = now() WHERE id = $1', [hugo.id]);
      const refused = await refresh(fresh.token);
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal((refused.json() as { error_code: string }).error_code, 'refresh_token_not_found');
      // Refused before it was redeemed: the session was not converted, the token not spent.
      assert.ok(await unspent(fresh.sessionId), 'the refusal left the session as GoTrue made it');
    } finally {
      client.release();
    }
  });
});
