import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import { decodeJwt, SignJWT } from 'jose';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { postgrestRequest, type PostgrestOptions } from '../support/postgrest.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';

/**
 * A database exactly as postgrest-auth left it (its table, bcrypt cost-10
 * hashes, a role per user, token counts), upgraded in place by restauth
 * started with a postgrest-auth.json: nothing is lost, users log in with
 * their old passwords, and old tokens follow the token-count rule.
 */
const SECRET = 'the-postgrest-auth-secret-0123456789';
const suffix = randomBytes(3).toString('hex');
const oldUsers = [
  { username: `Alice${suffix}`, email: 'Alice@Example.com', password: 'alice1', tokenCount: 0 },
  { username: `Bob${suffix}`, email: null, password: 'bob2', tokenCount: 3 },
];

async function createPostgrestAuthDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    // postgrest-auth's start-up DDL, as its contract describes it.
    await admin.query(`
      CREATE SCHEMA IF NOT EXISTS auth;
      CREATE TABLE auth.users (
        id serial primary key, username varchar(20) unique not null,
        username_lowercase varchar(20) unique not null, email text unique,
        password text not null, token_count integer not null default 0);
      DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'web_anon') THEN CREATE ROLE web_anon NOLOGIN; END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'normal_user') THEN CREATE ROLE normal_user NOLOGIN; END IF;
      END $$;
      GRANT USAGE ON SCHEMA auth TO web_anon, normal_user;
      GRANT SELECT (username_lowercase, token_count) ON auth.users TO web_anon;
      CREATE FUNCTION auth.check_token_count() RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('request.jwt.claim.count', true)::int <>
           (SELECT token_count FROM auth.users WHERE username_lowercase = current_user) THEN
          RAISE invalid_password USING message = 'invalid token count';
        END IF;
      END $$;
    `);
    for (const user of oldUsers) {
      const hash = await bcrypt.hash(user.password, 10);
      await admin.query(
        'INSERT INTO auth.users (username, username_lowercase, email, password, token_count) VALUES ($1::text, lower($1::text), $2, $3, $4)',
        [user.username, user.email, hash, user.tokenCount],
      );
      await admin.query(
        `CREATE ROLE ${pg.escapeIdentifier(user.username.toLowerCase())} NOLOGIN IN ROLE normal_user, web_anon`,
      );
    }
    // The application's own table, naming its users by postgrest-auth's integer id.
    await admin.query(`
      CREATE TABLE public.scores (
        id serial PRIMARY KEY, user_id integer NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
        points integer NOT NULL);
      INSERT INTO public.scores (user_id, points) SELECT id, 10 FROM auth.users;
    `);
  } finally {
    await admin.end();
  }
}

/** A token as postgrest-auth issued it: payload + role + count + jti, no sub, no session. */
function postgrestAuthToken(role: string, count: number): Promise<string> {
  return new SignJWT({ iss: 'https://agameoftheories.com', role, count, jti: randomBytes(8).toString('hex') })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime('7d')
    .sign(new TextEncoder().encode(SECRET));
}

describe('upgrading a postgrest-auth database in place', () => {
  let serverUrl: string;
  let url: string;
  let t: TestApp;
  let superPool: pg.Pool;
  const rest: PostgrestOptions = {
    secret: SECRET,
    anonRole: 'web_anon',
    preRequest: 'auth.check_token_count',
    claimsStyle: 'legacy',
  };

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    await createPostgrestAuthDatabase(url);
    t = await createTestApp({
      format: 'postgrest-auth',
      config: {
        app_name: 'A Game of Theories',
        db: { connection_string: url, schema: 'auth', table: 'users' },
        payload: { exp: 604800, iss: 'https://agameoftheories.com' },
        roles: { anonymous: 'web_anon', user: 'normal_user' },
        secret: SECRET,
      },
      env: { RESTAUTH_JWT_SECRET: '' },
      overrides: {
        store: { type: 'postgres', preparedStatements: testStoreConfig(url).preparedStatements },
        // Configured here: by default restauth keeps imported hashes as they are.
        passwords: { rehashOnSignIn: true },
      },
    });
    superPool = new pg.Pool({ connectionString: url, max: 2 });
  });
  after(async () => {
    await superPool.end();
    await t.close();
    await dropDatabase(serverUrl, url);
  });

  it('keeps every user, hash, email, count and role', async () => {
    const { rows } = await superPool.query(
      `SELECT a.username, a.username_lowercase, u.email, a.token_count, u.role
       FROM restauth.accounts a JOIN auth.users u ON u.id = a.uid ORDER BY a.id`,
    );
    assert.deepEqual(
      rows,
      oldUsers.map((u) => ({
        username: u.username,
        username_lowercase: u.username.toLowerCase(),
        email: u.email?.toLowerCase() ?? null,
        token_count: u.tokenCount,
        role: u.username.toLowerCase(),
      })),
    );
    // Each user with an address got GoTrue's email identity (migration 15).
    const identities = await superPool.query(
      `SELECT i.provider, i.email FROM auth.identities i JOIN restauth.accounts a ON a.uid = i.user_id ORDER BY a.id`,
    );
    assert.deepEqual(identities.rows, [{ provider: 'email', email: 'alice@example.com' }]);
    // Every existing user got a uuid of its own (migration 6): its id in restauth's APIs and tokens.
    const ids = await superPool.query<{ uid: string }>(
      'SELECT uid::text AS uid FROM restauth.accounts ORDER BY id',
    );
    assert.equal(new Set(ids.rows.map((row) => row.uid)).size, oldUsers.length);
    for (const [i, user] of oldUsers.entries()) {
      assert.match(ids.rows[i]!.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal((await t.services.store.findUserByUsername(user.username))?.id, ids.rows[i]!.uid);
    }
  });

  it('its users log in with their old passwords; their tokens carry the real count and their role', async () => {
    for (const user of oldUsers) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/refresh_token',
        payload: { username: user.username, password: user.password },
      });
      assert.equal(res.statusCode, 200, res.body);
      const claims = decodeJwt(res.json().access_token);
      assert.equal(claims.count, user.tokenCount);
      assert.equal(claims.role, user.username.toLowerCase());
      assert.equal(claims.iss, 'https://agameoftheories.com');
      assert.equal(claims.sub, (await t.services.store.findUserByUsername(user.username))?.id, 'its uuid');
      const [who] = await postgrestRequest<{ role: string }>(
        superPool,
        { ...rest, claimsStyle: 'json' },
        res.json().access_token,
        'SELECT current_user AS role',
      );
      assert.equal(
        who!.role,
        user.username.toLowerCase(),
        'PostgREST runs the request as the user’s own role',
      );
    }
    // The login upgraded the bcrypt hash to restauth's algorithm (configured), and the password still works.
    const { rows } =
      await superPool.query(`SELECT u.encrypted_password AS password FROM auth.users u JOIN restauth.accounts a ON a.uid = u.id
       ORDER BY a.id LIMIT 1`);
    assert.match(rows[0].password, /^\$argon2id\$/);
    const again = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh_token',
      payload: { username: oldUsers[0]!.username, password: oldUsers[0]!.password },
    });
    assert.equal(again.statusCode, 200, again.body);
  });

  it('old postgrest-auth tokens follow the token-count rule, with the legacy claim settings', async () => {
    const bob = oldUsers[1]!;
    const current = await postgrestAuthToken(bob.username.toLowerCase(), bob.tokenCount);
    await postgrestRequest(superPool, rest, current, 'SELECT 1');
    const stale = await postgrestAuthToken(bob.username.toLowerCase(), bob.tokenCount - 1);
    await assert.rejects(postgrestRequest(superPool, rest, stale, 'SELECT 1'), { status: 403 });
    // A password change bumps the count: the old current token dies too.
    const changed = await t.app.inject({
      method: 'POST',
      url: '/auth/change_password',
      payload: {
        username: bob.username,
        current_password: bob.password,
        new_password: 'a new passphrase',
        new_password_confirm: 'a new passphrase',
      },
    });
    assert.equal(changed.statusCode, 200, changed.body);
    await assert.rejects(postgrestRequest(superPool, rest, current, 'SELECT 1'), { status: 403 });
  });

  it("keeps the application's integer foreign keys working: new users get an integer id, deleting one deletes its rows", async () => {
    // The users table became restauth.accounts (migration 14); the foreign key followed it.
    const { rows: target } = await superPool.query<{ target: string }>(
      `SELECT confrelid::regclass::text AS target FROM pg_constraint WHERE conname = 'scores_user_id_fkey'`,
    );
    assert.deepEqual(target, [{ target: 'restauth.accounts' }]);
    const { rows: kept } = await superPool.query(
      'SELECT user_id, points FROM public.scores ORDER BY user_id',
    );
    assert.deepEqual(kept, [
      { user_id: 1, points: 10 },
      { user_id: 2, points: 10 },
    ]);
    const name = `Dave${suffix}`;
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/users',
      payload: { username: name, password: 'a real passphrase' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const { rows } = await superPool.query<{ id: number }>(
      'SELECT id FROM restauth.accounts WHERE username_lowercase = $1',
      [name.toLowerCase()],
    );
    await superPool.query('INSERT INTO public.scores (user_id, points) VALUES ($1, 5)', [rows[0]!.id]);
    const dave = await t.services.store.findUserByUsername(name);
    assert.equal(await t.services.store.deleteUser(dave!.id), true);
    const { rows: left } = await superPool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM public.scores WHERE user_id = $1',
      [rows[0]!.id],
    );
    assert.deepEqual(left, [{ n: 0 }]);
  });

  it('new users get their own role, as postgrest-auth gave them', async () => {
    const name = `Carol${suffix}`;
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/users',
      payload: { username: name, password: 'a real passphrase' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const { rows } = await superPool.query(
      `SELECT pg_has_role($1, 'normal_user', 'MEMBER') AS member FROM pg_roles WHERE rolname = $1`,
      [name.toLowerCase()],
    );
    assert.deepEqual(rows, [{ member: true }]);
  });
});
