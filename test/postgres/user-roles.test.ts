import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { poolAs, postgrestRequest, type PostgrestOptions } from '../support/postgrest.js';
import { dropDatabase, testPostgres, testStoreConfig } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { PRE_REQUEST_REFUSED } from '../support/pre-request-verdict.js';

/**
 * Role per user (roles.perUser) attacked over HTTP and SQL: restauth hands
 * out only a role it created for that very user, refuses a name that is not
 * a valid, free role name with a 400, drops a deleted user's role, and the
 * pre-request refuses a token whose role claim is not its user's.
 */
const SECRET = 'user-roles-test-secret-0123456789abcdef';
/** Roles are cluster-wide: every name this file makes is its own. */
const suffix = randomBytes(3).toString('hex');
const name = (base: string) => `${base}${suffix}`;

describe('database roles in role-per-user mode (PostgreSQL store)', () => {
  let serverUrl: string;
  let url: string;
  let t: TestApp;
  let admin: pg.Pool;
  let asAuthenticator: pg.Pool;
  const authenticator = name('authenticator_');
  const rest: PostgrestOptions = {
    secret: SECRET,
    anonRole: 'web_anon',
    preRequest: 'auth.check_token_count',
  };

  before(async () => {
    const server = await testPostgres();
    serverUrl = server.url;
    url = await server.createDatabase();
    admin = new pg.Pool({ connectionString: url, max: 2 });
    await admin.query(`CREATE ROLE ${authenticator} LOGIN NOINHERIT`);
    t = await createTestApp({
      format: 'restauth',
      config: {
        store: testStoreConfig(url),
        roles: { anonymous: 'web_anon', authenticated: 'normal_user', perUser: true, authenticator },
        passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      },
      env: { RESTAUTH_JWT_SECRET: SECRET },
    });
    await admin.query(`GRANT web_anon, normal_user TO ${authenticator}`);
    await admin.query(`
      CREATE TABLE public.payroll (employee text, salary integer);
      INSERT INTO public.payroll VALUES ('ceo', 1000000);`);
    asAuthenticator = poolAs(url, authenticator, 2);
  });
  after(async () => {
    await asAuthenticator.end();
    await t.close();
    await admin.end();
    await dropDatabase(serverUrl, url);
  });

  const register = async (username: string) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username, password: 'a passphrase' },
    });
    return { status: res.statusCode, body: res.body, json: () => res.json() as Record<string, string> };
  };
  const roleOid = async (role: string) =>
    (await admin.query<{ oid: number }>('SELECT oid FROM pg_roles WHERE rolname = $1', [role])).rows[0]?.oid;

  it('a sign-up named after a role a DBA made (with extra grants) is a 400 and gets nothing', async () => {
    const role = name('reporting');
    // Made as a DBA would: a plain NOLOGIN member of the authenticated role, plus a grant of its own.
    await admin.query(`CREATE ROLE ${role} NOLOGIN IN ROLE normal_user, web_anon`);
    await admin.query(`GRANT SELECT ON public.payroll TO ${role}`);
    const res = await register(role);
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, /a role of that name already exists/);
    assert.equal(await t.services.store.findUserByUsername(role), null, 'no account was created');
    const { rows } = await admin.query(`SELECT pg_has_role($1, $2, 'MEMBER') AS member`, [
      authenticator,
      role,
    ]);
    assert.deepEqual(rows, [{ member: false }], 'PostgREST was not allowed to switch to it');
  });

  it('refuses names PostgreSQL would truncate into one role, or refuse, with 400 (not 500)', async () => {
    const long = 'x'.repeat(60) + suffix; // 66 bytes: the first 63 are all PostgreSQL keeps
    const collides = long.slice(0, 63) + 'zzz';
    for (const username of [long, collides, `${'é'.repeat(31)}ab`, `pg_${suffix}`, 'public', 'none']) {
      const res = await register(username);
      assert.equal(res.status, 400, `${username}: ${res.body}`);
      assert.match(res.body, /cannot name a database role/);
      assert.equal(await t.services.store.findUserByUsername(username), null);
    }
    // 63 bytes is still one role of its own.
    const longest = 'y'.repeat(57) + suffix;
    const ok = await register(longest);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(decodeJwt(ok.json().access_token!).role, longest);
    assert.ok(await roleOid(longest));
  });

  it('a user gets a role of its own; deleting the user drops it, and the name’s next sign-up gets a new one', async () => {
    const username = name('dora');
    const first = await register(username);
    assert.equal(first.status, 200, first.body);
    const firstToken = first.json().access_token!;
    const [who] = await postgrestRequest<{ role: string }>(
      asAuthenticator,
      rest,
      firstToken,
      'SELECT current_user AS role',
    );
    assert.equal(who!.role, username);
    const oid = await roleOid(username);
    const user = await t.services.store.findUserByUsername(username);
    await t.services.admin.deleteUser(LOCAL_CALL, user!.id);
    assert.equal(await roleOid(username), undefined, 'the role was dropped with its user');

    const second = await register(username);
    assert.equal(second.status, 200, second.body);
    assert.notEqual(await roleOid(username), oid, 'a new role, not the deleted user’s');
    await assert.rejects(postgrestRequest(asAuthenticator, rest, firstToken, 'SELECT 1'), {
      status: 403,
      message: PRE_REQUEST_REFUSED,
    });
    await postgrestRequest(asAuthenticator, rest, second.json().access_token!, 'SELECT 1');
  });

  it('a deleted user’s role that holds grants is disabled, and its name never handed out again', async () => {
    const username = name('erin');
    const res = await register(username);
    assert.equal(res.status, 200, res.body);
    const token = res.json().access_token!;
    await admin.query(`GRANT SELECT ON public.payroll TO ${username}`);
    const [row] = await postgrestRequest<{ salary: number }>(
      asAuthenticator,
      rest,
      token,
      'SELECT salary FROM public.payroll',
    );
    assert.equal(row!.salary, 1000000);
    const user = await t.services.store.findUserByUsername(username);
    await t.services.admin.deleteUser(LOCAL_CALL, user!.id);
    assert.ok(await roleOid(username), 'a role holding privileges cannot be dropped');
    const { rows } = await admin.query(
      `SELECT count(*)::int AS members FROM pg_auth_members WHERE roleid = $1`,
      [await roleOid(username)],
    );
    assert.deepEqual(rows, [{ members: 0 }], 'nobody may switch to it any more');
    await assert.rejects(postgrestRequest(asAuthenticator, rest, token, 'SELECT 1'), { status: 403 });
    const again = await register(username);
    assert.equal(again.status, 400, again.body);
    assert.match(again.body, /a role of that name already exists/);
  });

  describe('the pre-request function', () => {
    const forge = (claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));

    it('refuses a token whose role claim is not its user’s role (or the authenticated role)', async () => {
      const mallory = name('mallory');
      const victim = name('victim');
      const res = await register(mallory);
      assert.equal(res.status, 200, res.body);
      assert.equal((await register(victim)).status, 200);
      const claims = decodeJwt(res.json().access_token!);
      for (const role of [victim, 'web_anon']) {
        await assert.rejects(
          postgrestRequest(asAuthenticator, rest, await forge({ ...claims, role }), 'SELECT 1'),
          { status: 403, message: PRE_REQUEST_REFUSED },
          role,
        );
      }
      // Its own role and the authenticated role pass.
      await postgrestRequest(asAuthenticator, rest, await forge(claims), 'SELECT 1');
      await postgrestRequest(
        asAuthenticator,
        rest,
        await forge({ ...claims, role: 'normal_user' }),
        'SELECT 1',
      );
    });

    it('refuses a restauth token that names no session, or a subject of no known shape', async () => {
      const username = name('nosession');
      const res = await register(username);
      const { session_id: _session, ...claims } = decodeJwt(res.json().access_token!);
      for (const style of ['json', 'legacy'] as const) {
        await assert.rejects(
          postgrestRequest(asAuthenticator, { ...rest, claimsStyle: style }, await forge(claims), 'SELECT 1'),
          { status: 403, message: PRE_REQUEST_REFUSED },
        );
      }
      await assert.rejects(
        postgrestRequest(asAuthenticator, rest, await forge({ ...claims, sub: username }), 'SELECT 1'),
        { status: 403, message: PRE_REQUEST_REFUSED },
      );
    });

    it('refuses a role-only token (postgrest-auth’s shape) for a role restauth created', async () => {
      const username = name('roleonly');
      const res = await register(username);
      assert.equal(res.status, 200, res.body);
      const token = await forge({ role: username, count: 0, jti: randomUUID() });
      await assert.rejects(postgrestRequest(asAuthenticator, rest, token, 'SELECT 1'), {
        status: 403,
        message: PRE_REQUEST_REFUSED,
      });
    });

    it('refuses a banned user’s token', async () => {
      const username = name('banned');
      const res = await register(username);
      const token = res.json().access_token!;
      await postgrestRequest(asAuthenticator, rest, token, 'SELECT 1');
      await admin.query(
        `UPDATE auth.users SET banned_until = now() + interval '1 hour'
         WHERE id = (SELECT uid FROM restauth.accounts WHERE username = $1)`,
        [username],
      );
      await assert.rejects(postgrestRequest(asAuthenticator, rest, token, 'SELECT 1'), {
        status: 403,
        message: PRE_REQUEST_REFUSED,
      });
      await admin.query(
        `UPDATE auth.users SET banned_until = now() - interval '1 second'
         WHERE id = (SELECT uid FROM restauth.accounts WHERE username = $1)`,
        [username],
      );
      await postgrestRequest(asAuthenticator, rest, token, 'SELECT 1');
    });
  });
});
